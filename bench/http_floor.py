"""The HTTP stack's ceiling on this machine (context for bench/reports.py's pull target):
the same server (``powercredit serve``: gunicorn, 2 workers, on PostgreSQL) and the same
load tool (Locust, 16 users, a second process) against ``GET /healthz`` — the whole Flask
request cycle (request id, logging, session, rate-limit bookkeeping, security headers) and
one ``SELECT 1`` round trip, nothing else.  Prints requests/s, latency and the CPU each
process used per request; a report pull cannot go faster than this.

    .venv/bin/python bench/http_floor.py [--seconds 20] [--users 16]
"""

from __future__ import annotations

import argparse
import csv
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.ingest import fresh_database  # noqa: E402
from bench.reports import children, cpu_seconds_of, free_port, postgres_pids  # noqa: E402

SCHEMA = "bench_http_floor"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--users", type=int, default=16)
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pc-bench-floor-") as tmp_name:
        instance = Path(tmp_name)
        url = fresh_database("postgresql", instance, args.pg_url, SCHEMA)
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "PC_INSTANCE_PATH": str(instance), "PC_LOG_LEVEL": "WARNING"}
        with open(instance / "server.log", "w") as log:
            server = subprocess.Popen([str(Path(sys.executable).parent / "powercredit"), "serve", "--port", str(port),
                                       "--workers", "2"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                for _ in range(100):
                    try:
                        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                            break
                    except OSError:
                        time.sleep(0.1)
                time.sleep(1.0)
                workers = children(server.pid)
                base = [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locust_floor.py"), "--headless",
                        "-u", str(args.users), "-r", str(args.users), "--host", f"http://127.0.0.1:{port}",
                        "--only-summary", "--stop-timeout", "5", "--loglevel", "WARNING"]
                subprocess.run([*base, "-t", "5s"], check=True, capture_output=True)  # warm-up
                prefix = instance / "locust"
                before = (cpu_seconds_of(workers), cpu_seconds_of(postgres_pids()), os.times(), time.perf_counter())
                subprocess.run([*base, "-t", f"{args.seconds}s", "--csv", str(prefix)], capture_output=True, check=True)
                after = os.times()
                wall = time.perf_counter() - before[3]
                cpu_workers = cpu_seconds_of(workers) - before[0]
                cpu_pg = cpu_seconds_of(postgres_pids()) - before[1]
                cpu_locust = (after.children_user + after.children_system) - (
                    before[2].children_user + before[2].children_system)
                with open(f"{prefix}_stats.csv", newline="") as fh:
                    agg = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
            finally:
                server.terminate()
                server.wait(timeout=30)
    n = int(agg["Request Count"])
    print(f"GET /healthz through gunicorn (2 workers) on PostgreSQL, {args.users} Locust users, {args.seconds} s: "
          f"{n} requests, {agg['Failure Count']} failures, {float(agg['Requests/s']):.0f} requests/s, "
          f"p50 {agg['50%']} ms, p99 {agg['99%']} ms")
    print(f"CPU during the run ({wall:.0f} s wall, {os.cpu_count()} cores = {wall * (os.cpu_count() or 1):.0f} CPU-s): "
          f"workers {cpu_workers:.1f} s ({cpu_workers / n * 1000:.2f} ms per request), "
          f"PostgreSQL {cpu_pg:.1f} s ({cpu_pg / n * 1000:.2f} ms), Locust {cpu_locust:.1f} s "
          f"({cpu_locust / n * 1000:.2f} ms)")
    import sqlalchemy as sa  # noqa: PLC0415

    from bench.ingest import pg_url  # noqa: PLC0415

    engine = sa.create_engine(pg_url(args.pg_url, "public"))
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
    engine.dispose()


if __name__ == "__main__":
    main()
