"""Report benchmarks (issue #5).  Prints every figure; run it on a quiet machine:

    .venv/bin/python bench/reports.py                 # SQLite and PostgreSQL, then HTTP on PostgreSQL
    .venv/bin/python bench/reports.py --no-http       # only the in-process figures
    .venv/bin/python bench/reports.py --backend postgresql --http-records 20   # pulls of typical firms

1. JSON assembly of the full report for a firm with 200 records (every section), p50 and
   p99 over ``--samples`` runs, on SQLite and PostgreSQL; and the bare SELECTs that fetch the
   same rows — the exact statements one assembly sends, captured and replayed through the
   DB-API cursor with ``fetchall`` — p50, and the ratio of the two.  Targets: p50 < 10 ms,
   p99 < 25 ms, ratio ≤ 2.
2. PDF rendering of that report (p50; target < 150 ms) and the cached read afterwards.
3. Report pulls through the real HTTP stack: ``powercredit serve`` (gunicorn, 2 workers)
   on PostgreSQL, 16 concurrent clients of a bank's systems pulling ``--http-firms`` (400)
   firms' reports, each firm with its own consent-bound token (consent gate, query log and
   audit event included), every client walking the firms round-robin; driven by ``wrk``
   (``bench/wrk_reports.lua``; ``--load-tool locust`` for Locust) from a second process.
   Targets: ≥ 300 pulls/s, p99 < 100 ms; peak RSS per worker < 250 MB (``VmHWM`` of each
   worker process).  Also printed: the CPU seconds the workers, PostgreSQL and the load tool
   spent per pull.

On PostgreSQL the loaded tables are VACUUM ANALYZEd after the set-up, as autovacuum (or
``powercredit import`` after a bulk load) does before anyone reads them: without statistics
the planner reads a report's records through the whole status index (4.5 ms instead of
0.3 ms).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import event  # noqa: E402

from bench.evaluate import settle  # noqa: E402
from bench.ingest import RowGen, drop_schemas, fresh_database, make_firms, populate  # noqa: E402

SCHEMA = "bench_reports"
TARGETS = {"p50": 10.0, "p99": 25.0, "ratio": 2.0, "pdf": 150.0, "rps": 300.0, "http_p99": 100.0, "rss": 250.0}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def set_up(url: str, instance: Path, records: int, http_firms: int, seed: int,
           http_records: int | None = None) -> dict[str, Any]:
    """One firm with ``records`` records and an evaluation, plus ``http_firms`` firms with
    the same profile, each with an active consent for the bench bank (and a token)."""
    from app.accounts.services import create_institution, create_user
    from app.archive.ingestion import ingest_records
    from app.archive.services import get_enterprise, get_provider
    from app.core.config import load_settings
    from app.core.db import Database
    from app.core.signing import load_signing_keys
    from app.oauth.services import register_bank_client
    from app.scoring.services import evaluate_many
    from app.wiring import wire
    from bench.ingest import PROVIDER_CODE
    from consent.models import FetchType, PeriodUnit, Purpose
    from consent.services import Terms, grant_consent

    wire()
    firms = make_firms(1 + http_firms, seed)
    populate(url, firms)
    usccs = [f["uscc"] for f in firms]
    gen = RowGen(usccs, seed)
    rows = []
    for n, uscc in enumerate(usccs):
        for k in range(records if n == 0 or http_records is None else http_records):
            category = gen.rng.choices(gen.cats, gen.weights)[0]
            rows.append({"provider_ref": f"{uscc}-{k}", "uscc": uscc, "category": category,
                         "payload": getattr(gen, category)(uscc)})
    settings = load_settings({"instance_path": instance, "database_url": url})
    keys = load_signing_keys(settings)
    db = Database(url)
    out: dict[str, Any] = {"usccs": usccs, "consents": []}
    try:
        with db.transaction() as s:
            result = ingest_records(s, get_provider(s, PROVIDER_CODE), rows)
            out["refused"] = result.refused
            ids = [get_enterprise(s, u).id for u in usccs]
            evaluate_many(s, ids)
            bank = create_institution(s, name="基准测试银行", licence_no="BENCH-B001")
            client, secret = register_bank_client(s, bank, name="基准测试信贷系统", redirect_uris=["http://127.0.0.1/cb"])
            out["client"] = (client.client_id, secret)
            now = dt.datetime.now(dt.UTC)
            today = now.date()
            for n, uscc in enumerate(usccs[1:]):
                user = create_user(s, username=f"bench-firm-{n}", password="bench-password-1", role="firm",
                                   enterprise_uscc=uscc)
                consent = grant_consent(s, keys, user, institution=bank, via="firm", terms=Terms(
                    purpose=Purpose.loan_application, scopes=sorted(_all_sections()),
                    data_from=today.replace(year=today.year - 5), data_to=today,
                    valid_until=now + dt.timedelta(days=30), fetch_type=FetchType.periodic,
                    frequency_unit=PeriodUnit.day, frequency_value=1000,
                    data_life_unit=PeriodUnit.month, data_life_value=6))
                out["consents"].append((consent.consent_id, uscc))
    finally:
        db.dispose()
    settle(url)
    return out


def _all_sections() -> set[str]:
    from app.oauth.scopes import REPORT_SECTIONS

    return set(REPORT_SECTIONS)


def measure_assembly(url: str, instance: Path, uscc: str, samples: int) -> dict[str, Any]:
    from app.archive.services import get_enterprise
    from app.core import clock
    from app.core.config import load_settings
    from app.core.db import Database
    from app.core.signing import load_signing_keys
    from app.wiring import wire
    from reports.models import ReportKind
    from reports.pdf import render_pdf
    from reports.services import Recipient, assemble, canonical, new_report_no, sha256_hex

    wire()
    db = Database(url)
    keys = load_signing_keys(load_settings({"instance_path": instance, "database_url": url}))
    sections = _all_sections()
    try:
        with db.session() as s:
            ent = get_enterprise(s, uscc)
            recipient = Recipient("enterprise", ent.name, ent.uscc)

            def once() -> dict[str, Any]:
                now = clock.now()
                return assemble(s, ent, ReportKind.self_report, sections, report_no=new_report_no(now), issued_at=now,
                                recipient=recipient)

            for _ in range(20):
                once()
            captured: list[tuple[str, Any]] = []

            def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
                captured.append((statement, parameters))

            event.listen(db.engine, "before_cursor_execute", capture)
            doc = once()
            event.remove(db.engine, "before_cursor_execute", capture)
            counts = {k: len(v) for k, v in doc["sections"].items() if isinstance(v, list)}
            times = []
            for _ in range(samples):
                t = time.perf_counter()
                once()
                times.append((time.perf_counter() - t) * 1000)
            raw = s.connection().connection.driver_connection
            pipelined = s.get_bind().dialect.driver == "psycopg"

            def bare_selects() -> None:
                # The same statements straight on the driver, sent together on PostgreSQL
                # (one round trip, as the service sends them) and one by one on SQLite.
                cursors = []
                if pipelined:
                    with raw.pipeline():
                        for statement, params in captured:
                            cur = raw.cursor()
                            cur.execute(statement, params)
                            cursors.append(cur)
                else:
                    for statement, params in captured:
                        cur = raw.cursor()
                        cur.execute(statement, params)
                        cursors.append(cur)
                for cur in cursors:
                    cur.fetchall()
                    cur.close()

            bare = []
            for _ in range(samples):
                t = time.perf_counter()
                bare_selects()
                bare.append((time.perf_counter() - t) * 1000)
            body = canonical(doc)
            digest = sha256_hex(body)
            sign = []
            for _ in range(samples):
                t = time.perf_counter()
                keys.sign({"report_no": doc["report_no"], "digest": sha256_hex(canonical(doc))}, "pc-report+jws")
                sign.append((time.perf_counter() - t) * 1000)
            render_pdf(doc, digest=digest, verify_url="http://127.0.0.1:8000/verify/x", kid="s1")
            pdf_times, pages = [], 0
            for _ in range(max(5, samples // 20)):
                t = time.perf_counter()
                pdf = render_pdf(doc, digest=digest, verify_url="http://127.0.0.1:8000/verify/x", kid="s1")
                pdf_times.append((time.perf_counter() - t) * 1000)
            pages = pdf.count(b"/Type /Page\n") or pdf.count(b"/Type /Page")
            cache = instance / "bench-cache"
            from reports.pdf import cached_pdf

            cached_pdf(cache, doc["report_no"], lambda: pdf)
            cached = []
            for _ in range(samples):
                t = time.perf_counter()
                cached_pdf(cache, doc["report_no"], lambda: pdf)
                cached.append((time.perf_counter() - t) * 1000)
    finally:
        db.dispose()
    return {
        "records": sum(counts.get(k, 0) for k in counts if k not in ("summary", "query_records", "objections")),
        "statements": len(captured), "bytes": len(body),
        "p50": statistics.median(times), "p99": pct(times, 99), "bare_p50": statistics.median(bare),
        "sign_p50": statistics.median(sign),
        "pdf_p50": statistics.median(pdf_times), "pdf_pages": pages, "pdf_kb": len(pdf) / 1024,
        "cached_p50": statistics.median(cached),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tokens_for(base: str, client: tuple[str, str], consents: list[tuple[str, str]]) -> list[list[str]]:
    """A consent-bound token per consent, as a bank's system gets it (client credentials +
    ``consent_id``)."""
    import requests

    out = []
    for consent_id, uscc in consents:
        resp = requests.post(f"{base}/oauth/token", auth=client, timeout=10,
                             data={"grant_type": "client_credentials", "consent_id": consent_id})
        resp.raise_for_status()
        out.append([resp.json()["access_token"], uscc])
    return out


def cpu_seconds_of(pids: list[int]) -> float:
    """User + system CPU seconds of live processes (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def postgres_pids() -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


def start_server(url: str, instance: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], int, Any]:
    """``powercredit serve`` (gunicorn, 2 workers) on a free port; returns once it accepts."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "PC_INSTANCE_PATH": str(instance), "PC_LOG_LEVEL": "WARNING",
           "PC_BANK_RATE_LIMIT": "1000000/minute", "PC_ISSUER": f"http://127.0.0.1:{port}"}
    log = open(log_path, "w")  # noqa: SIM115 (closed by the caller)
    server = subprocess.Popen([str(Path(sys.executable).parent / "powercredit"), "serve", "--port", str(port),
                               "--workers", "2"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    time.sleep(1.0)
    return server, port, log


def run_wrk(url: str, users: int, seconds: int, script: Path, *script_args: str) -> dict[str, Any]:
    """One closed-loop wrk run (2 threads, ``users`` connections); the script's ``done``
    prints a JSON summary."""
    if shutil.which("wrk") is None:  # Debian's package, installed when missing
        subprocess.run(["bash", str(ROOT / "scripts" / "system-deps.sh"), "bench"], check=True)
    done = subprocess.run(["wrk", "-t", "2", "-c", str(users), "-d", f"{seconds}s", "--timeout", "10s",
                           "-s", str(script), url, *(["--", *script_args] if script_args else [])],
                          capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stdout[-1000:]} {done.stderr[-1000:]}")
    out = json.loads(lines[-1])
    n = out["requests"]
    return {"requests": n, "failures": out["refused"] + out["socket_errors"],
            "rps": n / (out["duration_us"] / 1e6), "p50": out["p50_us"] / 1000, "p99": out["p99_us"] / 1000,
            "avg_kb": out["bytes"] / max(1, n) / 1024, "err": done.stderr[-2000:]}


def run_load(tool: str, port: int, tokens: list[list[str]], users: int, seconds: int, tmp: Path) -> dict[str, Any]:
    """One closed-loop run of ``users`` concurrent clients pulling reports for ``seconds``;
    returns requests, failures, requests/s, p50/p99 (ms) and the average response size."""
    host = f"http://127.0.0.1:{port}"
    if tool == "wrk":
        pairs = tmp / "pairs.txt"
        pairs.write_text("".join(f"{token} {uscc}\n" for token, uscc in tokens))
        return run_wrk(host, users, seconds, ROOT / "bench" / "wrk_reports.lua", str(pairs))
    env = {**os.environ, "PC_BENCH_TOKENS": json.dumps(tokens)}
    prefix = tmp / "locust"
    done = subprocess.run([sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locust_reports.py"),
                           "--headless", "-u", str(users), "-r", str(users), "--host", host, "--only-summary",
                           "--stop-timeout", "5", "--loglevel", "WARNING", "-t", f"{seconds}s", "--csv", str(prefix)],
                          env=env, capture_output=True, text=True)
    with open(f"{prefix}_stats.csv", newline="") as fh:
        agg = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    return {"requests": int(agg["Request Count"]), "failures": int(agg["Failure Count"]),
            "rps": float(agg["Requests/s"]), "p50": float(agg["50%"]), "p99": float(agg["99%"]),
            "avg_kb": float(agg["Average Content Size"]) / 1024,
            "err": done.stderr[-2000:] if int(agg["Failure Count"]) else ""}


def measure_http(url: str, instance: Path, data: dict[str, Any], seconds: int, users: int,
                 tool: str) -> dict[str, Any]:
    server, port, log = start_server(url, instance, instance / "server.log")
    try:
        workers = children(server.pid)
        tokens = tokens_for(f"http://127.0.0.1:{port}", data["client"], data["consents"])
        run_load(tool, port, tokens, users, 5, instance)  # warm-up
        pg = postgres_pids()
        before = (cpu_seconds_of(workers), cpu_seconds_of(pg), time.perf_counter())
        children_before = os.times()
        result = run_load(tool, port, tokens, users, seconds, instance)
        children_after = os.times()
        wall = time.perf_counter() - before[2]
        result["cpu"] = {
            "workers": cpu_seconds_of(workers) - before[0], "postgres": cpu_seconds_of(postgres_pids()) - before[1],
            "load": (children_after.children_user + children_after.children_system)
            - (children_before.children_user + children_before.children_system), "wall": wall}
        result["rss"] = [peak_rss_mb(pid) for pid in workers]
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200, help="records of the firm whose report is timed")
    ap.add_argument("--http-records", type=int, default=200, help="records of each firm pulled over HTTP")
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--users", type=int, default=16, help="concurrent clients (connections) pulling reports")
    ap.add_argument("--http-firms", type=int, default=400,
                    help="firms pulled over HTTP, each with its own consent and token; every client walks them "
                         "round-robin (set it to --users for one firm per client, pulled over and over)")
    ap.add_argument("--load-tool", choices=["wrk", "locust"], default="wrk",
                    help="wrk (C, event loop: little CPU of its own on the two cores) or Locust (Python)")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=20261123)
    args = ap.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    failed = False
    with tempfile.TemporaryDirectory(prefix="pc-bench-reports-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            for backend in backends:
                instance = tmp / f"instance-{backend}"
                instance.mkdir()
                url = fresh_database(backend, tmp, args.pg_url, SCHEMA)
                t = time.perf_counter()
                http_firms = args.http_firms if backend == "postgresql" and not args.no_http else 0
                data = set_up(url, instance, args.records, http_firms, args.seed, args.http_records)
                print(f"[{backend}] set-up: 1 firm × {args.records} records + {http_firms} × {args.http_records} "
                      f"records "
                      f"({data['refused']} refused by validation) in {time.perf_counter() - t:.1f} s", flush=True)
                res = measure_assembly(url, instance, data["usccs"][0], args.samples)
                ratio = res["p50"] / res["bare_p50"]
                ok = res["p50"] < TARGETS["p50"] and res["p99"] < TARGETS["p99"] and ratio <= TARGETS["ratio"]
                print(f"[{backend}] JSON assembly ({res['records']} records in the report, {res['statements']} "
                      f"SELECTs, {res['bytes'] / 1024:.0f} KB canonical JSON): p50 {res['p50']:.2f} ms, "
                      f"p99 {res['p99']:.2f} ms; bare SELECTs p50 {res['bare_p50']:.2f} ms; ratio {ratio:.2f} "
                      f"→ {'PASS' if ok else 'FAIL'} (targets p50 < 10, p99 < 25, ratio ≤ 2)", flush=True)
                print(f"[{backend}] digest + Ed25519 signature p50 {res['sign_p50']:.2f} ms", flush=True)
                pdf_ok = res["pdf_p50"] < TARGETS["pdf"]
                print(f"[{backend}] PDF render p50 {res['pdf_p50']:.1f} ms ({res['pdf_pages']} pages, "
                      f"{res['pdf_kb']:.0f} KB) → {'PASS' if pdf_ok else 'FAIL'} (target < 150 ms); "
                      f"cached read p50 {res['cached_p50']:.3f} ms", flush=True)
                failed |= not (ok and pdf_ok)
                if http_firms:
                    h = measure_http(url, instance, data, args.seconds, args.users, args.load_tool)
                    http_ok = (h["rps"] >= TARGETS["rps"] and h["p99"] < TARGETS["http_p99"] and h["failures"] == 0
                               and all(r < TARGETS["rss"] for r in h["rss"]))
                    print(f"[{backend}] HTTP pulls of {http_firms} firms with {args.http_records} records each "
                          f"(gunicorn 2 workers, {args.users} {args.load_tool} clients, {args.seconds} s): "
                          f"{h['requests']} pulls, {h['failures']} failures, {h['rps']:.0f} pulls/s, "
                          f"p50 {h['p50']:.0f} ms, p99 {h['p99']:.0f} ms, {h['avg_kb']:.0f} KB per report; "
                          f"worker peak RSS {', '.join(f'{r:.0f} MB' for r in h['rss'])} "
                          f"→ {'PASS' if http_ok else 'FAIL'} (targets ≥ 300/s, p99 < 100 ms, < 250 MB)", flush=True)
                    c, n = h["cpu"], max(1, h["requests"])
                    print(f"[{backend}] CPU during the run ({c['wall']:.0f} s wall, 2 cores = {2 * c['wall']:.0f} CPU-s): "
                          f"workers {c['workers']:.1f} s ({1000 * c['workers'] / n:.1f} ms per pull), "
                          f"PostgreSQL {c['postgres']:.1f} s ({1000 * c['postgres'] / n:.1f} ms per pull), "
                          f"{args.load_tool} {c['load']:.1f} s ({1000 * c['load'] / n:.1f} ms per pull)", flush=True)
                    if h["failures"] and h["err"]:
                        print(h["err"])
                    failed |= not http_ok
        finally:
            if "postgresql" in backends:
                drop_schemas(args.pg_url)
                engine = sa.create_engine(args.pg_url)
                with engine.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
                engine.dispose()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
