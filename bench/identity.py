#!/usr/bin/env python3
"""Issue 2 benchmarks: auth + one read vs. a bare endpoint, login throughput,
idle memory and time to ready, on SQLite and (when reachable) PostgreSQL;
and what one access-token check costs (HS256 of before beside EdDSA).

    python3 bench/identity.py            # builds the release binary first
    BENCH_BIN=/tmp/old/emporium BENCH_NO_BUILD=1 python3 bench/identity.py   # another build, A/B

The load generator is wrk (Debian package `wrk`) on the same machine,
64 connections, 2 threads. Figures are printed as a Markdown table for
BENCHMARKS.md. Set EMPORIUM_BENCH_POSTGRES_URL to a server URL (default
postgres://postgres@127.0.0.1:5432/postgres) or to "" to skip PostgreSQL.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import BIN, DURATION, ROOT, build_release, http, rss_mib, sh, start, with_database, wrk, free_port  # noqa: E402

PASSWORD = "correct horse battery"


def bench_backend(name, database_url):
    data_dir = tempfile.mkdtemp(prefix="emporium-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMPORIUM_")}
    env.update({"EMPORIUM_LOG": "warn", "EMPORIUM_AUTH_RATE_LIMIT": "0"})
    dbname = None
    if database_url:
        dbname = "emporium_bench_" + uuid.uuid4().hex[:12]
        sh("psql", database_url, "-qc", f"CREATE DATABASE {dbname}")
        env["EMPORIUM_DATABASE_URL"] = with_database(database_url, dbname)
    port = free_port()
    try:
        # The first start creates and migrates the database; measure the second.
        proc, _ = start(env, data_dir, port)
        proc.terminate(); proc.wait()
        proc, ready_s = start(env, data_dir, port)
        time.sleep(1)
        idle_rss = rss_mib(proc.pid)
        base = f"http://127.0.0.1:{port}"
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        _, reg = http(base + "/api/v1/auth/register", {"email": email, "password": PASSWORD, "full_name": "Bench"})
        token = reg["access_token"]
        live = wrk(base + "/health/live")
        me = wrk(base + "/api/v1/users/me", ("-H", f"Authorization: Bearer {token}"))
        lua = os.path.join(data_dir, "login.lua")
        with open(lua, "w") as f:
            body = json.dumps({"email": email, "password": PASSWORD}).replace('"', '\\"')
            f.write(f'wrk.method = "POST"\nwrk.body = "{body}"\nwrk.headers["Content-Type"] = "application/json"\n')
        login = wrk(base + "/api/v1/auth/login", ("-s", lua))
        loaded_rss = rss_mib(proc.pid)
        proc.terminate(); proc.wait()
        # Again with the account cache off: every request reads the database.
        env["EMPORIUM_ACCOUNT_CACHE_TTL_MS"] = "0"
        proc, _ = start(env, data_dir, port)
        me_uncached = wrk(base + "/api/v1/users/me", ("-H", f"Authorization: Bearer {token}"))
        proc.terminate(); proc.wait()
        return {"name": name, "ready_ms": ready_s * 1000, "idle_rss": idle_rss, "loaded_rss": loaded_rss,
                "live": live, "me": me, "me_uncached": me_uncached, "login": login}
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if dbname:
            subprocess.run(["psql", database_url, "-qc", f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"])


def main():
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    build_release()
    hash_line = sh("cargo", "run", "--release", "-q", "-p", "identity", "--example", "hash_timing", cwd=ROOT).stdout.strip()
    tokens_table = sh("cargo", "run", "--release", "-q", "-p", "identity", "--example", "token_timing",
                      cwd=ROOT).stdout.strip()
    backends = [("SQLite", None)]
    pg = os.environ.get("EMPORIUM_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if pg:
        backends.append(("PostgreSQL", pg))
    results = [bench_backend(n, u) for n, u in backends]
    print(f"\nserver: {BIN}")
    print(f"\nwrk -t2 -c64 -d{DURATION} --latency, on {os.cpu_count()} cores, server and load generator on one machine\n")
    print("| backend | endpoint | req/s | p50 | p99 | vs /health/live |")
    print("|---|---|---:|---:|---:|---:|")
    for r in results:
        live_rps = r["live"][0]
        for label, key in (("GET /health/live", "live"),
                           ("GET /api/v1/users/me (auth + account, cached)", "me"),
                           ("GET /api/v1/users/me (auth + 1 database read)", "me_uncached"),
                           ("POST /api/v1/auth/login", "login")):
            rps, p50, p99 = r[key]
            print(f"| {r['name']} | {label} | {rps:,.0f} | {p50} | {p99} | {100 * rps / live_rps:.0f} % |")
    print()
    print("| backend | exec → /health/ready | idle RSS | RSS after load |")
    print("|---|---:|---:|---:|")
    for r in results:
        print(f"| {r['name']} | {r['ready_ms']:.0f} ms | {r['idle_rss']:.1f} MiB | {r['loaded_rss']:.1f} MiB |")
    print(f"\n{hash_line}")
    print(f"\nAccess token checks (cargo run --release -p identity --example token_timing):\n\n{tokens_table}")


if __name__ == "__main__":
    main()
