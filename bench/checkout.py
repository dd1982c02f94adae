#!/usr/bin/env python3
"""Checkout benchmarks: complete guest checkouts per second, and a flash sale,
on SQLite and PostgreSQL; pgbench TPC-B on the same PostgreSQL for scale.

    python3 bench/checkout.py            # builds the release binary first

For each backend: a fresh shop with the demo data (`seed --demo`: the demo
accounts and catalogue), then, through the admin API, 8 products stocked with
1,000,000 units each and a shipping method. One complete checkout is three
timed requests by a guest: add to cart (which opens the cart), checkout, and
payment with the test card. The load generator (by default the compiled
`crates/emporium/examples/checkout_load.rs` on one thread; BENCH_CLIENT=python
uses this script's http.client threads instead; one keep-alive connection
per buyer either way) runs BENCH_BUYERS (32) buyers in a
closed loop for BENCH_DURATION (10s) after BENCH_WARMUP (2s) on the same
machine as the server; it prints checkouts/s, p50/p99 of each step, errors by
status, and the CPU used by the client, the server and the rest (the
database) over the measured window. BENCH_CLIENT_PROCS spreads the buyers
over several processes if the client turns out to be the bottleneck.

On PostgreSQL it also runs `pgbench -i -s 10` and `pgbench -c 32 -j 2 -T
<duration> -M prepared` (TPC-B) in a scratch database on the same server, and
compares. Target there: checkouts/s ≥ 25 % of pgbench TPS, p99 ≤ 100 ms per
step.

Flash sale: one product with 200 units, 2,000 buyers (BENCH_FLASH_BUYERS),
each its own guest cart, run by 128 threads (BENCH_FLASH_WORKERS) released
together. Reports the time until the 200th payment, payments, oversells
(must be 0), 5xx (must be 0), clean refusals (409 `out_of_stock` at add to
cart or checkout) and the stock level afterwards.

Set EMPORIUM_BENCH_POSTGRES_URL to a server URL (default
postgres://postgres@127.0.0.1:5432/postgres) or to "" to skip PostgreSQL;
BENCH_NO_BUILD=1 skips `cargo build` and uses target/release/emporium as is;
BENCH_SKIP_SQLITE=1 runs PostgreSQL only; BENCH_DATABASE_POOL_SIZE sets the
server's EMPORIUM_DATABASE_POOL_SIZE.
BENCH_PRODUCTS (8) sets how many products the buyers spread over (more
products, fewer buyers waiting on the same stock row).
BENCH_BUSES=rabbitmq,kafka runs the PostgreSQL throughput again with the
events going through each broker (BENCH_RABBITMQ_URL, default
amqp://guest:guest@127.0.0.1:5672/%2f; BENCH_KAFKA_URL, default
kafka://127.0.0.1:9092), beside the in-process bus in the same run (no flash
sale for those), and compares (target: within 10 %). BENCH_BROKER_CPUS=1
pins the brokers' processes to CPU 1 and the shop (PostgreSQL, the server,
the load generator) to the others, in every run, the baseline included: a
stand-in for a broker on a machine of its own (the broker and the server
size their schedulers to every CPU when they start, so pinned they share
fewer). After each PostgreSQL run the script waits up to 30 s for the
outbox to be published and flags a run whose events did not reach its bus.
Every run also times the event work its load left behind: from the end of
the load until the outbox is published, the server is idle and the broker
is back to its CPU before the load (every consumer has handled what it was
sent), and reports checkouts/s
with that work done (every paid checkout ÷ the load's run + that tail)
beside the window's rate; the brokers are judged on both.
BENCH_BUSES_ONLY=1 runs only the brokers (no baseline, for profiling).
BENCH_SERVER_LOG=path keeps the server's log there, at
BENCH_SERVER_LOG_LEVEL (default warn; e.g. warn,lapin=trace).
"""
import glob
import http.client
import json
import math
import multiprocessing
import os
import queue
import random
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import BIN, DURATION, ROOT, free_port, sh, start, with_database  # noqa: E402

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"
BUYERS = int(os.environ.get("BENCH_BUYERS", "32"))
CLIENT_PROCS = max(1, int(os.environ.get("BENCH_CLIENT_PROCS", "1")))
PRODUCTS = int(os.environ.get("BENCH_PRODUCTS", "8"))
STOCK = 1_000_000
FLASH_BUYERS = int(os.environ.get("BENCH_FLASH_BUYERS", "2000"))
FLASH_UNITS = int(os.environ.get("BENCH_FLASH_UNITS", "200"))
FLASH_WORKERS = int(os.environ.get("BENCH_FLASH_WORKERS", "128"))
PGBENCH_SCALE = 10
TIMEOUT = 10  # seconds, every request
# The throughput client: "rust" (crates/emporium/examples/checkout_load.rs, the
# default: about a tenth of this script's CPU per checkout) or "python" (threads here).
CLIENT = os.environ.get("BENCH_CLIENT", "rust")
LOADGEN = os.path.join(ROOT, "target", "release", "examples", "checkout_load")
TARGET_RATIO = 0.25
TARGET_P99_MS = 100.0
ADMIN_EMAIL = "admin@example.com"  # the demo superadmin (crates/emporium/src/seed.rs)
ADMIN_PASSWORD = "emporium-demo"
CARD = "4242424242424242"  # the test provider's approved card
ADDRESS = {"full_name": "Bench Buyer", "line1": "1 Main St", "city": "Springfield",
           "postal_code": "12345", "country": "US"}
STEPS = ("add", "checkout", "pay")
STEP_LABELS = {"add": "add to cart", "checkout": "checkout", "pay": "payment"}


def seconds(text):
    """`10s`, `1m`, `500ms`, `30` (wrk's duration syntax) in seconds."""
    m = re.fullmatch(r"\s*([\d.]+)\s*(ms|s|m|h)?\s*", text)
    if not m:
        sys.exit(f"cannot read the duration {text!r}: say e.g. 10s or 1m")
    return float(m.group(1)) * {None: 1, "s": 1, "ms": 0.001, "m": 60, "h": 3600}[m.group(2)]


WARMUP = seconds(os.environ.get("BENCH_WARMUP", "2s"))


def pg_tool(name):
    """A PostgreSQL client program: on PATH, else the newest under /usr/lib/postgresql."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(re.search(r"/postgresql/(\d+)", p).group(1)))
    if not candidates:
        sys.exit(f"{name} is not installed (apt-get install postgresql-client)")
    return candidates[-1]


# --- HTTP ------------------------------------------------------------------------------------------


class Client:
    """One keep-alive connection. `call` answers (status, json or text); it
    raises OSError / http.client.HTTPException on a transport failure."""

    def __init__(self, port):
        self.port = port
        self.conn = None
        self.used = False

    def connect(self):
        self.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        self.conn.connect()
        self.used = False

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(self, method, path, body=None, headers=None):
        hdrs = {"accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["content-type"] = "application/json"
        if headers:
            hdrs.update(headers)
        for attempt in (1, 2):
            if self.conn is None:
                self.connect()
            reused = self.used
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                resp = self.conn.getresponse()
                raw = resp.read()
                self.used = True
                if resp.will_close:
                    self.close()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A keep-alive connection the server had closed: once more on a
                # new one (safe here: checkout carries an Idempotency-Key, and
                # confirming a paid payment again changes nothing).
                self.close()
                if attempt == 2 or not reused:
                    raise
            except BaseException:
                self.close()
                raise
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode("utf-8", "replace")[:300]
        return resp.status, payload, resp


def error_code(payload):
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return payload["error"].get("code") or ""
    return ""


def describe(payload):
    return json.dumps(payload)[:300] if not isinstance(payload, str) else payload[:300]


def admin(client, token, method, path, body=None, ok=(200, 201)):
    status, payload, _ = client.call(method, "/api/v1" + path, body, {"authorization": f"Bearer {token}"})
    if status not in ok:
        sys.exit(f"{method} /api/v1{path} answered {status}: {describe(payload)}")
    return status, payload


def login(client):
    status, payload, _ = client.call("POST", "/api/v1/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    if status != 200 or not isinstance(payload, dict) or "access_token" not in payload:
        sys.exit(f"admin login ({ADMIN_EMAIL}) answered {status}: {describe(payload)}")
    return payload["access_token"]


def create_product(client, token, title, sku, on_hand):
    body = {"title": title, "status": "active", "options": [],
            "variants": [{"sku": sku, "price": {"amount": 1500, "currency": "USD"}}]}
    _, product = admin(client, token, "POST", "/admin/products", body, ok=(201, 200))
    if not product.get("variants"):
        sys.exit(f"POST /api/v1/admin/products answered without variants: {describe(product)}")
    admin(client, token, "PUT", f"/admin/inventory/{sku}", {"on_hand": on_hand})


def ensure_shipping_method(client, token):
    body = {"code": "standard", "name": "Standard", "price": {"amount": 500, "currency": "USD"}, "free_above": 5000}
    status, payload, _ = client.call("POST", "/api/v1/admin/shipping-methods", body, {"authorization": f"Bearer {token}"})
    if status not in (200, 201, 409):
        print(f"warning: POST /api/v1/admin/shipping-methods answered {status}: {describe(payload)}; "
              "checking out with whatever shipping the shop has", file=sys.stderr)


def stock_level(client, token, sku):
    _, level = admin(client, token, "GET", f"/admin/inventory/{sku}", ok=(200,))
    return level


# --- One buyer ---------------------------------------------------------------------------------------


def buy(client, sku, email):
    """Add to cart → checkout → pay with the test card, as a new guest.

    Answers (trace, outcome, key, detail): trace lists (step, seconds, end
    time) of the requests made; outcome is "paid", "refused" (409
    out_of_stock at add or checkout: a clean no), or "error"; key names the
    refusal or error ("checkout 409 out_of_stock", "pay 500", "add
    TimeoutError"…), and detail is the first part of the answer."""
    trace = []

    def step(name, method, path, body, headers=None):
        t0 = time.monotonic()
        try:
            status, payload, resp = client.call(method, path, body, headers)
        except Exception as e:  # noqa: BLE001 — time-outs, resets, anything: one failed buyer
            trace.append((name, time.monotonic() - t0, time.monotonic()))
            return None, None, None, f"{name} {type(e).__name__}", str(e)
        t1 = time.monotonic()
        trace.append((name, t1 - t0, t1))
        return status, payload, resp, None, None

    # 1. Add to cart, without X-Cart-Token: the answer opens a guest cart.
    status, cart, resp, key, detail = step("add", "POST", "/api/v1/cart/items", {"sku": sku, "quantity": 1})
    if key:
        return trace, "error", key, detail
    if status == 409 and error_code(cart) == "out_of_stock":
        return trace, "refused", "add 409 out_of_stock", ""
    token = (cart.get("cart_token") if isinstance(cart, dict) else None) or resp.getheader("x-cart-token")
    if status not in (200, 201) or not token:
        return trace, "error", f"add {status} {error_code(cart)}".strip(), describe(cart)

    # 2. Checkout.
    request = {"email": email, "shipping_address": ADDRESS, "payment_provider": "test"}
    headers = {"x-cart-token": token, "idempotency-key": str(uuid.uuid4())}
    status, placed, _, key, detail = step("checkout", "POST", "/api/v1/checkout", request, headers)
    if key:
        return trace, "error", key, detail
    if status == 409 and error_code(placed) == "out_of_stock":
        return trace, "refused", "checkout 409 out_of_stock", ""
    payment = placed.get("payment") if isinstance(placed, dict) else None
    if status not in (200, 201) or not isinstance(payment, dict) or "id" not in payment:
        return trace, "error", f"checkout {status} {error_code(placed)}".strip(), describe(placed)

    # 3. Pay with the test card.
    status, paid, _, key, detail = step("pay", "POST", f"/api/v1/payments/{payment['id']}/confirm",
                                        {"card_number": CARD}, {"x-cart-token": token})
    if key:
        return trace, "error", key, detail
    if status != 200 or not isinstance(paid, dict) or paid.get("status") != "succeeded":
        state = paid.get("status") if isinstance(paid, dict) else None
        return trace, "error", f"pay {status} {error_code(paid) or state or ''}".strip(), describe(paid)
    return trace, "paid", None, None


def status_of(key):
    """The HTTP status in an outcome key, or None for a transport error."""
    m = re.match(r"\w+ (\d{3})\b", key)
    return int(m.group(1)) if m else None


# --- Throughput ----------------------------------------------------------------------------------------


def cpu_seconds_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def machine_busy_seconds():
    """CPU seconds spent not idle, all cores together."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_seconds_named(*names):
    """CPU seconds so far of every process whose command name is one of `names`."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        if name in names:
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


BROKERS = ("beam.smp", "tansu")


def pids_named(*names):
    """The pids of every process whose command name is one of `names`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    text = f.read()
            except OSError:
                continue
            if text[text.index("(") + 1:text.rindex(")")] in names:
                found.append(int(entry))
    return found


# Each thread's CPUs before the first pin, put back at the end.
ORIGINAL_AFFINITY = {}


def pin(pids, cpus, what):
    """Every thread of `pids` onto `cpus` (threads and children made later
    inherit it); stops the run if `what` has no process or cannot be pinned."""
    if not pids:
        sys.exit(f"BENCH_BROKER_CPUS: no {what} process to pin")
    for pid in pids:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue  # it has exited
        for tid in tids:
            try:
                ORIGINAL_AFFINITY.setdefault(tid, os.sched_getaffinity(tid))
                os.sched_setaffinity(tid, cpus)
            except ProcessLookupError:
                pass
            except OSError as e:
                sys.exit(f"BENCH_BROKER_CPUS: cannot pin {what} (pid {pid}): {e}")


def unpin():
    """Every thread pinned back onto the CPUs it had."""
    for tid, cpus in ORIGINAL_AFFINITY.items():
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:
            pass
    # Threads and children made since inherited the pin: give them this script's original CPUs.
    mine = ORIGINAL_AFFINITY.get(os.getpid(), ALL_CPUS)
    pin_quietly(pids_named("postgres", *BROKERS), mine)


def pin_quietly(pids, cpus):
    for pid in pids:
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                if int(tid) not in ORIGINAL_AFFINITY:
                    os.sched_setaffinity(int(tid), cpus)
        except OSError:
            pass


# BENCH_BROKER_CPUS=1 (a CPU list such as "1" or "2-3"): a stand-in for a
# broker on a machine of its own. The broker's processes get those CPUs and
# the shop (this script and what it starts, PostgreSQL) the others, in every
# run, the in-process baseline included; everything is put back afterwards.
def cpu_list(text):
    cpus = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        sys.exit(f"BENCH_BROKER_CPUS={text!r}: expected a CPU list such as 1 or 2-3")
    return cpus


BROKER_CPUS = cpu_list(os.environ["BENCH_BROKER_CPUS"]) if os.environ.get("BENCH_BROKER_CPUS") else None
ALL_CPUS = os.sched_getaffinity(0)
SHOP_CPUS = ALL_CPUS - BROKER_CPUS if BROKER_CPUS else ALL_CPUS


def pin_shop_and_broker():
    """Puts the shop and the broker on their CPUs (again: a broker may have been started since)."""
    if BROKER_CPUS:
        pin([os.getpid()], SHOP_CPUS, "this script")
        pin(pids_named("postgres"), SHOP_CPUS, "PostgreSQL")
        pin(pids_named(*BROKERS), BROKER_CPUS, "broker (beam.smp, tansu)")


def own_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def sleep_until(t):
    while True:
        left = t - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.5))


def load_proc(args):
    """`buyers` closed-loop buyers in threads of this process, from t_begin to t_end.

    Step latencies and checkouts count when the request ended inside
    [t_start, t_end]; everything before t_start is warm-up."""
    port, skus, buyers, first, t_begin, t_start, t_end = args
    results = []

    def worker(n):
        rnd = random.Random(n)
        client = Client(port)
        samples = {s: [] for s in STEPS}
        done = paid_total = 0
        errors = Counter()
        examples = {}
        try:
            client.connect()
        except OSError as e:
            errors[f"connect {type(e).__name__}"] += 1
        sleep_until(t_begin)
        i = 0
        while time.monotonic() < t_end:
            i += 1
            trace, outcome, key, detail = buy(client, rnd.choice(skus), f"buyer{n}-{i}@example.com")
            for name, lat, end in trace:
                if t_start <= end <= t_end:
                    samples[name].append(lat)
            if outcome == "paid":
                paid_total += 1
                if t_start <= trace[-1][2] <= t_end:
                    done += 1
            else:
                errors[key] += 1
                examples.setdefault(key, detail)
                if outcome == "error" and status_of(key) is None:
                    time.sleep(0.05)  # transport failure: do not spin
        client.close()
        results.append((samples, done, paid_total, errors, examples))

    threads = [threading.Thread(target=worker, args=(first + k,), daemon=True) for k in range(buyers)]
    for t in threads:
        t.start()
    sleep_until(t_start)
    cpu0 = own_cpu_seconds()
    sleep_until(t_end)
    cpu1 = own_cpu_seconds()
    for t in threads:
        t.join()
    return results, cpu1 - cpu0


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = math.ceil(p / 100 * len(sorted_values)) - 1  # nearest rank
    return sorted_values[max(0, min(len(sorted_values) - 1, k))]


def throughput(port, skus, server_pid):
    if CLIENT == "rust":
        return throughput_compiled(port, skus, server_pid)
    duration = seconds(DURATION)
    shares = [BUYERS // CLIENT_PROCS + (1 if k < BUYERS % CLIENT_PROCS else 0) for k in range(CLIENT_PROCS)]
    firsts = [sum(shares[:k]) for k in range(CLIENT_PROCS)]
    pool = None
    if CLIENT_PROCS > 1:
        # Fork before any thread of ours exists.
        pool = multiprocessing.get_context("fork").Pool(CLIENT_PROCS)
    t_begin = time.monotonic() + (1.0 if pool else 0.2)
    t_start = t_begin + WARMUP
    t_end = t_start + duration
    jobs = [(port, skus, shares[k], firsts[k], t_begin, t_start, t_end) for k in range(CLIENT_PROCS)]
    machine = {}

    def sample():
        sleep_until(t_start)
        machine["server0"], machine["busy0"] = cpu_seconds_of(server_pid), machine_busy_seconds()
        sleep_until(t_end)
        machine["server1"], machine["busy1"] = cpu_seconds_of(server_pid), machine_busy_seconds()

    sampler = threading.Thread(target=sample, daemon=True)
    print(f"  {BUYERS} buyers, {WARMUP:g} s warm-up + {duration:g} s…", file=sys.stderr)
    if pool:
        pending = pool.map_async(load_proc, jobs)
        sampler.start()
        parts = pending.get()
        pool.close()
        pool.join()
    else:
        sampler.start()
        parts = [load_proc(jobs[0])]
    end = reading(server_pid)
    load_end = end[0]
    sampler.join()

    samples = {s: [] for s in STEPS}
    done = paid_total = 0
    errors, examples = Counter(), {}
    client_cpu = 0.0
    for results, cpu in parts:
        client_cpu += cpu
        for s, d, p, e, x in results:
            for name in STEPS:
                samples[name].extend(s[name])
            done += d
            paid_total += p
            errors.update(e)
            for k, v in x.items():
                examples.setdefault(k, v)
    result = {"rate": done / duration, "checkouts": done, "paid_total": paid_total,
              "errors": errors, "examples": examples, "load_end": end,
              "wall": load_end - t_begin}
    for name in STEPS:
        values = sorted(samples[name])
        result[name] = (percentile(values, 50) * 1000, percentile(values, 99) * 1000, len(values))
    server_cpu = machine["server1"] - machine["server0"]
    busy = machine["busy1"] - machine["busy0"]
    result["cpu"] = {"client": 100 * client_cpu / duration, "server": 100 * server_cpu / duration,
                     "other": 100 * max(0.0, busy - client_cpu - server_cpu) / duration,
                     "capacity": 100 * (os.cpu_count() or 1)}
    return result


def throughput_compiled(port, skus, server_pid):
    """`throughput` with the compiled load generator (same buyers, steps and window)."""
    duration = seconds(DURATION)
    print(f"  {BUYERS} buyers (compiled client), {WARMUP:g} s warm-up + {duration:g} s…", file=sys.stderr)
    t0, broker0, pg0 = time.monotonic(), cpu_seconds_named(*BROKERS), cpu_seconds_named("postgres")
    out = sh(LOADGEN, str(port), ",".join(skus), str(BUYERS), str(WARMUP), str(duration), str(server_pid)).stdout
    end = reading(server_pid)
    load_end = end[0]
    wall = load_end - t0
    data = json.loads(out)
    result = {"rate": data["done"] / duration, "checkouts": data["done"], "paid_total": data["paid_total"],
              "errors": Counter(data["errors"]), "examples": data["examples"], "load_end": end, "wall": wall}
    for name in STEPS:
        values = sorted(v / 1000 for v in data["samples"].get(name, []))
        result[name] = (percentile(values, 50) * 1000, percentile(values, 99) * 1000, len(values))
    cpu = data["cpu"]
    result["cpu"] = {"client": 100 * cpu["client"] / duration, "server": 100 * cpu["server"] / duration,
                     "other": 100 * max(0.0, cpu["busy"] - cpu["client"] - cpu["server"]) / duration,
                     "capacity": 100 * (os.cpu_count() or 1),
                     # Over the whole run (warm-up included), by process name.
                     "broker": 100 * (cpu_seconds_named(*BROKERS) - broker0) / wall,
                     "postgres": 100 * (cpu_seconds_named("postgres") - pg0) / wall}
    return result


# --- Flash sale ----------------------------------------------------------------------------------------


def flash_sale(port, run_id):
    setup = Client(port)
    token = login(setup)
    sku = f"FLASH-{run_id}"
    create_product(setup, token, f"Flash tee {run_id}", sku, FLASH_UNITS)
    jobs = queue.SimpleQueue()
    for i in range(FLASH_BUYERS):
        jobs.put(i)
    workers = min(FLASH_WORKERS, FLASH_BUYERS)
    barrier = threading.Barrier(workers + 1)
    results = []

    def worker():
        client = Client(port)
        samples = {s: [] for s in STEPS}
        paid_at, outcomes, examples = [], Counter(), {}
        try:
            client.connect()
        except OSError as e:
            outcomes[("error", f"connect {type(e).__name__}")] += 1
        barrier.wait()
        while True:
            try:
                i = jobs.get(block=False)
            except queue.Empty:
                break
            trace, outcome, key, detail = buy(client, sku, f"flash{i}-{run_id}@example.com")
            for name, lat, _ in trace:
                samples[name].append(lat)
            if outcome == "paid":
                paid_at.append(trace[-1][2])
            else:
                outcomes[(outcome, key)] += 1
                examples.setdefault(key, detail)
        client.close()
        results.append((samples, paid_at, outcomes, examples))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    print(f"  flash sale: {FLASH_BUYERS:,} buyers for {FLASH_UNITS} units, {workers} threads…", file=sys.stderr)
    barrier.wait()
    t0 = time.monotonic()
    for t in threads:
        t.join()
    t_all = time.monotonic() - t0

    samples = {s: [] for s in STEPS}
    paid_at, outcomes, examples = [], Counter(), {}
    for s, p, o, x in results:
        for name in STEPS:
            samples[name].extend(s[name])
        paid_at.extend(p)
        outcomes.update(o)
        for k, v in x.items():
            examples.setdefault(k, v)
    paid_at.sort()
    paid = len(paid_at)
    token = login(setup)
    level = stock_level(setup, token, sku)
    setup.close()
    errors = Counter({k: n for (kind, k), n in outcomes.items() if kind != "refused"})
    refused = Counter({k: n for (kind, k), n in outcomes.items() if kind == "refused"})
    five_xx = sum(n for k, n in errors.items() if (status_of(k) or 0) >= 500)
    transport = sum(n for k, n in errors.items() if status_of(k) is None)
    on_hand, reserved = level.get("on_hand"), level.get("reserved")
    sold = FLASH_UNITS - on_hand if isinstance(on_hand, int) else None
    oversold = max(paid - FLASH_UNITS, -on_hand if isinstance(on_hand, int) else 0, 0)
    result = {"paid": paid, "oversold": oversold, "5xx": five_xx, "transport": transport,
              "other": sum(errors.values()) - five_xx - transport, "errors": errors, "examples": examples,
              "refused_add": refused.get("add 409 out_of_stock", 0),
              "refused_checkout": refused.get("checkout 409 out_of_stock", 0),
              "sold_out_s": paid_at[FLASH_UNITS - 1] - t0 if paid >= FLASH_UNITS else None,
              "all_s": t_all,
              "on_hand": on_hand, "reserved": reserved, "available": level.get("available"), "sold": sold,
              "stock_ok": sold == paid and isinstance(reserved, int) and reserved >= 0 and on_hand >= 0}
    for name in STEPS:
        values = sorted(samples[name])
        result[name] = (percentile(values, 50) * 1000, percentile(values, 99) * 1000, len(values))
    return result


# --- pgbench -----------------------------------------------------------------------------------------


def pgbench(url):
    psql, bench = pg_tool("psql"), pg_tool("pgbench")
    duration = max(1, round(seconds(DURATION)))
    dbname = "emporium_pgbench_" + uuid.uuid4().hex[:12]
    print(f"[pgbench] -i -s {PGBENCH_SCALE}, then -c {BUYERS} -j 2 -T {duration} -M prepared…", file=sys.stderr)
    sh(psql, url, "-qc", f"CREATE DATABASE {dbname}")
    try:
        target = with_database(url, dbname)
        sh(bench, "-i", "-q", "-s", str(PGBENCH_SCALE), target)
        out = sh(bench, "-c", str(BUYERS), "-j", "2", "-T", str(duration), "-M", "prepared", target).stdout
        m = (re.search(r"tps = ([\d.]+) \((?:without initial connection time|excluding connections establishing)\)", out)
             or re.search(r"tps = ([\d.]+)", out))
        if not m:
            sys.exit(f"cannot find the TPS in pgbench's output:\n{out}")
        version = sh(psql, url, "-tAc", "SHOW server_version").stdout.strip()
        return float(m.group(1)), version
    finally:
        subprocess.run([psql, url, "-qc", f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"])


# --- One backend -----------------------------------------------------------------------------------------


BUS_URLS = {"rabbitmq": os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            "kafka": os.environ.get("BENCH_KAFKA_URL", "kafka://127.0.0.1:9092")}
BUS_NAMES = {"rabbitmq": "RabbitMQ", "kafka": "Kafka"}


def outbox_drain(url, timeout=30.0):
    """Waits for the outbox to be published: (rows still pending, seconds waited)."""
    t0 = time.monotonic()
    while True:
        pending = outbox_pending(url)
        waited = time.monotonic() - t0
        if pending == 0 or waited > timeout:
            return pending, waited
        time.sleep(0.25)


def thread_cpu_ns(pids):
    """CPU time so far of each thread of `pids`, in ns, by thread id
    (schedstat: finer than the 10 ms of /proc/pid/stat)."""
    times = {}
    for pid in pids:
        for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
            try:
                with open(path) as f:
                    times[path] = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue  # a thread that ended meanwhile
    return times


def cpu_between(before, after):
    """ns of CPU between two `thread_cpu_ns` readings: threads in both, and
    new ones (a thread that ended between them is not counted as negative)."""
    return sum(t - before.get(k, 0) for k, t in after.items())


QUIET_SERVER = 0.05  # of one core: the server's idle polling (relay, consumers) stays well below
# Above the broker's CPU before the load: an idle broker still answers its
# consumers' polls (tansu spends about a third of a core on the Kafka
# consumers' 100 ms fetches, 60-98 % at 20 ms), and RabbitMQ's schedulers
# spin a little after work.
QUIET_BROKER = 0.15
QUIET_STEP = 0.1
QUIET_STEPS = 3  # in a row: one lull is not the end of the work


def broker_share(seconds=0.5, readings=4):
    """The brokers' CPU, as a share of one core: the least of `readings`
    readings of `seconds` each (a reading caught mid-work is not idle)."""
    brokers = pids_named(*BROKERS)
    shares = []
    for _ in range(readings):
        t0, c0 = time.monotonic(), thread_cpu_ns(brokers)
        time.sleep(seconds)
        shares.append(cpu_between(c0, thread_cpu_ns(brokers)) / ((time.monotonic() - t0) * 1e9))
    return min(shares)


def reading(server_pid, brokers=None):
    """(now, the server's and the brokers' CPU by thread, the brokers' pids):
    where `settle` starts counting."""
    brokers = pids_named(*BROKERS) if brokers is None else brokers
    return time.monotonic(), thread_cpu_ns([server_pid]), thread_cpu_ns(brokers), brokers


def settle(server_pid, database_url, broker_idle, since=None, timeout=120.0):
    """Seconds from `since` (a `reading` at the end of the load; now if
    not given) until the work the load left is done: the outbox published
    (a PostgreSQL run), then the server idle and the broker back within QUIET_BROKER of
    `broker_idle` (its share before the load) for QUIET_STEPS steps in a
    row, so every consumer has handled what it was sent; the first quiet
    step's start is when it ended. None on timeout. The in-process bus
    handles events as the relay publishes them, a broker's consumers after
    it; either may still be behind when the load stops, and this is how
    far."""
    last = since if since is not None else reading(server_pid)
    t0, brokers = last[0], last[3]
    quiet_since, quiet_steps = None, 0
    while time.monotonic() - t0 < timeout:
        time.sleep(QUIET_STEP)
        now = reading(server_pid, brokers)
        span = (now[0] - last[0]) * 1e9
        # Quiet CPU while the outbox still holds events is not the end.
        quiet = (cpu_between(last[1], now[1]) / span < QUIET_SERVER
                 and cpu_between(last[2], now[2]) / span < broker_idle + QUIET_BROKER
                 and (database_url is None or outbox_pending(database_url) == 0))
        if quiet:
            quiet_since = last[0] if quiet_steps == 0 else quiet_since
            quiet_steps += 1
        else:
            quiet_steps = 0
        if quiet_steps >= QUIET_STEPS:
            return quiet_since - t0  # the work ended before the first quiet step began
        last = now
    return None


def outbox_pending(url):
    # Not the dead letters (20 failed deliveries, crates/store-sql/shared/outbox.rs), which the relay leaves.
    out = sh(pg_tool("psql"), url, "-Atc",
             "SELECT count(*) FROM outbox WHERE published_at IS NULL AND attempts < 20").stdout
    return int(out.strip() or 0)


def bench_backend(name, database_url, bus_url=None, flash=True):
    pin_shop_and_broker()
    data_dir = tempfile.mkdtemp(prefix="emporium-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMPORIUM_")}
    env.update({"EMPORIUM_LOG": os.environ.get("BENCH_SERVER_LOG_LEVEL", "warn"), "EMPORIUM_AUTH_RATE_LIMIT": "0"})
    if bus_url:
        env["EMPORIUM_BUS_URL"] = bus_url
        env["EMPORIUM_BUS_PREFIX"] = "bench-" + uuid.uuid4().hex[:8]
    if os.environ.get("BENCH_DATABASE_POOL_SIZE"):
        env["EMPORIUM_DATABASE_POOL_SIZE"] = os.environ["BENCH_DATABASE_POOL_SIZE"]
    dbname = None
    if database_url:
        dbname = "emporium_bench_" + uuid.uuid4().hex[:12]
        sh(pg_tool("psql"), database_url, "-qc", f"CREATE DATABASE {dbname}")
        env["EMPORIUM_DATABASE_URL"] = with_database(database_url, dbname)
    port = free_port()
    proc = None
    run_id = uuid.uuid4().hex[:8]
    try:
        print(f"[{name}] seeding the demo shop…", file=sys.stderr)
        t0 = time.perf_counter()
        seeded = subprocess.run([BIN, "--data-dir", data_dir, "seed", "--demo"], env=env, text=True, capture_output=True)
        if seeded.returncode != 0:
            sys.exit(f"`emporium seed --demo` failed:\n{seeded.stdout}{seeded.stderr}")
        print(f"[{name}] seeded in {time.perf_counter() - t0:.1f} s; starting the server…", file=sys.stderr)
        proc, _ = start(env, data_dir, port)
        setup = Client(port)
        token = login(setup)
        ensure_shipping_method(setup, token)
        skus = [f"BENCH-{run_id}-{k}" for k in range(PRODUCTS)]
        for k, sku in enumerate(skus):
            create_product(setup, token, f"Bench tee {run_id} {k}", sku, STOCK)

        # One checkout on its own first, so a broken step stops the run with its answer.
        trace, outcome, key, detail = buy(setup, skus[0], f"smoke-{run_id}@example.com")
        if outcome != "paid":
            sys.exit(f"[{name}] a single checkout failed at {key}: {detail}")
        setup.close()

        # Every run starts from a shop that has done the work its set-up
        # left (the demo's events), and the broker's idle CPU is read then.
        settle(proc.pid, env.get("EMPORIUM_DATABASE_URL"), float("inf"))
        broker_idle = broker_share()
        print(f"[{name}] throughput…", file=sys.stderr)
        result = throughput(port, skus, proc.pid)
        result["name"] = name
        result["broker_idle"] = broker_idle
        result["tail_s"] = settle(proc.pid, env.get("EMPORIUM_DATABASE_URL"), broker_idle, since=result["load_end"])
        if result["tail_s"] is not None:
            # Every paid checkout of the run (warm-up included) over the
            # time from the load's start until its event work was done.
            result["rate_done"] = result["paid_total"] / (result["wall"] + result["tail_s"])
        # Every paid checkout took one unit; none may be left reserved but by failed payments.
        setup = Client(port)
        token = login(setup)
        levels = [stock_level(setup, token, sku) for sku in skus]
        setup.close()
        result["stock_sold"] = sum(STOCK - lv["on_hand"] for lv in levels)
        result["stock_reserved"] = sum(lv["reserved"] for lv in levels)
        result["paid_total"] += 1  # the smoke checkout
        if database_url:
            # Every event must have reached the bus: a broker that took
            # nothing would make the run look free.
            result["pending"], result["drained_s"] = outbox_drain(env["EMPORIUM_DATABASE_URL"])

        if flash:
            print(f"[{name}] flash sale…", file=sys.stderr)
            result["flash"] = flash_sale(port, run_id)
        return result
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
        if dbname:
            subprocess.run([pg_tool("psql"), database_url, "-qc", f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"])


# --- Report ----------------------------------------------------------------------------------------------


def command_line():
    shown = []
    for k in sorted(os.environ):
        if k.startswith("BENCH_") or k == "EMPORIUM_BENCH_POSTGRES_URL":
            v = os.environ[k]
            if k == "EMPORIUM_BENCH_POSTGRES_URL":
                v = re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", v)  # no passwords in the report
            shown.append(f"{k}={shlex.quote(v)}")
    return " ".join(shown + ["python3", "bench/checkout.py"])


def ms(v):
    return "–" if v != v else f"{v:.1f} ms"  # NaN when a step has no samples


def yes(ok):
    return "**met**" if ok else "**not met**"


def report(results, pg):
    duration = seconds(DURATION)
    client = ("the compiled load generator (examples/checkout_load.rs, one thread)" if CLIENT == "rust" else
              f"this script's http.client in {CLIENT_PROCS} process{'es' if CLIENT_PROCS > 1 else ''}")
    print(f"\n{BUYERS} concurrent guest buyers (closed loop, keep-alive, {client}), "
          f"{WARMUP:g} s warm-up + {duration:g} s, "
          f"on {os.cpu_count()} cores; server, database and load generator on one machine"
          + (f"; the broker pinned to CPU {','.join(map(str, sorted(BROKER_CPUS)))}, everything else to CPU "
             f"{','.join(map(str, sorted(SHOP_CPUS)))} (a stand-in for a broker on its own machine), "
             "in every run" if BROKER_CPUS else "") + ".\n")
    print("| backend | checkouts/s | add to cart p50 / p99 | checkout p50 / p99 | payment p50 / p99 | errors | CPU: client / server / other |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        cells = [f"{ms(r[s][0])} / {ms(r[s][1])}" for s in STEPS]
        c = r["cpu"]
        print(f"| {r['name']} | {r['rate']:,.1f} | {' | '.join(cells)} | {sum(r['errors'].values())} | "
              f"{c['client']:.0f} / {c['server']:.0f} / {c['other']:.0f} % of {c['capacity']:.0f} % |")
    print("\nCPU over the measured window: this script, the `emporium` process, and the rest of the machine "
          "(PostgreSQL's processes on PostgreSQL; near 0 on SQLite unless something else was running).")
    if any(r["name"].startswith("PostgreSQL + ") for r in results):
        print("\nOf the rest, over the whole run (warm-up included), by process name:\n")
        print("| backend | PostgreSQL (`postgres`) | broker (`beam.smp`, `tansu`) |")
        print("|---|---:|---:|")
        for r in results:
            if "cpu" in r and r["name"].startswith("PostgreSQL"):
                print(f"| {r['name']} | {r['cpu']['postgres']:.0f} % | {r['cpu']['broker']:.0f} % |")
    if pg:
        tps, version = pg
        print(f"\n`pgbench -i -s {PGBENCH_SCALE}; pgbench -c {BUYERS} -j 2 -T {max(1, round(duration))} -M prepared` "
              f"(TPC-B) on the same PostgreSQL {version}: **{tps:,.0f} TPS**.")
        for r in results:
            if r["name"] != "PostgreSQL":
                continue
            ratio = r["rate"] / tps if tps else 0.0
            worst = max(r[s][1] for s in STEPS)
            print(f"\nPostgreSQL checkouts/s ÷ pgbench TPS = {r['rate']:,.1f} ÷ {tps:,.0f} = {100 * ratio:.1f} % "
                  f"(target ≥ {100 * TARGET_RATIO:.0f} %): {yes(ratio >= TARGET_RATIO)}; "
                  f"worst step p99 {ms(worst)} (target ≤ {TARGET_P99_MS:.0f} ms): {yes(worst <= TARGET_P99_MS)}.")

    print(f"\nFlash sale: {FLASH_BUYERS:,} guest buyers, {FLASH_UNITS} units, "
          f"{min(FLASH_WORKERS, FLASH_BUYERS)} client threads released together.\n")
    print("| backend | sold out after | paid | oversold | 5xx | other errors | refused (add / checkout) | "
          "all answered after | stock after (on hand / reserved) | p99 add / checkout / payment |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        if "flash" not in r:
            continue
        f = r["flash"]
        sold_out = f"{f['sold_out_s']:.2f} s" if f["sold_out_s"] is not None else f"not sold out ({f['paid']} paid)"
        p99 = " / ".join(ms(f[s][1]) for s in STEPS)
        print(f"| {r['name']} | {sold_out} | {f['paid']} | {f['oversold']} | {f['5xx']} | "
              f"{f['other'] + f['transport']} | {f['refused_add']:,} / {f['refused_checkout']:,} | {f['all_s']:.2f} s | "
              f"{f['on_hand']} / {f['reserved']} | {p99} |")
    for r in results:
        if "flash" not in r:
            continue
        f = r["flash"]
        print(f"\n{r['name']} flash sale: oversells {f['oversold']} (must be 0): {yes(f['oversold'] == 0)}; "
              f"5xx {f['5xx']} (must be 0): {yes(f['5xx'] == 0)}; stock after: on hand {f['on_hand']}, "
              f"reserved {f['reserved']}, available {f['available']}; units gone {f['sold']} vs payments {f['paid']}"
              f"{'' if f['stock_ok'] else ' — **stock does not match the payments**'}.")

    for r in results:
        consistent = r["stock_sold"] == r["paid_total"]
        print(f"\n{r['name']} throughput stock check: {r['paid_total']:,} payments, {r['stock_sold']:,} units gone, "
              f"{r['stock_reserved']:,} still reserved{'' if consistent else ' — **does not match**'}.")
        runs = [("throughput", r["errors"], r["examples"])]
        if "flash" in r:
            runs.append(("flash sale", r["flash"]["errors"], r["flash"]["examples"]))
        for title, errors, examples in runs:
            for key, n in errors.most_common():
                print(f"  {r['name']} {title} error: {key} × {n}: {examples.get(key, '')}")
    for r in results:
        if "pending" in r:
            print(f"\n{r['name']} outbox after the run: " + (
                f"every event published within {r['drained_s']:.1f} s." if r["pending"] == 0 else
                f"**{r['pending']:,} events still unpublished after {r['drained_s']:.0f} s: the bus had not "
                "taken them, so this row measures a shop whose events were left behind.**"))
    print("\nEvent work the load left: from the end of the load until the outbox was published and the "
          "server was idle and the broker back to its CPU before the load (every consumer had handled what it was sent). "
          "\"With it done\": every paid checkout of the run ÷ (the load's run, warm-up included, + that tail).\n")
    print("| backend | checkouts/s (window) | event work left | checkouts/s with it done | broker CPU idle, before the load |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        tail = "not idle within 120 s" if r.get("tail_s") is None else f"{r['tail_s']:.1f} s"
        done = f"{r['rate_done']:,.1f}" if "rate_done" in r else "–"
        print(f"| {r['name']} | {r['rate']:,.1f} | {tail} | {done} | {100 * r['broker_idle']:.0f} % |")
    base = next((r for r in results if r["name"] == "PostgreSQL"), None)
    for r in results:
        if base and r["name"].startswith("PostgreSQL + ") and (r.get("pending") or base.get("pending")):
            print(f"\n{r['name']}: not compared, some events did not reach their bus.")
        elif base and r["name"].startswith("PostgreSQL + "):
            change = 100 * (r["rate"] / base["rate"] - 1) if base["rate"] else float("nan")
            print(f"\n{r['name']}: {r['rate']:,.1f} checkouts/s vs {base['rate']:,.1f} in-process = {change:+.1f} % "
                  f"over the window (target: within 10 %): {yes(abs(change) <= 10 or change > 0)}.", end="")
            if "rate_done" in r and "rate_done" in base:
                done = 100 * (r["rate_done"] / base["rate_done"] - 1)
                print(f" With the event work done: {r['rate_done']:,.1f} vs {base['rate_done']:,.1f} = {done:+.1f} %: "
                      f"{yes(abs(done) <= 10 or done > 0)}.")
            else:
                print(" With the event work done: not measured (a run was not idle within 120 s).")
    print(f"\nCommand: `{command_line()}`")


def main():
    if os.environ.get("BENCH_NO_BUILD") != "1":
        print("building the release binary…", file=sys.stderr)
        sh("cargo", "build", "--release", "-p", "emporium", "--bin", "emporium", "--example", "checkout_load", cwd=ROOT)
    if not os.access(BIN, os.X_OK):
        sys.exit(f"{BIN} is missing: build it with `cargo build --release -p emporium`")
    if CLIENT == "rust" and not os.access(LOADGEN, os.X_OK):
        sys.exit(f"{LOADGEN} is missing: build it with `cargo build --release -p emporium --example checkout_load`")
    backends = [] if os.environ.get("BENCH_SKIP_SQLITE") == "1" else [("SQLite", None)]
    pg = os.environ.get("EMPORIUM_BENCH_POSTGRES_URL", DEFAULT_PG)
    if pg:
        backends.append(("PostgreSQL", pg))
    # BENCH_BUSES_ONLY=1: only the broker runs (for profiling; nothing to compare against).
    only_buses = os.environ.get("BENCH_BUSES_ONLY") == "1"
    if BROKER_CPUS:
        if not SHOP_CPUS or not BROKER_CPUS <= ALL_CPUS:
            sys.exit(f"BENCH_BROKER_CPUS must leave the shop a CPU of {sorted(ALL_CPUS)}")
        print(f"broker on CPUs {sorted(BROKER_CPUS)}, the shop on {sorted(SHOP_CPUS)}", file=sys.stderr)
    try:
        run_all(backends, pg, only_buses)
    finally:
        if BROKER_CPUS:
            unpin()


def run_all(backends, pg, only_buses):
    results = [] if only_buses else [bench_backend(n, u) for n, u in backends]
    if pg:
        for bus in [b.strip() for b in os.environ.get("BENCH_BUSES", "").split(",") if b.strip()]:
            results.append(bench_backend(f"PostgreSQL + {BUS_NAMES[bus]}", pg, BUS_URLS[bus], flash=False))
    # pgbench while no shop is running, so it has the machine to itself as the shop had.
    baseline = pgbench(pg) if pg and not only_buses else None
    report(results, baseline)


if __name__ == "__main__":
    main()
