#!/usr/bin/env python3
"""Issue 22 benchmark: catalogue reads through the nginx gateway
(deploy/nginx/emporium.conf) with one catalog replica and with two, beside
the same reads sent straight to one catalog process, in one run; with each
process's share of the CPU (two cores cannot show a speed-up from a second
replica: the figure to read is where the CPU goes).

    python3 bench/gateway.py              # builds the release binary first
    BENCH_NO_BUILD=1 BENCH_ROUNDS=3 python3 bench/gateway.py

Needs wrk, curl, pgrep (procps), nginx (apt-get install nginx-light), PostgreSQL
(EMPORIUM_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres;
a fresh database per run) and RabbitMQ (EMPORIUM_BENCH_RABBITMQ_URL, default
amqp://guest:guest@127.0.0.1:5672/%2f).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import BIN, DURATION, ROOT, build_release, free_port, sh, start, with_database, wrk  # noqa: E402

PATH = "/api/v1/products?per_page=20"
SERVICES = ["identity", "catalog", "inventory", "orders", "payments", "notifications", "storefront"]
SHIPPED_PORTS = {s: 8101 + i for i, s in enumerate(SERVICES)}
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU time of `pid` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def gateway(workdir, name, upstreams, procs):
    """nginx with the shipped file, `upstreams` {service: [port, …]}, added to
    `procs` at once (stopped however the run ends); returns (proc, port)."""
    port = free_port()
    d = os.path.join(workdir, name)
    os.makedirs(d)
    with open(os.path.join(ROOT, "deploy", "nginx", "emporium.conf")) as f:
        conf = f.read()
    conf = conf.replace("listen 127.0.0.1:8088;", f"listen 127.0.0.1:{port};")
    conf = conf.replace("access_log /var/log/nginx/emporium.access.log emporium;", "access_log off;")
    # The benchmark is one client: lift the per-client rate limits.
    conf = conf.replace("rate=50r/s", "rate=1000000r/s").replace("burst=100", "burst=1000000")
    for service, shipped in SHIPPED_PORTS.items():
        servers = " ".join(f"server 127.0.0.1:{p};" for p in upstreams[service])
        conf = conf.replace(f"server 127.0.0.1:{shipped};", servers)
    with open(os.path.join(d, "emporium.conf"), "w") as f:
        f.write(conf)
    user = "user root;\n" if os.geteuid() == 0 else ""
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(f"{user}daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n"
                f"events {{ worker_connections 1024; }}\nhttp {{\n  client_body_temp_path {d}/b;\n"
                f"  proxy_temp_path {d}/p;\n  fastcgi_temp_path {d}/f;\n  uwsgi_temp_path {d}/u;\n"
                f"  scgi_temp_path {d}/s;\n  include {d}/emporium.conf;\n}}\n")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen([nginx, "-c", f"{d}/nginx.conf", "-p", d])
    procs.append(proc)
    for _ in range(200):
        try:
            sh("curl", "-fsS", "-o", "/dev/null", f"http://127.0.0.1:{port}/health/live")
            return proc, port
        except subprocess.CalledProcessError:
            time.sleep(0.05)
    sys.exit(f"nginx did not start: {d}/error.log")


def measure(url, pids):
    """wrk on `url`, and the CPU seconds each of `pids` ({name: [pid…]}) used meanwhile."""
    before = {n: sum(cpu_seconds(p) for p in ps) for n, ps in pids.items()}
    t0 = time.perf_counter()
    rps, p50, p99 = wrk(url)
    wall = time.perf_counter() - t0
    share = {n: (sum(cpu_seconds(p) for p in ps) - before[n]) / wall for n, ps in pids.items()}
    return rps, p50, p99, share


def main():
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    build_release()
    pg = os.environ.get("EMPORIUM_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    rabbit = os.environ.get("EMPORIUM_BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
    rounds = int(os.environ.get("BENCH_ROUNDS", "2"))
    dbname = "emporium_bench_" + uuid.uuid4().hex[:12]
    sh("psql", pg, "-qc", f"CREATE DATABASE {dbname}")
    workdir = tempfile.mkdtemp(prefix="emporium-bench-gateway-")
    procs = []
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMPORIUM_")}
        env.update({"EMPORIUM_LOG": "warn", "EMPORIUM_DATABASE_URL": with_database(pg, dbname),
                    "EMPORIUM_BUS_URL": rabbit, "EMPORIUM_BUS_PREFIX": "bench-" + uuid.uuid4().hex[:8]})
        print("seeding the demo catalogue…", file=sys.stderr)
        sh(BIN, "--data-dir", os.path.join(workdir, "seed"), "seed", "--demo", env=env)
        ports = {}

        def serve(name, services):
            port = free_port()
            e = dict(env, EMPORIUM_SERVICES=services, EMPORIUM_NODE_ID=name)
            if services != "identity":
                e["EMPORIUM_SERVICE_URL_IDENTITY"] = f"http://127.0.0.1:{ports['identity']}"
            proc, _ = start(e, os.path.join(workdir, name), port)
            procs.append(proc)
            ports[name] = port
            return proc

        serve("identity", "identity")
        cat1 = serve("catalog-1", "catalog")
        cat2 = serve("catalog-2", "catalog")
        # Everything else to identity: this benchmark reads the catalogue only.
        base = {s: [ports["identity"]] for s in SERVICES}
        gw1, gw1_port = gateway(workdir, "one", dict(base, catalog=[ports["catalog-1"]]), procs)
        gw2, gw2_port = gateway(workdir, "two", dict(base, catalog=[ports["catalog-1"], ports["catalog-2"]]), procs)
        pids = {
            "catalog-1": [cat1.pid], "catalog-2": [cat2.pid],
            "nginx": [gw1.pid, *children(gw1.pid), gw2.pid, *children(gw2.pid)],
        }
        runs = [("straight to catalog-1", f"http://127.0.0.1:{ports['catalog-1']}{PATH}"),
                ("gateway, one replica", f"http://127.0.0.1:{gw1_port}{PATH}"),
                ("gateway, two replicas", f"http://127.0.0.1:{gw2_port}{PATH}")]
        for _, url in runs:  # warm up: the index, the pools, nginx's keepalive connections
            sh("wrk", "-t2", "-c64", "-d2s", url)
        rows = []
        for r in range(rounds):
            for label, url in runs:
                rows.append((r + 1, label, *measure(url, pids)))
        print(f"\nGET {PATH}, wrk -t2 -c64 -d{DURATION}, {os.cpu_count()} cores; "
              f"wrk, nginx, the services and PostgreSQL on one machine; {BIN}\n")
        print("| round | route | req/s | p50 | p99 | CPU catalog-1 | CPU catalog-2 | CPU nginx |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|")
        for rnd, label, rps, p50, p99, share in rows:
            print(f"| {rnd} | {label} | {rps:,.0f} | {p50} | {p99} | {share['catalog-1']:.2f} | "
                  f"{share['catalog-2']:.2f} | {share['nginx']:.2f} |")
        print("\n(CPU: cores' worth used during the run, 1.00 = one core busy throughout)")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)
        subprocess.run(["psql", pg, "-qc", f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"])


if __name__ == "__main__":
    main()
