#!/usr/bin/env python3
"""Storefront page benchmarks (issue 6): how long the server takes to render a
product page, and how heavy the key pages are.

    python3 bench/pages.py               # builds the release binary first

A fresh SQLite shop with the demo data (`seed --demo`: 1,000 products), then:

- product page time: BENCH_PAGE_REQUESTS (2,000) requests for `/p/{slug}`,
  cycling over 200 different products, one after another on one keep-alive
  connection from this script on the same machine. Each request is timed from
  sending to the last byte, so the figure is the server's time plus loopback
  (target: p99 under 10 ms).
- throughput: wrk (2 threads, 64 connections, BENCH_DURATION) on one product page.
- weight: the bytes of HTML of each key page plus its CSS and JavaScript,
  uncompressed and before images (target: under 100 KB).

BENCH_NO_BUILD=1 skips `cargo build` and uses target/release/emporium as is.
"""
import http.client as httpclient
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import BIN, ROOT, free_port, http, start, wrk  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_PAGE_REQUESTS", "2000"))


def main():
    if not os.environ.get("BENCH_NO_BUILD"):
        subprocess.run(["cargo", "build", "--release", "-p", "emporium", "--bin", "emporium"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as data_dir:
        env = dict(os.environ, EMPORIUM_LOG="warn")
        subprocess.run([BIN, "--data-dir", data_dir, "seed", "--demo"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = free_port()
        proc, _ = start(env, data_dir, port)
        try:
            base = f"http://127.0.0.1:{port}"
            slugs = []
            for page in (1, 2):
                _, body = http(f"{base}/api/v1/products?per_page=100&page={page}&facets=false")
                slugs += [item["slug"] for item in body["items"]]
            conn = httpclient.HTTPConnection("127.0.0.1", port)
            times = []
            for i in range(REQUESTS + 100):
                t0 = time.perf_counter()
                conn.request("GET", f"/p/{slugs[i % len(slugs)]}")
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    sys.exit(f"/p/{slugs[i % len(slugs)]} answered {response.status}")
                if i >= 100:  # the first pass warms the caches
                    times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            p50 = statistics.median(times)
            p99 = times[int(len(times) * 0.99) - 1]
            rps, w50, w99 = wrk(f"{base}/p/{slugs[0]}")

            assets = 0
            for asset in ("site.css", "site.js", "htmx.min.js"):
                conn.request("GET", f"/assets/{asset}")
                assets += len(conn.getresponse().read())
            weights = []
            for path in ("/", "/search?q=shirt", f"/p/{slugs[0]}", "/cart", "/login", "/stores"):
                conn.request("GET", path)
                html = conn.getresponse().read()
                weights.append((path, len(html), len(html) + assets))
        finally:
            proc.terminate()
            proc.wait()
    print(f"product page, {REQUESTS} sequential requests over {len(slugs)} products: "
          f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {times[-1]:.2f} ms")
    print(f"product page under wrk (64 connections): {rps:,.0f} req/s, p50 {w50}, p99 {w99}")
    print("| page | HTML | HTML + CSS + JS |")
    print("|---|---:|---:|")
    for path, html, total in weights:
        print(f"| `{re.sub(r'/p/.*', '/p/{slug}', path)}` | {html / 1024:.1f} KB | {total / 1024:.1f} KB |")


if __name__ == "__main__":
    main()
