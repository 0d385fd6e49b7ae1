"""信易贷 matching benchmark: 100,000 firms × 500 live products, on SQLite and PostgreSQL.

    .venv/bin/python bench/matching.py [--firms 100000] [--products 500]
                                       [--backend sqlite|postgresql|both] [--samples 200]
                                       [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Per backend: a fresh database built by the migrations; ``--firms`` firms registered (as
bench/ingest.py does), each with a current evaluation (a realistic grade mix), one or two
yearly tax grades, a 失信被执行人 record for 2 % of them and report queries for a fifth of
them in the last three months; half the firms opted in to be discoverable.  Twenty banks
publish ``--products`` live products through the marketplace service (minimum grades AAA
to BBB, some limited to segments or provinces, years in business, tax grade, no dishonest
record, a cap on recent queries).  Set-up is not timed.

Timed, each call in its own session (nothing cached between calls):

1. **Firm side**: ``products_for_firm`` — every live product a firm is eligible for, with the
   reasons, and the near misses — for ``--samples`` random firms: p50 / p95.
2. **Bank side**: ``firms_for_product`` — the full eligible-firm list (主动授信, ranked) for
   one product — for twelve products, the least restrictive included: p50 and the slowest.

Targets (2-core machine): firm side p50 < 20 ms; the full list for one product < 1 s.
Exits 1 when a target is missed.  It prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.ingest import PG_SCHEMAS, drop_schemas, fresh_database, make_firms, populate  # noqa: E402

FIRM_TARGET_MS = 20.0
LIST_TARGET_S = 1.0
GRADE_MIX = (("AAA", 3), ("AA", 35), ("A", 36), ("BBB", 15), ("BB", 7), ("B", 3), ("CCC", 1))
TAX_MIX = (("A", 40), ("B", 40), ("M", 5), ("C", 10), ("D", 5))
SEGMENTS = ("generation", "grid", "construction", "supplier", "retail", "consumer", "integrated")


def _pick(rng: random.Random, mix: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in mix], [w for _, w in mix])[0]


def _bulk(session: Any, table: Any, rows: list[dict[str, Any]], chunk: int = 5000) -> None:
    for start in range(0, len(rows), chunk):
        session.execute(sa.insert(table), rows[start:start + chunk])


def facts_data(url: str, seed: int) -> None:
    """Evaluations, tax and judicial records, query logs and marketplace profiles, written
    in bulk (they are the inputs of eligibility; how they got there is not what is timed)."""
    from app.accounts.models import Role, User
    from app.accounts.services import create_institution, create_user
    from app.archive.models import CreditRecord, DataProvider, Enterprise
    from app.core import clock
    from app.core.db import Database
    from app.core.signing import SigningKeys
    from app.scoring.models import Evaluation
    from consent.models import QueryLog
    from consent.services import grant_consent
    from marketplace.applications import consent_terms
    from marketplace.models import MarketplaceProfile

    rng = random.Random(seed)
    db = Database(url)
    now = clock.now()
    today = now.date()
    try:
        with db.transaction() as s:
            ids = list(s.scalars(sa.select(Enterprise.id).order_by(Enterprise.id)))
            provider_id = s.scalar(sa.select(DataProvider.id).limit(1))
            evals, records, profiles = [], [], []
            for ent_id in ids:
                grade = _pick(rng, GRADE_MIX)
                score = Decimal(rng.randint(20, 99)) + Decimal(rng.randint(0, 99)) / 100
                evals.append({"enterprise_id": ent_id, "scorecard_id": "power", "scorecard_version": "1.0",
                              "as_of": today, "score": score, "grade": grade, "uncapped_grade": grade,
                              "supervision_class": "B", "willingness": score, "capability": score,
                              "performance": score, "explanation": {}, "inputs_digest": "0" * 64,
                              "record_count": 3, "current": True, "evaluated_at": now})
                for year in (today.year - 1,) if rng.random() < 0.5 else (today.year - 2, today.year - 1):
                    records.append({"enterprise_id": ent_id, "provider_id": provider_id,
                                    "provider_ref": f"tax-{ent_id}-{year}", "category": "tax", "polarity": "good",
                                    "severity": 0, "occurred_on": dt.date(year, 12, 31), "status": "active",
                                    "payload": {"year": year, "grade": _pick(rng, TAX_MIX)},
                                    "content_digest": "0" * 64, "version": 1, "received_at": now,
                                    "updated_at": now})
                if rng.random() < 0.02:
                    records.append({"enterprise_id": ent_id, "provider_id": provider_id,
                                    "provider_ref": f"court-{ent_id}", "category": "judicial", "polarity": "bad",
                                    "severity": 3, "occurred_on": today - dt.timedelta(days=200), "status": "active",
                                    "payload": {"case_no": f"(2026)京0101执{ent_id}号", "court": "北京市东城区人民法院",
                                                "performance": "none", "dishonest_conduct": "evade_enforcement"},
                                    "content_digest": "0" * 64, "version": 1, "received_at": now,
                                    "updated_at": now})
                if rng.random() < 0.5:
                    profiles.append({"enterprise_id": ent_id, "discoverable": True, "updated_at": now})
            _bulk(s, Evaluation, evals)
            _bulk(s, CreditRecord, records)
            _bulk(s, MarketplaceProfile, profiles)
            # Report queries: a fifth of the firms were looked at by a bank lately.
            bank = create_institution(s, name="基准查询银行", licence_no="BENCH-Q")
            user = create_user(s, username="bench-firm", password="bench-password-123", role=Role.firm,
                               enterprise_uscc=s.get_one(Enterprise, ids[0]).uscc)
            consent = grant_consent(s, SigningKeys.generate(), s.get_one(User, user.id), institution=bank,
                                    terms=consent_terms(now), via="firm")
            logs = [{"at": now - dt.timedelta(days=rng.randint(0, 120)), "enterprise_id": ent_id,
                     "institution_id": bank.id, "consent_pk": consent.id, "purpose": "loan_application",
                     "sections": ["tax"], "resource": "bench"}
                    for ent_id in ids if rng.random() < 0.2 for _ in range(rng.randint(1, 9))]
            _bulk(s, QueryLog, logs)
    finally:
        db.dispose()


def publish_products(url: str, count: int, seed: int) -> list[str]:
    """Twenty banks publish ``count`` products through the service (validated as users'
    are) and put them live."""
    from app.accounts.services import create_institution, create_user
    from app.archive.regions import PROVINCES
    from app.core.db import Database
    from marketplace import services

    rng = random.Random(seed + 1)
    provinces = sorted(PROVINCES)
    cap = services.rate_cap("3.10", 4)
    db = Database(url)
    numbers = []
    try:
        with db.transaction() as s:
            officers = []
            for b in range(20):
                licence = f"BENCH-B{b:02d}"
                create_institution(s, name=f"基准银行{b:02d}股份有限公司", licence_no=licence)
                officers.append(create_user(s, username=f"bench-officer-{b}", password="bench-password-123",
                                            role="bank", institution_licence=licence))
            for n in range(count):
                requirements: dict[str, Any] = {}
                if rng.random() < 0.5:
                    requirements["min_tax_grade"] = "B"
                if rng.random() < 0.6:
                    requirements["no_dishonest"] = True
                if rng.random() < 0.3:
                    requirements["max_queries_3m"] = 6
                data = {
                    "name": f"电力信易贷{n:03d}", "type": "credit_loan",
                    "min_grade": rng.choices(["AAA", "AA", "A", "BBB"], [10, 50, 25, 15])[0],
                    "amount_min": Decimal(100_000), "amount_max": Decimal(rng.choice([1, 3, 5, 10, 30]) * 1_000_000),
                    "rate_min": Decimal("3.450"), "rate_max": Decimal("5.800"), "term_min": 1, "term_max": 36,
                    "repayment_methods": ["on_demand"],
                    "segments": rng.sample(SEGMENTS, rng.randint(1, 3)) if rng.random() < 0.3 else [],
                    "provinces": rng.sample(provinces, rng.randint(1, 5)) if rng.random() < 0.3 else [],
                    "min_years_in_business": rng.choice([0, 0, 2, 3, 5]), "requirements": requirements,
                    "collateral": "none", "grade_terms": {"AAA": {"rate_discount": Decimal("0.300")}},
                    "deadline": None,
                }
                officer = officers[n % len(officers)]
                product = services.create_product(s, officer, data, cap)
                services.change_status(s, officer, product.product_no, "live")
                numbers.append(product.product_no)
        return numbers
    finally:
        db.dispose()


def settle(url: str) -> None:
    if not url.startswith("postgresql"):
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
        engine.dispose()
        return
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")
    engine.dispose()


def measure(url: str, product_nos: list[str], samples: int, seed: int) -> dict[str, Any]:
    from app.accounts.models import User
    from app.archive.models import Enterprise
    from app.core.db import Database
    from marketplace import services
    from marketplace.models import Product

    rng = random.Random(seed + 2)
    db = Database(url)
    try:
        with db.transaction() as s:
            ids = list(s.scalars(sa.select(Enterprise.id)))
            products = {p.product_no: (p.min_grade, bool(p.segments or p.provinces), p.institution_id)
                        for p in s.scalars(sa.select(Product))}
            officers = {u.institution_id: u.id for u in s.scalars(sa.select(User).where(User.role == "bank"))}
        firm_ms, eligible_counts = [], []
        for ent_id in rng.sample(ids, min(samples, len(ids))):
            with db.transaction() as s:
                ent = s.get_one(Enterprise, ent_id)
                t = time.perf_counter()
                _, matches, near = services.products_for_firm(s, ent)
                firm_ms.append((time.perf_counter() - t) * 1000)
                eligible_counts.append(len(matches))
        # The bank side: the least restrictive products (most candidates) and a random few.
        open_ones = sorted((no for no, (grade, limited, _) in products.items() if not limited),
                           key=lambda no: ["AAA", "AA", "A", "BBB"].index(products[no][0]), reverse=True)
        picks = open_ones[:4] + rng.sample(product_nos, 8)
        list_s, listed = [], []
        for no in picks:
            with db.transaction() as s:
                officer = s.get_one(User, officers[products[no][2]])
                t = time.perf_counter()
                page = services.firms_for_product(s, officer, no, 1, 20)
                list_s.append(time.perf_counter() - t)
                listed.append((products[no][0], page.total))
        firm_ms.sort()
        return {"firm_p50": statistics.median(firm_ms), "firm_p95": firm_ms[int(len(firm_ms) * 0.95) - 1],
                "eligible_mean": statistics.mean(eligible_counts), "list_p50": statistics.median(list_s),
                "list_max": max(list_s), "listed": listed, "worst": listed[list_s.index(max(list_s))]}
    finally:
        db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--firms", type=int, default=100_000)
    ap.add_argument("--products", type=int, default=500)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20261202)
    args = ap.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    firms = make_firms(args.firms, args.seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="pc-bench-match-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            for backend in backends:
                t = time.perf_counter()
                url = fresh_database(backend, tmp, args.pg_url, PG_SCHEMAS[0])
                populate(url, firms)
                facts_data(url, args.seed)
                product_nos = publish_products(url, args.products, args.seed)
                settle(url)
                print(f"  [{backend}] set-up: {len(firms):,} firms, {len(product_nos)} live products in "
                      f"{time.perf_counter() - t:.1f} s", flush=True)
                res = measure(url, product_nos, args.samples, args.seed)
                print(f"  [{backend}] firm side p50 {res['firm_p50']:.1f} ms; full list max {res['list_max']:.2f} s",
                      flush=True)
                results.append((backend, res))
        finally:
            if "postgresql" in backends:
                drop_schemas(args.pg_url)
    print()
    print(f"{'backend':<11}{'firms':>9}{'products':>10}{'firm p50 ms':>13}{'p95 ms':>8}{'eligible/firm':>15}"
          f"{'list p50 s':>12}{'list max s':>12}  result")
    failed = False
    for backend, res in results:
        ok = res["firm_p50"] < FIRM_TARGET_MS and res["list_max"] < LIST_TARGET_S
        failed |= not ok
        print(f"{backend:<11}{args.firms:>9,}{args.products:>10}{res['firm_p50']:>13.2f}{res['firm_p95']:>8.2f}"
              f"{res['eligible_mean']:>15.1f}{res['list_p50']:>12.3f}{res['list_max']:>12.3f}  "
              f"{'PASS' if ok else 'FAIL'}")
    for backend, res in results:
        print(f"{backend}: eligible firms per product listed (min grade, count): "
              + ", ".join(f"{g} {n:,}" for g, n in res["listed"]) + f"; slowest: {res['worst'][0]} {res['worst'][1]:,}")
    print(f"targets: a firm's eligible products p50 < {FIRM_TARGET_MS:.0f} ms; one product's full eligible-firm "
          f"list < {LIST_TARGET_S:.0f} s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
