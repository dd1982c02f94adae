"""Shared helpers of the benchmark scripts: processes, HTTP, wrk, memory."""
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# BENCH_BIN runs another build of the server (say, a copy of the previous
# version kept for an A/B comparison) instead of target/release/emporium.
BIN = os.environ.get("BENCH_BIN") or os.path.join(ROOT, "target", "release", "emporium")
DURATION = os.environ.get("BENCH_DURATION", "10s")


def sh(*args, **kw):
    return subprocess.run(args, check=True, text=True, capture_output=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, body=None, token=None, timeout=5):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body else None)
    if body:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.loads(r.read() or b"null")


def wrk(url, extra=()):
    out = sh("wrk", "-t2", "-c64", "-d" + DURATION, "--timeout", "10s", "--latency", *extra, url).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"wrk saw {errors.group(1)} error responses on {url}:\n{out}")
    return rps, lat.get("50"), lat.get("99")


def start(env, data_dir, port, timeout=300):
    t0 = time.perf_counter()
    # BENCH_SERVER_LOG=path appends the server's log there (else it is dropped).
    log = open(os.environ["BENCH_SERVER_LOG"], "a") if os.environ.get("BENCH_SERVER_LOG") else subprocess.DEVNULL
    proc = subprocess.Popen([BIN, "--data-dir", data_dir, "serve", "--addr", f"127.0.0.1:{port}"],
                            env=env, stdout=log, stderr=log)
    while True:
        try:
            status, _ = http(f"http://127.0.0.1:{port}/health/ready")
            if status == 200:
                return proc, time.perf_counter() - t0
        except OSError:
            pass
        if proc.poll() is not None:
            sys.exit("serve exited during start-up")
        if time.perf_counter() - t0 > timeout:
            proc.kill()
            sys.exit("serve did not become ready")
        time.sleep(0.002)


def build_release():
    """`cargo build --release -p emporium`, unless BENCH_NO_BUILD is set."""
    if not os.environ.get("BENCH_NO_BUILD"):
        print("building the release binary…", file=sys.stderr)
        sh("cargo", "build", "--release", "-p", "emporium", cwd=ROOT)


def with_database(url, name):
    """`url` with its database name replaced by `name`."""
    scheme, rest = url.split("://", 1)
    host = rest.split("/", 1)[0].split("?", 1)[0]
    query = "?" + url.split("?", 1)[1] if "?" in url else ""
    return f"{scheme}://{host}/{name}{query}"


def rss_mib(pid, field="VmRSS"):
    """Resident memory now (`VmRSS`), or at its highest so far (`VmHWM`)."""
    with open(f"/proc/{pid}/status") as f:
        kib = int(re.search(field + r":\s+(\d+)", f.read()).group(1))
    return kib / 1024


