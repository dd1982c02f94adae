#!/usr/bin/env python3
"""Issue 3 benchmarks: a 100,000-product catalogue on SQLite and PostgreSQL.

    python3 bench/catalog.py             # builds the release binary first

For each backend: seed 100,000 products with the CLI (timed), rebuild the
search index (timed), start `serve`, then load it with wrk (64 connections,
2 threads, same machine) on a listing page, a one-word search with facets
and a product page; each search twice, with the result cache on (the
default: repeated queries are answered from memory until the index changes)
and off (every request runs the query and counts the facets). Resident
memory is read from /proc. Set EMPORIUM_BENCH_POSTGRES_URL="" to skip
PostgreSQL; BENCH_PRODUCTS changes the catalogue size.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import BIN, DURATION, ROOT, free_port, http, rss_mib, sh, start, with_database, wrk  # noqa: E402

PRODUCTS = int(os.environ.get("BENCH_PRODUCTS", "100000"))
WORDS = ["hoodie", "mug", "boots", "lamp", "tent", "candle", "jeans", "bottle", "shirt", "sneakers",
         "zephyr", "summit", "harbor", "fleece", "leather", "cotton", "steel", "linen", "canvas", "copper"]


def timed(*args, env):
    t0 = time.perf_counter()
    out = subprocess.run(args, env=env, check=True, text=True, capture_output=True)
    return time.perf_counter() - t0, out.stdout


def rotating_script(path, base_paths):
    """A wrk script cycling through many different URLs (defeats the cache)."""
    with open(path, "w") as f:
        f.write("local paths = {\n")
        for p in base_paths:
            f.write(f'  "{p}",\n')
        f.write("}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n"
                "  return wrk.format(\"GET\", paths[i])\nend\n")


def bench_backend(name, database_url):
    data_dir = tempfile.mkdtemp(prefix="emporium-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMPORIUM_")}
    env.update({"EMPORIUM_LOG": "warn"})
    dbname = None
    if database_url:
        dbname = "emporium_bench_" + uuid.uuid4().hex[:12]
        sh("psql", database_url, "-qc", f"CREATE DATABASE {dbname}")
        env["EMPORIUM_DATABASE_URL"] = with_database(database_url, dbname)
    port = free_port()
    result = {"name": name}
    try:
        print(f"[{name}] seeding {PRODUCTS:,} products…", file=sys.stderr)
        _, out = timed(BIN, "--data-dir", data_dir, "seed", "--products", str(PRODUCTS), env=env)
        result["seed_s"] = float(re.search(r"seeded in ([\d.]+) s", out).group(1))
        result["seed_index_s"] = float(re.search(r"rebuilt: \d+ products in ([\d.]+) s", out).group(1))
        _, out = timed(BIN, "--data-dir", data_dir, "search", "reindex", env=env)
        result["reindex_s"] = float(re.search(r"rebuilt: (\d+) products in ([\d.]+) s", out).group(2))
        result["indexed"] = int(re.search(r"rebuilt: (\d+) products", out).group(1))

        proc, ready_s = start(env, data_dir, port)
        result["ready_ms"] = ready_s * 1000
        time.sleep(1)
        result["idle_rss"] = rss_mib(proc.pid)
        base = f"http://127.0.0.1:{port}"
        _, listing = http(base + "/api/v1/products?per_page=24", timeout=30)
        slug = listing["items"][0]["slug"]
        result["total"] = listing["total"]
        result["listing"] = wrk(base + "/api/v1/products?per_page=24")
        result["search"] = wrk(base + "/api/v1/products?q=hoodie")
        result["typo"] = wrk(base + "/api/v1/products?q=zephir%20hodie")
        result["page"] = wrk(base + f"/api/v1/products/{slug}")
        # Many different queries, so the cache cannot answer them.
        paths = []
        for w in WORDS:
            for page in range(1, 6):
                paths.append("/api/v1/products?" + urllib.parse.urlencode({"q": w, "page": page}))
        for category in ("apparel", "tops", "hoodies", "outdoors", "footwear"):
            for size in ("S", "M", "L", "XL", "42"):
                for sort in ("newest", "price_asc", "rating", "price_desc"):
                    paths.append("/api/v1/products?" + urllib.parse.urlencode({"category": category, "size": size, "sort": sort}))
        lua = os.path.join(data_dir, "rotate.lua")
        rotating_script(lua, paths)
        result["loaded_rss"] = rss_mib(proc.pid)
        proc.terminate(); proc.wait()

        env["EMPORIUM_SEARCH_CACHE_ENTRIES"] = "0"
        proc, _ = start(env, data_dir, port)
        result["listing_nc"] = wrk(base + "/api/v1/products?per_page=24")
        result["search_nc"] = wrk(base + "/api/v1/products?q=hoodie")
        result["typo_nc"] = wrk(base + "/api/v1/products?q=zephir%20hodie")
        result["mixed_nc"] = wrk(base + "/", ("-s", lua))
        result["loaded_rss_nc"] = rss_mib(proc.pid)
        result["peak_rss_nc"] = rss_mib(proc.pid, "VmHWM")
        proc.terminate(); proc.wait()
        return result
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if dbname:
            subprocess.run(["psql", database_url, "-qc", f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"])


def main():
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    if os.environ.get("BENCH_BIN"):
        print(f"benchmarking {BIN}", file=sys.stderr)
    else:
        print("building the release binary…", file=sys.stderr)
        sh("cargo", "build", "--release", "-p", "emporium", cwd=ROOT)
    backends = [("SQLite", None)]
    pg = os.environ.get("EMPORIUM_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if pg:
        backends.append(("PostgreSQL", pg))
    results = [bench_backend(n, u) for n, u in backends]
    print(f"\n{PRODUCTS:,} products; wrk -t2 -c64 -d{DURATION} --latency on {os.cpu_count()} cores, "
          "server and load generator on one machine\n")
    print("| backend | request | result cache | req/s | p50 | p99 |")
    print("|---|---|---|---:|---:|---:|")
    rows = (("GET /products?per_page=24 (facets)", "listing", "on"),
            ("GET /products?q=hoodie (facets)", "search", "on"),
            ("GET /products?q=zephir hodie (typos, facets)", "typo", "on"),
            ("GET /products/{slug}", "page", "n/a"),
            ("GET /products?per_page=24 (facets)", "listing_nc", "off"),
            ("GET /products?q=hoodie (facets)", "search_nc", "off"),
            ("GET /products?q=zephir hodie (typos, facets)", "typo_nc", "off"),
            ("200 different searches and filter sets, rotating", "mixed_nc", "off"))
    for r in results:
        for label, key, cache in rows:
            rps, p50, p99 = r[key]
            print(f"| {r['name']} | {label} | {cache} | {rps:,.0f} | {p50} | {p99} |")
    print()
    print("| backend | seed (CLI) | reindex | exec → ready | idle RSS | RSS after load (cache on / off) | peak RSS (off) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['name']} | {r['seed_s']:.1f} s | {r['reindex_s']:.1f} s ({r['indexed']:,} active) | "
              f"{r['ready_ms']:.0f} ms | {r['idle_rss']:.0f} MiB | {r['loaded_rss']:.0f} / {r['loaded_rss_nc']:.0f} MiB | "
              f"{r['peak_rss_nc']:.0f} MiB |")


if __name__ == "__main__":
    main()
