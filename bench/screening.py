"""Screening benchmark (issue #27): 10,000 bidders screened against a tender's rules.

    .venv/bin/python bench/screening.py [--firms 10000] [--backend sqlite|postgresql]
                                        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                                        [--runs 3] [--no-http]

1. A fresh database built by the migrations with N firms (bench/ingest.py's), written in
   bulk: a current grade for each (every grade, 5 % NR), open 失信被执行人 judgments (3 %,
   half of them behind a published black-list entry), serious penalties within three years
   (4 %, half still within their 双公示 publication), watch-list entries (2 %), grade
   certificates (54 % in force, 1 % suspended), a procurement institution with its OAuth
   client, and a 投标资格审查 consent to it from 1 % of the firms.
2. Service: one screening of 10,000 codes (every firm's, shuffled, with 0.5 % bad check
   characters, 0.5 % codes of no firm and 0.5 % duplicates) against every rule (minimum
   grade BBB, black and watch lists barred, no open 失信 record, no serious penalty within
   three years, a certificate required): the body parsed by the API's schema, ``screen``
   (set-based reads, the consent gate for the consenting bidders, the signed document, the
   query log and the bidders written) and the commit, in a child process; ``--runs`` times,
   median and best, and the child's peak RSS.  Target: under 5 s.
3. Floor: the statements one screening sent (captured), replayed straight on the DB-API
   cursor (``executemany`` where the service sent many rows at once, the same ``COPY`` on
   PostgreSQL) in a transaction rolled back: the database's share of the work; the ratio is
   service ÷ floor.
4. HTTP, once: ``powercredit serve`` (gunicorn) on the same database, the procurement
   system's token from ``/oauth/token``, then ``POST /api/v1/screenings`` with the 10,000
   codes from another process (``requests``), after one small screening that warms the worker
   up: the time until the 201 and its body are read.

It prints figures; it is not a test.  Dates are the real today's (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import random
import resource
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.evaluate import settle  # noqa: E402
from bench.ingest import PROVIDER_CODE, fresh_database, make_firms, pg_url, populate  # noqa: E402

TARGET_S = 5.0
SCHEMA = "bench_screening"
LICENCE = "BENCHPROC01"
RULES = {"min_grade": "BBB", "barred_lists": ["black", "watch"], "max_open_dishonest": 0,
         "serious_penalty_years": 3, "max_serious_penalties": 0, "certificate_required": True}
GRADE_WEIGHTS = {"AAA": 6, "AA": 14, "A": 22, "BBB": 22, "BB": 14, "B": 8, "CCC": 4, "CC": 3, "C": 2, "NR": 5}


def peak_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(fn: Any, *args: Any) -> Any:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


# --- set-up ------------------------------------------------------------------------------


def build(url: str, instance: str, seed: int) -> dict[str, Any]:
    """Grades, records, list entries, certificates, the tenderer and its client, consents —
    written in bulk; returns the client's credentials and what was made."""
    import app.models  # noqa: F401
    from app.accounts.services import create_institution
    from app.archive.models import CreditRecord, DataProvider, Enterprise
    from app.certificates.models import Certificate
    from app.core import clock
    from app.core.db import Database
    from app.oauth.services import register_bank_client
    from app.oversight.models import ListEntry
    from app.scoring.models import Evaluation
    from consent.models import Consent

    rng = random.Random(seed)
    db = Database(url)
    today, now = dt.date.today(), dt.datetime.now(dt.UTC)
    made: dict[str, int] = {}
    try:
        with db.transaction() as s:
            ids = list(s.scalars(sa.select(Enterprise.id).order_by(Enterprise.id)))
            provider = s.scalars(sa.select(DataProvider.id).where(DataProvider.code == PROVIDER_CODE)).one()
            grades = rng.choices(list(GRADE_WEIGHTS), weights=list(GRADE_WEIGHTS.values()), k=len(ids))
            evaluations = [{
                "enterprise_id": ent, "scorecard_id": "power-credit", "scorecard_version": "2.0",
                "as_of": today - dt.timedelta(days=rng.randint(1, 300)), "score": None if g == "NR" else 70,
                "grade": g, "uncapped_grade": None if g == "NR" else g, "supervision_class": None if g == "NR" else "B",
                "willingness": None, "capability": None, "performance": None, "coverage": None, "explanation": {},
                "inputs_digest": secrets.token_hex(32), "record_count": 0, "current": True, "evaluated_at": now}
                for ent, g in zip(ids, grades, strict=True)]
            records, entries, certificates, consents = [], [], [], []
            black_after: list[tuple[int, int]] = []  # (firm, index of its record) for a black-list entry
            for n, ent in enumerate(ids):
                roll = rng.random()
                if roll < 0.03:  # an open 失信 judgment, half of them behind a published black-list entry
                    published = today - dt.timedelta(days=rng.randint(20, 600))
                    records.append(_record(ent, provider, "judicial", 3, published, None, {
                        "case_no": f"(2025)浙0106执{n}号", "court": "杭州市西湖区人民法院",
                        "filed_on": (published - dt.timedelta(days=30)).isoformat(), "obligation": "支付货款",
                        "performance": "none", "dishonest_conduct": "refuse_with_ability",
                        "published_on": published.isoformat()}))
                    if n % 2 == 0:
                        black_after.append((ent, len(records) - 1))
                elif roll < 0.07:  # a serious penalty within three years, half still published
                    decided = today - dt.timedelta(days=rng.randint(30, 1000))
                    until = clock.add_years(decided, 1 if n % 2 else 3)
                    records.append(_record(ent, provider, "penalty", 3, decided, decided, {
                        "decision_no": f"浙能监罚〔{decided.year}〕{n}号", "violation_type": "违规调度",
                        "facts": "未按调度指令运行", "legal_basis": "《电力监管条例》", "penalty_types": ["suspension"],
                        "content": "责令停产停业", "decided_on": decided.isoformat(), "publish_until": until.isoformat(),
                        "authority": "国家能源局浙江监管办公室", "authority_uscc": "113300000000000199", "serious": True}))
                elif roll < 0.09:
                    entries.append(_entry(ent, "watch", [{"criterion": "breached_contract", "label": "近 2 年有合同违约",
                                                          "records": []}], today))
                if rng.random() < 0.55:
                    status = "issued" if rng.random() < 0.98 else "suspended"
                    certificates.append({"certificate_no": f"PCC{today.year}{n:012d}", "enterprise_id": ent,
                                         "status": status, "applied_at": now, "grade": "AA",
                                         "valid_from": today - dt.timedelta(days=100),
                                         "valid_until": today + dt.timedelta(days=600), "issued_at": now,
                                         "status_changed_at": now})
            for start in range(0, len(evaluations), 5000):
                s.execute(sa.insert(Evaluation.__table__), evaluations[start:start + 5000])
            for start in range(0, len(records), 5000):
                s.execute(sa.insert(CreditRecord.__table__), records[start:start + 5000])
            refs = dict(s.execute(sa.select(CreditRecord.provider_ref, CreditRecord.id)).all())
            for ent, i in black_after:
                entries.append(_entry(ent, "black", [{"criterion": "dishonest_debtor", "label": "失信被执行人",
                                                      "records": [refs[records[i]["provider_ref"]]]}], today))
            if entries:
                s.execute(sa.insert(ListEntry.__table__), entries)
            if certificates:
                s.execute(sa.insert(Certificate.__table__), certificates)
            inst = create_institution(s, name="基准测试电力集团电子商务采购平台", licence_no=LICENCE, kind="procurement")
            oauth, secret = register_bank_client(s, inst, name="招标采购系统", redirect_uris=[])
            consent = {"data_from": today - dt.timedelta(days=3 * 365), "data_to": today,
                       "valid_from": now - dt.timedelta(days=1), "valid_until": now + dt.timedelta(days=300),
                       "fetch_type": "periodic", "frequency_unit": "day", "frequency_value": 1000,
                       "data_life_unit": "month", "data_life_value": 6, "status": "ACTIVE", "created_via": "firm",
                       "scopes": ["judicial", "licence_penalty"], "created_at": now, "status_changed_at": now,
                       "use_count": 0, "window_count": 0, "version": 1, "purpose": "bid_qualification",
                       "institution_id": inst.id}
            consents = [{**consent, "consent_id": f"cns_bench_{ent}", "enterprise_id": ent}
                        for ent in rng.sample(ids, max(1, len(ids) // 100))]
            s.execute(sa.insert(Consent.__table__), consents)
            made = {"records": len(records), "black": len(black_after), "entries": len(entries),
                    "certificates": len(certificates), "consents": len(consents)}
            credentials = (oauth.client_id, secret)
    finally:
        db.dispose()
    return {"made": made, "client": credentials}


def _record(ent: int, provider: int, category: str, severity: int, occurred: dt.date, ended: dt.date | None,
            payload: dict[str, Any]) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {"enterprise_id": ent, "provider_id": provider, "provider_ref": f"bench-{category}-{ent}",
            "category": category, "polarity": "bad", "severity": severity, "occurred_on": occurred,
            "ended_on": ended, "expires_on": None if ended is None else ended + dt.timedelta(days=5 * 365),
            "status": "active", "payload": payload, "content_digest": secrets.token_hex(32), "version": 1,
            "received_at": now, "updated_at": now}


def _entry(ent: int, name: str, basis: list[dict[str, Any]], today: dt.date) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    published = today - dt.timedelta(days=30)
    return {"list_name": name, "enterprise_id": ent, "status": "active", "criteria_version": "1.1", "basis": basis,
            "entered_on": published, "published_on": published, "ends_on": published + dt.timedelta(days=730),
            "published_by": "bench", "created_at": now, "updated_at": now}


def codes_for(url: str, count: int, seed: int) -> list[str]:
    """``count`` codes: the firms' (shuffled), 0.5 % with a bad check character, 0.5 % of no
    firm, 0.5 % repeated."""
    from app.archive.uscc import ALPHABET, make_uscc

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        codes = [u for (u,) in conn.execute(sa.text("SELECT uscc FROM enterprise ORDER BY id"))][:count]
    engine.dispose()
    rng = random.Random(seed + 1)
    rng.shuffle(codes)
    step = 200  # 0.5 %
    for i in range(0, len(codes), step):
        code = codes[i]
        codes[i] = code[:17] + ALPHABET[(ALPHABET.index(code[17]) + 1) % len(ALPHABET)]  # a bad check character
        if i + 1 < len(codes):
            codes[i + 1] = make_uscc("9", "1", "110108", f"{90_000_000 + i:08d}")  # no such firm
        if i + 2 < len(codes):
            codes[i + 2] = codes[max(0, i - 7)]  # a repeat
    return codes


# --- measurements (children) -------------------------------------------------------------


def measure_service(url: str, instance: str, codes: list[str], runs: int) -> dict[str, Any]:
    from sqlalchemy import event

    from app import wiring
    from app.accounts.models import Institution
    from app.core.config import load_settings
    from app.core.db import Database
    from app.core.signing import load_signing_keys
    from app.oauth.models import OAuthClient
    from app.procurement import services
    from app.procurement.schemas import ScreeningRequestSchema
    from app.procurement.services import Tenderer, screen

    wiring.wire()
    settings = load_settings({"database_url": url, "instance_path": instance, "secret_key": "bench"})
    keys = load_signing_keys(settings)
    db = Database(url)
    sent: list[tuple[str, Any, bool]] = []
    times: list[float] = []
    try:
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        body = {"tender_name": "基准测试：2026 年配网物资协议库存招标", "tender_no": "BENCH-001", "rules": RULES,
                "codes": codes}

        def one(session: Any) -> dict[str, Any]:
            data = ScreeningRequestSchema().load(body)
            inst = session.scalars(sa.select(Institution).where(Institution.licence_no == LICENCE)).one()
            client = session.scalars(sa.select(OAuthClient).where(OAuthClient.institution_id == inst.id)).one()
            screening = screen(session, keys, Tenderer(inst, f"client:{client.client_id}", client_pk=client.id),
                               data["codes"], data["rules"], tender_name=data["tender_name"],
                               tender_no=data["tender_no"])
            return dict(json.loads(screening.body)["summary"])

        def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
            sent.append((statement, parameters, many))

        # A first screening, rolled back, with its statements captured (and its COPYs, which go
        # straight to the driver): then replayed bare (the floor), PostgreSQL's sequences set
        # back first so that the replay writes the same ids.
        sequences = _sequences(db)
        bulk = services.bulk_insert

        def copying(session: Any, table: Any, rows: list[dict[str, Any]]) -> None:
            if rows and len(rows) >= services.COPY_THRESHOLD and session.get_bind().dialect.name == "postgresql":
                sent.append(("COPY", (table.name, list(rows[0]), rows), False))
            bulk(session, table, rows)

        event.listen(db.engine, "before_cursor_execute", capture)
        services.bulk_insert = copying
        session = db.session()
        try:
            one(session)
            session.flush()
        finally:
            session.rollback()
            session.close()
            event.remove(db.engine, "before_cursor_execute", capture)
            services.bulk_insert = bulk
        _restore(db, sequences)
        floor = replay(db, sent)
        for _ in range(runs):
            start = time.perf_counter()
            with db.transaction() as s:
                summary = one(s)
            times.append(time.perf_counter() - start)
        return {"times": times, "summary": summary, "statements": len(sent), "floor": floor,
                "rss_mb": peak_rss_mb()}
    finally:
        db.dispose()


def _sequences(db: Any) -> list[tuple[str, int | None]]:
    if db.engine.dialect.name != "postgresql":
        return []  # SQLite takes the next id after the largest: a rolled-back insert gives it back
    with db.engine.connect() as conn:
        return [(name, value) for name, value in conn.exec_driver_sql(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = current_schema()")]


def _restore(db: Any, sequences: list[tuple[str, int | None]]) -> None:
    with db.engine.begin() as conn:
        for name, value in sequences:
            conn.execute(sa.text("SELECT setval(CAST(:seq AS regclass), :value, :called)"),
                         {"seq": name, "value": value or 1, "called": value is not None})


def replay(db: Any, sent: list[tuple[str, Any, bool]]) -> float:
    """The captured statements straight on the DB-API cursor, in a transaction rolled back."""
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()  # (on SQLite the captured statements begin with the service's BEGIN IMMEDIATE)
        start = time.perf_counter()
        for statement, params, many in sent:
            if statement == "COPY":
                from app.procurement.services import copy_text

                table, columns, rows = params
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    copy.write(copy_text(rows, columns))
                continue
            if statement.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
                cur.execute(statement)
                continue
            if many:
                cur.executemany(statement, params)
            else:
                cur.execute(statement, params)
            if cur.description is not None:
                cur.fetchall()
        elapsed = time.perf_counter() - start
        raw.rollback()
        return elapsed
    finally:
        raw.close()


def measure_http(url: str, instance: str, client: tuple[str, str], codes: list[str], tmp: str) -> dict[str, Any]:
    import requests

    from bench.reports import start_server

    server, port, log = start_server(url, Path(instance), Path(tmp) / "server.log")
    base = f"http://127.0.0.1:{port}"
    try:
        requests.get(f"{base}/healthz", timeout=30).raise_for_status()
        token = requests.post(f"{base}/oauth/token", auth=client, timeout=30,
                              data={"grant_type": "client_credentials"}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        warm = requests.post(f"{base}/api/v1/screenings", headers=headers, timeout=60, json={
            "tender_name": "基准测试：预热", "rules": RULES, "codes": codes[:20]})  # the worker's first request
        warm.raise_for_status()
        body = {"tender_name": "基准测试：HTTP", "tender_no": "BENCH-HTTP", "rules": RULES, "codes": codes}
        start = time.perf_counter()
        resp = requests.post(f"{base}/api/v1/screenings", json=body, timeout=120, headers=headers)
        content = resp.content
        elapsed = time.perf_counter() - start
        if resp.status_code != 201:
            raise RuntimeError(f"POST /api/v1/screenings → {resp.status_code}: {content[:500]!r}")
        return {"seconds": elapsed, "bytes": len(content), "number": resp.headers["X-Screening-No"]}
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--firms", type=int, default=10_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    label = f"[{args.backend}]"
    with tempfile.TemporaryDirectory(prefix="pc-bench-screening-") as tmp:
        instance = str(Path(tmp) / "instance")
        Path(instance).mkdir()
        try:
            url = fresh_database(args.backend, Path(tmp), args.pg_url, SCHEMA)
            t = time.perf_counter()
            populate(url, make_firms(args.firms, args.seed))
            made = build(url, instance, args.seed)
            settle(url)
            if url.startswith("postgresql"):
                engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
                with engine.connect() as conn:
                    for table in ("evaluation", "list_entry", "certificate", "consent", "query_log"):
                        conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
                engine.dispose()
            m = made["made"]
            print(f"{label} 准备：企业 {args.firms}，失信与严重处罚记录 {m['records']}，名单 {m['entries']}（黑名单 {m['black']}），"
                  f"证书 {m['certificates']}，授权 {m['consents']}（{time.perf_counter() - t:.0f} s）", flush=True)
            codes = codes_for(url, args.firms, args.seed)
            service = in_child(measure_service, url, instance, codes, args.runs)
            times = service["times"]
            best, median = min(times), statistics.median(times)
            s = service["summary"]
            verdict = "达标" if median < TARGET_S else "未达标"
            print(f"{label} 服务：{len(codes)} 个代码（{s['bidders']} 家，通过 {s['passed']}，不通过 {s['failed']}，"
                  f"未查到或无效 {s['not_found']}，重复 {s['duplicates']}，使用授权 {s['consents_used']}）；"
                  f"{args.runs} 次中位数 {median:.2f} s、最快 {best:.2f} s（目标 < {TARGET_S:.0f} s，{verdict}）；"
                  f"语句 {service['statements']} 条；峰值内存 {service['rss_mb']:.0f} MB", flush=True)
            print(f"{label} 下限（同样的语句直接在 DB-API 游标上重放）：{service['floor']:.2f} s；"
                  f"服务 / 下限 = {best / service['floor']:.1f}", flush=True)
            if not args.no_http:
                http = measure_http(url, instance, made["client"], codes, tmp)
                verdict = "达标" if http["seconds"] < TARGET_S else "未达标"
                print(f"{label} HTTP：POST /api/v1/screenings（gunicorn，requests）{http['seconds']:.2f} s 得到 201 与"
                      f" {http['bytes'] / 1e6:.1f} MB 的签名文件（目标 < {TARGET_S:.0f} s，{verdict}）", flush=True)
        finally:
            if args.backend == "postgresql":
                engine = sa.create_engine(pg_url(args.pg_url, "public"))
                with engine.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
                engine.dispose()


if __name__ == "__main__":
    main()
