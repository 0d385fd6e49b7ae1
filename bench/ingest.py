"""Ingestion throughput benchmark: validated records through the ingestion service into
SQLite and PostgreSQL, against the floor of a bare SQLAlchemy Core ``insert``.

    .venv/bin/python bench/ingest.py [--records 100000] [--firms 2000]
                                     [--backend sqlite|postgresql|both]
                                     [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                                     [--chunk-size 2000] [--repeat 3] [--workers N] [--profile 25] [--tracemalloc]

For each backend:

1. Two fresh databases built by the migrations (a temp-dir SQLite file each; on PostgreSQL
   the schemas ``bench_ingest`` and ``bench_ingest_floor``, dropped at the end), each with
   the same N firms (valid USCCs, real region codes) and one provider of every category.
2. The records are generated once into a temporary NDJSON file (a realistic mix of
   categories; every row valid).
3. Service: a fresh child process streams the file (``iter_file``) through
   ``ingest_records`` inside one ``Database.transaction()``; the timing includes the
   commit.  Peak RSS is the child's own ``ru_maxrss``.
4. Floor: another fresh child validates every row up-front (outside the timing), builds
   the exact parameter dicts the service writes, then times bare
   ``session.execute(sa.insert(CreditRecord), chunk)`` calls of the same chunk size plus
   the commit, into a second (empty) database.
5. Core floor: the same with the Table-level statement ``sa.insert(CreditRecord.__table__)``
   into a third database.  ``insert(CreditRecord)`` is an ORM-enabled bulk INSERT, which
   leaves out the keys whose value is None and batches only consecutive rows with the same
   keys; the Table-level statement always sends every column in one executemany.

It prints figures; it is not a test.  ``ratio`` is service records/s ÷ floor records/s.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import multiprocessing
import os
import pstats
import random
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

TARGETS = {"sqlite": 25_000, "postgresql": 20_000}
RSS_LIMIT_MB = 300
PROVIDER_CODE = "bench-all"
PG_SCHEMAS = ("bench_ingest", "bench_ingest_floor", "bench_ingest_core")

# Category mix (weights), roughly what a grid company + procurement platform + banks send.
MIX = {
    "utility": 35, "contract": 20, "tax": 10, "loan": 10, "quality": 8, "bidding": 7,
    "licence": 4, "penalty": 3, "commitment": 3,
}
BANKS = ["中国工商银行股份有限公司北京分行", "中国建设银行股份有限公司江苏省分行",
         "招商银行股份有限公司杭州分行", "浙江网商银行股份有限公司", "兴业银行股份有限公司福州分行"]
SEGMENTS = ["generation", "grid", "construction", "supplier", "retail", "consumer", "integrated"]
BRAND = "华中东金正新泰瑞安德宏嘉源浩明鼎联汇益永盛通达远辉信诚和科创能力川峰阳晟拓恒昌润"


# --- helpers ---------------------------------------------------------------------------


def rss_now_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its exited children (the workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def settle(db: Any) -> None:
    """Open the pooled connection outside the timing.  (No CHECKPOINT here: right after one,
    PostgreSQL writes a full-page image of every page it touches first, which made the timed
    section 10-20 % slower than the steady state.)"""
    with db.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


def pg_url(base: str, schema: str) -> str:
    url = sa.make_url(base)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


def in_child(fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)`` in a fresh spawned process (its own ru_maxrss, no inherited heap)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as ex:
        return ex.submit(fn, *args).result()


# --- data ------------------------------------------------------------------------------


def _org8(n: int) -> str:
    from app.archive.uscc import ALPHABET

    digits = ""
    for _ in range(6):
        n, r = divmod(n, len(ALPHABET))
        digits = ALPHABET[r] + digits
    return "MA" + digits


def make_firms(count: int, seed: int) -> list[dict[str, Any]]:
    from app.archive.regions import COUNTIES
    from app.archive.uscc import make_uscc

    rng = random.Random(seed)
    regions = sorted(COUNTIES)
    today = dt.date.today()
    firms = []
    for n in range(count):
        region = regions[n % len(regions)]
        city, district = COUNTIES[region]
        firms.append({
            "uscc": make_uscc("9", "1", region, _org8(n)),
            "name": f"{city.removesuffix('市')}{rng.choice(BRAND)}{rng.choice(BRAND)}电力{n}有限公司",
            "segment": SEGMENTS[n % len(SEGMENTS)],
            "registered_capital": str(rng.choice([100, 500, 1000, 5000, 10000]) * 10_000),
            "founded_on": (today - dt.timedelta(days=rng.randint(2000, 9000))).isoformat(),
            "address": f"{city}{district}人民路{rng.randint(1, 999)}号",
            "legal_rep_name": "张伟",
            "legal_rep_id": f"{region}19800101{rng.randint(0, 999):03d}X",
            "contact_phone": f"138{rng.randint(0, 99_999_999):08d}",
        })
    return firms


class RowGen:
    """Valid record rows of every category in ``MIX`` (dates relative to China's today)."""

    def __init__(self, usccs: list[str], seed: int) -> None:
        from app.archive.uscc import make_uscc
        from app.core import clock

        self.rng = random.Random(seed)
        self.today = clock.today()
        self.usccs = usccs
        self.cats = list(MIX)
        self.weights = list(MIX.values())
        self.authorities = {u[2:8]: make_uscc("1", "1", u[2:8], f"0{u[2:4]}00001") for u in usccs}

    def ago(self, max_days: int, min_days: int = 1) -> dt.date:
        return self.today - dt.timedelta(days=self.rng.randint(min_days, max_days))

    def money(self, low: int, high: int) -> str:
        return f"{self.rng.randint(low, high)}.{self.rng.randint(0, 99):02d}"

    def row(self, i: int) -> dict[str, Any]:
        uscc = self.rng.choice(self.usccs)
        category = self.rng.choices(self.cats, self.weights)[0]
        payload = getattr(self, category)(uscc)
        return {"provider_ref": f"{uscc}-{category}-{i:08d}", "uscc": uscc, "category": category,
                "payload": payload}

    def utility(self, uscc: str) -> dict[str, Any]:
        rng, today = self.rng, self.today
        month = today.replace(day=1)
        for _ in range(rng.randint(1, 48)):
            month = (month - dt.timedelta(days=1)).replace(day=1)
        next_month = (month + dt.timedelta(days=32)).replace(day=1)
        kwh = rng.randint(5_000, 6_000_000)
        due = f"{kwh * 62 // 100}.{rng.randint(0, 99):02d}"
        p: dict[str, Any] = {"account_no": f"{uscc[2:8]}{rng.randint(0, 999999):06d}",
                             "month": month.strftime("%Y-%m"), "consumption_kwh": str(kwh),
                             "amount_due": due}
        r = rng.random()
        if r < 0.05:
            p.update(status="arrears", arrears_amount=due, arrears_months=rng.randint(1, 6))
        elif r < 0.15:
            p.update(status="late",
                     paid_on=min(today, next_month + dt.timedelta(days=rng.randint(20, 40))).isoformat())
        else:
            p.update(status="on_time",
                     paid_on=min(today, next_month + dt.timedelta(days=rng.randint(0, 14))).isoformat())
        return p

    def contract(self, uscc: str) -> dict[str, Any]:
        rng, today = self.rng, self.today
        signed = self.ago(1400, 60)
        due = signed + dt.timedelta(days=rng.randint(30, 365))
        if due >= today:
            due = today - dt.timedelta(days=rng.randint(1, 20))
        r = rng.random()
        status = "on_time" if r < 0.8 else "late" if r < 0.92 else "breached" if r < 0.97 else "disputed"
        p: dict[str, Any] = {
            "contract_no": f"ECP-{signed:%Y}-{rng.randint(10000, 99999)}",
            "counterparty_uscc": rng.choice(self.usccs), "counterparty_name": "国网某省电力有限公司",
            "subject": rng.choice(["变压器采购", "电缆采购", "输变电工程施工", "运维服务", "配网物资"]),
            "amount": self.money(50_000, 8_000_000), "signed_on": signed.isoformat(),
            "due_on": due.isoformat(), "status": status,
        }
        if status == "on_time":
            p["fulfilled_on"] = (signed + dt.timedelta(days=rng.randint(0, (due - signed).days))).isoformat()
        elif status == "late":
            p["fulfilled_on"] = min(today, due + dt.timedelta(days=rng.randint(5, 90))).isoformat()
        return p

    def tax(self, uscc: str) -> dict[str, Any]:
        rng = self.rng
        # Grades for year Y are published in April of Y+1.
        latest = self.today.year - 1 if self.today.month >= 4 else self.today.year - 2
        year = rng.randint(max(2014, latest - 5), latest)
        grade = rng.choices("ABMCD", [40, 35, 5, 15, 5])[0]
        p: dict[str, Any] = {"year": year, "grade": grade}
        if grade in "CD" and rng.random() < 0.5:
            p["arrears_amount"] = self.money(5_000, 400_000)
        return p

    def loan(self, uscc: str) -> dict[str, Any]:
        rng, today = self.rng, self.today
        start = self.ago(1800, 30)
        end = start + dt.timedelta(days=rng.choice([180, 365, 730, 1095]))
        status = "overdue" if rng.random() < 0.08 else "settled" if end < today else "normal"
        p: dict[str, Any] = {"lender": rng.choice(BANKS), "amount": self.money(200_000, 20_000_000),
                             "start_on": start.isoformat(), "end_on": end.isoformat(), "status": status}
        if status == "overdue":
            p["overdue_days"] = rng.randint(5, 200)
        if status == "settled":
            p["settled_on"] = end.isoformat()
        return p

    def quality(self, uscc: str) -> dict[str, Any]:
        rng = self.rng
        p: dict[str, Any] = {"product": rng.choice(["10kV 电力电缆", "干式变压器", "智能电能表", "高压开关柜"]),
                             "batch_no": f"B{rng.randint(100000, 999999)}",
                             "inspection_on": self.ago(1400, 10).isoformat(), "result": "pass"}
        if rng.random() < 0.1:
            p.update(result="fail", defect_class=rng.choice(["minor", "major", "critical"]))
        return p

    def bidding(self, uscc: str) -> dict[str, Any]:
        rng = self.rng
        p: dict[str, Any] = {"project": rng.choice(["220kV 变电站新建工程", "配电网改造项目", "光伏电站 EPC"]),
                             "bid_on": self.ago(1500, 10).isoformat(),
                             "result": rng.choice(["won", "lost", "lost"])}
        if rng.random() < 0.03:
            p.update(result="disqualified", violation=rng.choice(["collusion", "fraud"]))
        return p

    def licence(self, uscc: str) -> dict[str, Any]:
        rng = self.rng
        decided = self.ago(3000, 30)
        name = "承装（修、试）电力设施许可证"
        return {
            "decision_doc_name": f"关于准予{name}的决定", "decision_doc_no": f"许可〔{decided:%Y}〕{rng.randint(1, 999)}号",
            "licence_category": "general", "certificate_name": name,
            "certificate_no": f"1{rng.randint(10**9, 10**10 - 1)}", "content": f"准予{name}",
            "decided_on": decided.isoformat(), "valid_from": decided.isoformat(),
            "valid_to": (decided + dt.timedelta(days=365 * 6)).isoformat(), "authority": "国家能源局派出机构",
            "authority_uscc": self.authorities[uscc[2:8]], "status": "valid", "data_source": "国家能源局",
        }

    def penalty(self, uscc: str) -> dict[str, Any]:
        rng = self.rng
        decided = self.ago(1800, 20)
        serious = rng.random() < 0.2
        return {
            "decision_no": f"罚〔{decided:%Y}〕{rng.randint(1, 300)}号", "violation_type": "违反电力业务许可规定",
            "facts": "未按规定报送电力安全信息", "legal_basis": "《电力监管条例》第三十一条",
            "penalty_types": ["fine", "suspension"] if serious else ["warning", "fine"],
            "content": "罚款并责令改正", "fine_amount": f"{rng.randint(1, 50)}.5",
            "decided_on": decided.isoformat(),
            "publish_until": (decided + dt.timedelta(days=365 * (3 if serious else 1) - 1)).isoformat(),
            "authority": "国家能源局派出机构", "authority_uscc": self.authorities[uscc[2:8]], "serious": serious,
        }

    def commitment(self, uscc: str) -> dict[str, Any]:
        return {"title": "信用电力自律公约", "text_version": "v2024", "signed_on": self.ago(700, 5).isoformat()}


def write_ndjson(path: Path, usccs: list[str], records: int, seed: int) -> dict[str, int]:
    gen = RowGen(usccs, seed)
    counts: dict[str, int] = {}
    with path.open("w", encoding="utf-8") as fh:
        for i in range(records):
            row = gen.row(i)
            counts[row["category"]] = counts.get(row["category"], 0) + 1
            fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")
    return counts


# --- databases -------------------------------------------------------------------------


def fresh_database(backend: str, tmp: Path, pg_base: str, schema: str) -> str:
    from app.core import migrate

    if backend == "sqlite":
        url = f"sqlite:///{tmp / f'{schema}.db'}"
    else:
        engine = sa.create_engine(pg_url(pg_base, "public"))
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        engine.dispose()
        url = pg_url(pg_base, schema)
    migrate.upgrade(url)
    return url


def drop_schemas(pg_base: str) -> None:
    engine = sa.create_engine(pg_url(pg_base, "public"))
    with engine.begin() as conn:
        for schema in PG_SCHEMAS:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


def populate(url: str, firms: list[dict[str, Any]]) -> int:
    """Register the firms and the provider; returns the id of an ingestion run for the floor."""
    from app.archive.categories import CATEGORIES
    from app.archive.models import IngestionRun
    from app.archive.services import create_provider, upsert_enterprise
    from app.core.crypto import FieldCipher, KeyRing
    from app.core.db import Database

    db = Database(url)
    cipher = FieldCipher(KeyRing.generate())
    try:
        with db.transaction() as s:
            for firm in firms:
                upsert_enterprise(s, cipher, firm)
            provider = create_provider(s, code=PROVIDER_CODE, name="基准测试数据源", kind="other",
                                       categories=list(CATEGORIES))
            run = IngestionRun(provider_id=provider.id, source="file", filename="floor", mode="partial")
            s.add(run)
            s.flush()
            return run.id
    finally:
        db.dispose()


# --- measurements (each in its own spawned process) ------------------------------------


def measure_service(url: str, path: str, chunk_size: int, profile_top: int,
                    trace: bool, workers: int | None) -> dict[str, Any]:
    import tracemalloc

    from app.archive.ingestion import ingest_records
    from app.archive.models import CreditRecord
    from app.archive.readers import iter_file
    from app.archive.services import get_provider
    from app.core.db import Database
    from app.core.workers import default_workers

    workers = default_workers() if workers is None else workers

    db = Database(url)
    settle(db)  # open the pooled connection and flush the set-up's writes outside the timing
    base_rss = rss_now_mb()
    profiler = cProfile.Profile() if profile_top else None
    if trace:
        tracemalloc.start()
    if profiler:
        profiler.enable()
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    with db.transaction() as s:
        provider = get_provider(s, PROVIDER_CODE)
        result = ingest_records(s, provider, iter_file(Path(path), lazy=True), source="file",
                                filename=Path(path).name, mode="partial", chunk_size=chunk_size,
                                keep_rows=False, workers=workers)
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    if profiler:
        profiler.disable()
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    if trace:
        tracemalloc.stop()
    peak = peak_rss_mb()
    # The validation workers have exited; the largest one's peak, counted once per worker.
    worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if workers else 0.0
    with db.transaction() as s:
        stored = s.scalar(sa.select(sa.func.count()).select_from(CreditRecord))
    db.dispose()
    profile_text = None
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("tottime").print_stats(profile_top)
        stats.sort_stats("cumulative").print_stats(profile_top)
        profile_text = out.getvalue()
    return {
        "seconds": seconds, "total": result.total, "accepted": result.accepted,
        "refused": result.refused, "first_refusal": result.refusals[0].errors if result.refusals else None,
        "stored": stored, "base_rss": base_rss, "peak_rss": peak + workers * worker_peak,
        "cpu": cpu, "main_peak": peak, "worker_peak": worker_peak, "workers": workers, "traced_peak": traced,
        "profile": profile_text,
    }


def day(iso: str | None) -> dt.date | None:
    return dt.date.fromisoformat(iso) if iso else None


def measure_floor(url: str, path: str, chunk_size: int, run_id: int, variant: str) -> dict[str, Any]:
    from app.archive.models import CreditRecord, Enterprise, RecordStatus
    from app.archive.readers import iter_file
    from app.archive.services import get_provider
    from app.archive.validation import validate_record
    from app.core import clock
    from app.core.db import Database

    db = Database(url)
    today = clock.today()
    now = clock.now()
    # Up-front, outside the timing: validate every row and build the service's parameters.
    with db.transaction() as s:
        provider = get_provider(s, PROVIDER_CODE)
        provider_id = provider.id
        ent_ids = dict(s.execute(sa.select(Enterprise.uscc, Enterprise.id)).all())
        params: list[dict[str, Any]] = []
        for raw in iter_file(Path(path)):
            v = validate_record(provider, raw)
            assert not isinstance(v, dict), v
            expired = v.expires_on is not None and v.expires_on <= today.isoformat()
            params.append({
                "enterprise_id": ent_ids[v.uscc], "provider_id": provider_id,
                "provider_ref": v.ref, "category": v.category, "polarity": v.polarity,
                "severity": v.severity, "occurred_on": day(v.occurred_on), "ended_on": day(v.ended_on),
                "expires_on": day(v.expires_on),
                "status": RecordStatus.expired if expired else RecordStatus.active,
                "payload": v.payload, "content_digest": v.digest, "version": 1, "run_id": run_id,
                "received_at": now, "updated_at": now,
            })
    settle(db)
    stmt = sa.insert(CreditRecord) if variant == "orm" else sa.insert(CreditRecord.__table__)
    t0 = time.perf_counter()
    with db.transaction() as s:
        for i in range(0, len(params), chunk_size):
            s.execute(stmt, params[i : i + chunk_size])
    seconds = time.perf_counter() - t0
    peak = peak_rss_mb()
    with db.transaction() as s:
        stored = s.scalar(sa.select(sa.func.count()).select_from(CreditRecord))
    db.dispose()
    return {"seconds": seconds, "rows": len(params), "stored": stored, "peak_rss": peak}


# --- main ------------------------------------------------------------------------------


def bench_backend(backend: str, args: argparse.Namespace, firms: list[dict[str, Any]],
                  ndjson: Path, tmp: Path) -> dict[str, Any]:
    t = time.perf_counter()
    url = fresh_database(backend, tmp, args.pg_url, PG_SCHEMAS[0])
    populate(url, firms)
    floor_url = fresh_database(backend, tmp, args.pg_url, PG_SCHEMAS[1])
    run_id = populate(floor_url, firms)
    core_url = fresh_database(backend, tmp, args.pg_url, PG_SCHEMAS[2])
    core_run_id = populate(core_url, firms)
    print(f"  [{backend}] three fresh databases with {len(firms)} firms each "
          f"in {time.perf_counter() - t:.1f} s", flush=True)

    runs = []
    for n in range(args.repeat):
        if n:  # every run writes into a fresh database
            if backend == "sqlite":
                Path(sa.make_url(url).database or "").unlink()
            url = fresh_database(backend, tmp, args.pg_url, PG_SCHEMAS[0])
            populate(url, firms)
        svc = in_child(measure_service, url, str(ndjson), args.chunk_size, args.profile, args.tracemalloc,
                       args.workers)
        if svc["refused"]:
            raise SystemExit(f"[{backend}] {svc['refused']} rows refused, e.g. {svc['first_refusal']}")
        assert svc["accepted"] == svc["total"] == svc["stored"] == args.records, svc
        print(f"  [{backend}] service run {n + 1}: {svc['seconds']:.2f} s = {args.records / svc['seconds']:,.0f} "
              f"rec/s, {svc['cpu']:.2f} CPU s ({svc['workers']} validation workers)", flush=True)
        if svc["profile"]:
            print(svc["profile"])
        runs.append(svc)
    svc = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]  # the median run
    svc["all_seconds"] = [r["seconds"] for r in runs]

    floor = in_child(measure_floor, floor_url, str(ndjson), args.chunk_size, run_id, "orm")
    assert floor["rows"] == floor["stored"] == args.records, floor
    print(f"  [{backend}] floor:   {floor['seconds']:.2f} s", flush=True)
    core = in_child(measure_floor, core_url, str(ndjson), args.chunk_size, core_run_id, "core")
    assert core["rows"] == core["stored"] == args.records, core
    print(f"  [{backend}] core:    {core['seconds']:.2f} s", flush=True)
    return {"backend": backend, "svc": svc, "floor": floor, "core": core}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--firms", type=int, default=2000)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--chunk-size", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3,
                    help="service runs per backend, each into a fresh database; the median is judged")
    ap.add_argument("--workers", type=int, default=None,
                    help="validation processes (default: as `powercredit import`, one per core)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="cProfile the service run and print its top N functions (distorts timing)")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="also report the tracemalloc peak of the service run (distorts timing)")
    args = ap.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmpdir:
        tmp = Path(tmpdir)
        firms = make_firms(args.firms, args.seed)
        ndjson = tmp / "records.ndjson"
        t = time.perf_counter()
        counts = write_ndjson(ndjson, [f["uscc"] for f in firms], args.records, args.seed)
        mix = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        print(f"Generated {args.records:,} records ({ndjson.stat().st_size / 2**20:.1f} MB NDJSON) "
              f"in {time.perf_counter() - t:.1f} s; chunk size {args.chunk_size}", flush=True)
        print(f"  mix: {mix}", flush=True)
        try:
            for backend in backends:
                rows.append(bench_backend(backend, args, firms, ndjson, tmp))
        finally:
            if "postgresql" in backends:
                drop_schemas(args.pg_url)

    distorted = args.profile or args.tracemalloc
    print()
    header = (f"{'backend':<11}{'records':>9}{'seconds':>9}{'records/s':>11}{'floor rec/s':>13}"
              f"{'ratio':>7}{'core rec/s':>12}{'ratio':>7}{'peak RSS MB':>13}{'target':>9}  result")
    print(header)
    print("-" * len(header))
    failed = False
    for r in rows:
        svc, floor = r["svc"], r["floor"]
        rate = args.records / svc["seconds"]
        floor_rate = args.records / floor["seconds"]
        core_rate = args.records / r["core"]["seconds"]
        target = TARGETS[r["backend"]]
        ok = rate >= target and svc["peak_rss"] < RSS_LIMIT_MB
        failed |= not ok
        verdict = "PASS" if ok else "FAIL"
        if not ok:
            why = [w for w, bad in (("rate", rate < target), ("memory", svc["peak_rss"] >= RSS_LIMIT_MB)) if bad]
            verdict += f" ({', '.join(why)})"
        print(f"{r['backend']:<11}{args.records:>9,}{svc['seconds']:>9.2f}{rate:>11,.0f}{floor_rate:>13,.0f}"
              f"{rate / floor_rate:>7.2f}{core_rate:>12,.0f}{rate / core_rate:>7.2f}"
              f"{svc['peak_rss']:>13.1f}{target:>9,}  {verdict}")
    print()
    for r in rows:
        svc, floor = r["svc"], r["floor"]
        extra = f", tracemalloc peak {svc['traced_peak']:.1f} MB" if svc["traced_peak"] is not None else ""
        rates = ", ".join(f"{args.records / sec:,.0f}" for sec in svc["all_seconds"])
        print(f"{r['backend']}: service runs {rates} rec/s (the table shows the median run)")
        print(f"{r['backend']}: service RSS {svc['base_rss']:.1f} MB before ingest -> peak "
              f"{svc['main_peak']:.1f} MB in the main process + {svc['workers']} validation worker(s) "
              f"x {svc['worker_peak']:.1f} MB = {svc['peak_rss']:.1f} MB{extra}; floor child peak RSS {floor['peak_rss']:.1f} MB "
              f"(validated rows held in memory, outside the timing)")
    print(f"targets: >= {TARGETS['sqlite']:,} rec/s SQLite, >= {TARGETS['postgresql']:,} rec/s PostgreSQL, "
          f"peak RSS < {RSS_LIMIT_MB} MB; ratio = service rec/s / floor rec/s")
    print("floor = session.execute(sa.insert(CreditRecord), chunk); "
          "core = session.execute(sa.insert(CreditRecord.__table__), chunk)")
    if distorted:
        print("NOTE: --profile/--tracemalloc were on: the service timings are distorted.")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
