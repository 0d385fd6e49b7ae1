"""The HTTP stack's ceiling on this machine (context for bench/reports.py's pull target):
the same server (``powercredit serve``: gunicorn, 2 workers, on PostgreSQL) and the same
load tool (wrk, 16 connections, a second process) against ``GET /healthz`` — the whole
Flask request cycle (request id, logging, session, rate-limit bookkeeping, security headers)
and one ``SELECT 1`` round trip, nothing else.  Prints requests/s, latency and the CPU each
process used per request; a report pull cannot go faster than this.

    .venv/bin/python bench/http_floor.py [--seconds 20] [--users 16]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.ingest import fresh_database, pg_url  # noqa: E402
from bench.reports import children, cpu_seconds_of, postgres_pids, run_wrk, start_server  # noqa: E402

SCHEMA = "bench_http_floor"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--users", type=int, default=16)
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    script = ROOT / "bench" / "wrk_floor.lua"
    try:
        with tempfile.TemporaryDirectory(prefix="pc-bench-floor-") as tmp_name:
            instance = Path(tmp_name)
            url = fresh_database("postgresql", instance, args.pg_url, SCHEMA)
            server, port, log = start_server(url, instance, instance / "server.log")
            try:
                workers = children(server.pid)
                target = f"http://127.0.0.1:{port}/healthz"
                run_wrk(target, args.users, 5, script)  # warm-up
                before = (cpu_seconds_of(workers), cpu_seconds_of(postgres_pids()), os.times(), time.perf_counter())
                res = run_wrk(target, args.users, args.seconds, script)
                after = os.times()
                wall = time.perf_counter() - before[3]
                cpu_workers = cpu_seconds_of(workers) - before[0]
                cpu_pg = cpu_seconds_of(postgres_pids()) - before[1]
                cpu_load = (after.children_user + after.children_system) - (
                    before[2].children_user + before[2].children_system)
            finally:
                server.terminate()
                server.wait(timeout=30)
                log.close()
    finally:
        engine = sa.create_engine(pg_url(args.pg_url, "public"))
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
        engine.dispose()
    n = max(1, res["requests"])
    print(f"GET /healthz through gunicorn (2 workers) on PostgreSQL, {args.users} wrk connections, {args.seconds} s: "
          f"{res['requests']} requests, {res['failures']} failures, {res['rps']:.0f} requests/s, "
          f"p50 {res['p50']:.1f} ms, p99 {res['p99']:.1f} ms")
    print(f"CPU during the run ({wall:.0f} s wall, {os.cpu_count()} cores = {wall * (os.cpu_count() or 1):.0f} CPU-s): "
          f"workers {cpu_workers:.1f} s ({cpu_workers / n * 1000:.2f} ms per request), "
          f"PostgreSQL {cpu_pg:.1f} s ({cpu_pg / n * 1000:.2f} ms), wrk {cpu_load:.1f} s "
          f"({cpu_load / n * 1000:.2f} ms)")


if __name__ == "__main__":
    main()
