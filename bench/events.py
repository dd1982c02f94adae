#!/usr/bin/env python3
"""Events and emails: commit → handled through each bus, and emails per second.

    python3 bench/events.py              # builds the release example first

Events (crates/emporium/examples/event_flow.rs, on PostgreSQL, a fresh
database per run): one per-shop consumer that keeps the deduplication
record, as the shop's do, behind the outbox relay, on the in-process bus,
RabbitMQ and Kafka, in one run. Two loads each:

- burst: BENCH_EVENTS (20,000) events committed as fast as one writer can,
  in transactions of 100; events handled per second from the first commit to
  the last handled;
- steady: BENCH_EVENT_RATE (500) events per second for BENCH_EVENT_SECONDS
  (10), committed 10 at a time; the commit → handled latency's p50 and p99;
- backlog: BENCH_BACKLOG (10,000) events committed before the relay starts
  (as after a crash); rows per second from its start to the last handled.

Emails: BENCH_EMAILS (2,000) order confirmations recorded in the delivery
log, then sent by the dispatcher to aiosmtpd on loopback (tests/support/
smtp_sink.py, which parses and writes each message), beside a sender that
does nothing (the queue's own cost).

EMPORIUM_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres),
BENCH_RABBITMQ_URL (amqp://guest:guest@127.0.0.1:5672/%2f) and BENCH_KAFKA_URL
("" skips a broker). Without BENCH_KAFKA_URL the script starts a tansu broker
of its own on a fresh SQLite file (tansu slows down as its file fills with
the tests' topics, so the shared one would not compare). BENCH_NO_BUILD=1
skips the build; BENCH_EVENT_FLOW=path runs another build of the example
(an older commit's, to compare).
"""
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, free_port, sh, with_database  # noqa: E402

PG = os.environ.get("EMPORIUM_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
BUSES = [("in-process", "inprocess"),
         ("RabbitMQ", os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")),
         ("Kafka (tansu)", os.environ.get("BENCH_KAFKA_URL", "own"))]
EVENTS = int(os.environ.get("BENCH_EVENTS", "20000"))
RATE = float(os.environ.get("BENCH_EVENT_RATE", "500"))
SECONDS = float(os.environ.get("BENCH_EVENT_SECONDS", "10"))
EMAILS = int(os.environ.get("BENCH_EMAILS", "2000"))
BACKLOG = int(os.environ.get("BENCH_BACKLOG", "10000"))
# BENCH_EVENT_FLOW=path runs another build of the example (an older commit, say).
EXAMPLE = os.environ.get("BENCH_EVENT_FLOW") or os.path.join(ROOT, "target", "release", "examples", "event_flow")


def fresh_database():
    name = "emporium_bench_" + uuid.uuid4().hex[:12]
    sh("psql", PG, "-qc", f"CREATE DATABASE {name}")
    return name


def run(*args):
    name = fresh_database()
    try:
        out = sh(EXAMPLE, args[0], args[1], with_database(PG, name), *map(str, args[2:]), timeout=600).stdout
        return json.loads(out.strip().splitlines()[-1])
    finally:
        subprocess.run(["psql", PG, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)


def smtp_sink():
    port = free_port()
    path = os.path.join(tempfile.mkdtemp(prefix="emporium-smtp-"), "received.jsonl")
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "crates/emporium/tests/support/smtp_sink.py"),
                             str(port), path], stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        sys.exit("the SMTP sink did not start (pip install aiosmtpd)")
    return proc, port, path


def own_tansu():
    port = free_port()
    work = tempfile.mkdtemp(prefix="emporium-tansu-")
    listener = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(["tansu", "broker", "--listener-url", listener, "--advertised-listener-url", listener,
                             "--storage-engine", "sqlite://tansu.db"], cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, f"kafka://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    sys.exit("tansu did not start (cargo install tansu --locked --features libsql)")


def main():
    if os.environ.get("BENCH_NO_BUILD") != "1":
        print("building the release example…", file=sys.stderr)
        sh("cargo", "build", "--release", "-p", "emporium", "--example", "event_flow", cwd=ROOT)
    buses = [(n, u) for n, u in BUSES if u]
    tansu = None
    if any(u == "own" for _, u in buses):
        tansu, url = own_tansu()
        buses = [(n, url if u == "own" else u) for n, u in buses]
    rows = []
    for name, url in buses:
        print(f"[{name}] burst of {EVENTS:,}…", file=sys.stderr)
        burst = run("events", url, EVENTS, 0)
        print(f"[{name}] {RATE:g}/s for {SECONDS:g} s…", file=sys.stderr)
        steady = run("events", url, int(RATE * SECONDS), RATE)
        print(f"[{name}] backlog of {BACKLOG:,}…", file=sys.stderr)
        backlog = run("events", url, BACKLOG, -1)
        rows.append((name, burst, steady, backlog))
    if tansu:
        tansu.terminate()
        tansu.wait()
    null = run("mail", "null", EMAILS)
    proc, port, path = smtp_sink()
    try:
        smtp = run("mail", f"smtp://127.0.0.1:{port}", EMAILS)
        with open(path) as f:
            received = sum(1 for _ in f)
    finally:
        proc.terminate()
        proc.wait()

    print(f"\nEvents on PostgreSQL {sh('psql', PG, '-Atc', 'SHOW server_version').stdout.strip()}, "
          f"{os.cpu_count()} cores, broker, database and process on one machine.\n")
    print(f"| bus | burst: events/s ({EVENTS:,}) | burst p50 / p99 | steady {RATE:g}/s: p50 / p99 / max | "
          f"backlog of {BACKLOG:,}: rows/s | handled |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, b, s, k in rows:
        print(f"| {name} | {b['events_per_s']:,.0f} | {b['p50_ms']:,.0f} / {b['p99_ms']:,.0f} ms | "
              f"{s['p50_ms']:.1f} / {s['p99_ms']:.1f} / {s['max_ms']:.1f} ms | {k['events_per_s']:,.0f} | "
              f"{b['handled'] + s['handled'] + k['handled']:,} |")
    print(f"\nEmails: {EMAILS:,} order confirmations (HTML and text) recorded, then sent.\n")
    print("| sender | emails/s | record → sent p50 / p99 | sent |")
    print("|---|---:|---:|---:|")
    for r in (null, smtp):
        label = "none (the queue alone)" if r["sender"] == "null" else "SMTP to aiosmtpd on loopback"
        print(f"| {label} | {r['emails_per_s']:,.0f} | {r['p50_ms']:,.0f} / {r['p99_ms']:,.0f} ms | {r['sent']:,} |")
    print(f"\naiosmtpd received {received:,} messages (sent: {smtp['sent']:,}).")
    shown = [f"{k}={shlex.quote(v)}" for k, v in sorted(os.environ.items()) if k.startswith("BENCH_")]
    print(f"\nCommand: `{' '.join(shown + ['python3', 'bench/events.py'])}`")


if __name__ == "__main__":
    main()
