"""Evaluation benchmark: a batch over every firm, and single evaluations, on SQLite and
PostgreSQL.

    .venv/bin/python bench/evaluate.py [--firms 100000] [--per-firm 20] [--scorecard power-v2.json]
                                       [--backend sqlite|postgresql|both] [--samples 300]
                                       [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Per backend: a fresh database built by the migrations; ``--firms`` firms registered and
``--per-firm`` valid records each (the category mix of bench/ingest.py) written through the
ingestion service, then on PostgreSQL VACUUM ANALYZE as autovacuum would (set-up, not timed).
Then, timed:

1. **Batch**: ``run_evaluations(session, "all")`` — what ``powercredit evaluate --all`` runs —
   in one transaction including the commit; printed as seconds and firms/s.
2. **Single**: ``--samples`` random firms evaluated one at a time with ``evaluate()`` at the
   next day (so that each is a real new evaluation, written), each in its own transaction;
   p50 / p95 of the ``evaluate()`` call (loads, computes, writes, reads back), and the p50
   including the commit (on PostgreSQL that adds a WAL flush).

Targets (2-core machine): the batch under 60 s for 100,000 firms, a single evaluation p50
under 5 ms.  Exits 1 when a target is missed.  It prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
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

from bench.ingest import PG_SCHEMAS, RowGen, drop_schemas, fresh_database, make_firms, populate  # noqa: E402

BATCH_TARGET_S = 60.0
SINGLE_TARGET_MS = 5.0


def write_records(path: Path, usccs: list[str], per_firm: int, seed: int) -> int:
    gen = RowGen(usccs, seed)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for uscc in usccs:
            for k in range(per_firm):
                category = gen.rng.choices(gen.cats, gen.weights)[0]
                row = {"provider_ref": f"{uscc}-{k}", "uscc": uscc, "category": category,
                       "payload": getattr(gen, category)(uscc)}
                fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
                n += 1
    return n


def load(url: str, path: Path) -> int:
    from app.archive.ingestion import ingest_records
    from app.archive.readers import iter_file
    from app.archive.services import get_provider
    from app.core.db import Database
    from app.core.workers import default_workers
    from bench.ingest import PROVIDER_CODE

    db = Database(url)
    try:
        with db.transaction() as s:
            result = ingest_records(s, get_provider(s, PROVIDER_CODE), iter_file(path, lazy=True), source="file",
                                    keep_rows=False, workers=default_workers(), chunk_size=2000)
        assert result.refused == 0, result.refusals[:3]
        return result.accepted
    finally:
        db.dispose()


def settle(url: str) -> None:
    """PostgreSQL, after the bulk load: what autovacuum does before anyone evaluates —
    VACUUM ANALYZE (otherwise the first reads of freshly copied rows also write every page to
    set hint bits: a cost of the load, not of evaluation).  SQLite is left as loaded."""
    if not url.startswith("postgresql"):
        return
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) credit_record")
            conn.exec_driver_sql("VACUUM (ANALYZE) enterprise")
    finally:
        engine.dispose()


def measure(url: str, samples: int, seed: int, workers: int, scorecard: str) -> dict[str, Any]:
    from app.archive.models import Enterprise
    from app.core import clock
    from app.core.db import Database
    from app.scoring.scorecard import load_scorecard
    from app.scoring.services import evaluate, grade_distribution, run_evaluations
    from app.wiring import wire

    wire()
    card = load_scorecard(name=scorecard)
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        t0 = time.perf_counter()
        with db.transaction() as s:
            run = run_evaluations(s, "all", card=card, workers=workers)
            firms = run.firms
        batch_s = time.perf_counter() - t0
        with db.transaction() as s:
            distribution = grade_distribution(s)
            ids = list(s.scalars(sa.select(Enterprise.id)))
        tomorrow = clock.today() + dt.timedelta(days=1)
        picks = random.Random(seed).sample(ids, min(samples, len(ids)))
        timings, with_commit = [], []
        for ent_id in picks:
            with db.transaction() as s:
                ent = s.get_one(Enterprise, ent_id)
                t = time.perf_counter()
                evaluate(s, ent, tomorrow, card=card)
                timings.append((time.perf_counter() - t) * 1000)
            with_commit.append((time.perf_counter() - t) * 1000)
        timings.sort()
        with_commit.sort()
        return {"firms": firms, "batch_s": batch_s, "p50": statistics.median(timings),
                "p95": timings[int(len(timings) * 0.95) - 1], "p50_commit": statistics.median(with_commit),
                "distribution": distribution}
    finally:
        db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--firms", type=int, default=100_000)
    ap.add_argument("--per-firm", type=int, default=20)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--workers", type=int, default=0, help="as `powercredit evaluate --workers` (default 0)")
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--scorecard", default="power-v2.json", help="a bundled scorecard (default power-v2.json)")
    args = ap.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    firms = make_firms(args.firms, args.seed)
    usccs = [f["uscc"] for f in firms]
    results = []
    with tempfile.TemporaryDirectory(prefix="pc-bench-eval-") as tmp_name:
        tmp = Path(tmp_name)
        path = tmp / "records.ndjson"
        t = time.perf_counter()
        total = write_records(path, usccs, args.per_firm, args.seed)
        print(f"Generated {total:,} records for {len(firms):,} firms in {time.perf_counter() - t:.1f} s", flush=True)
        try:
            for backend in backends:
                t = time.perf_counter()
                url = fresh_database(backend, tmp, args.pg_url, PG_SCHEMAS[0])
                populate(url, firms)
                loaded = load(url, path)
                settle(url)
                print(f"  [{backend}] set-up: {len(firms):,} firms, {loaded:,} records in "
                      f"{time.perf_counter() - t:.1f} s", flush=True)
                res = measure(url, args.samples, args.seed, args.workers, args.scorecard)
                print(f"  [{backend}] batch {res['batch_s']:.1f} s; single p50 {res['p50']:.2f} ms", flush=True)
                results.append((backend, res))
        finally:
            if "postgresql" in backends:
                drop_schemas(args.pg_url)
    print()
    print(f"{'backend':<11}{'firms':>9}{'records':>11}{'batch s':>9}{'firms/s':>10}{'single p50 ms':>15}"
          f"{'p95 ms':>8}{'+commit p50':>13}  result")
    failed = False
    for backend, res in results:
        ok = res["batch_s"] < BATCH_TARGET_S * res["firms"] / 100_000 and res["p50"] < SINGLE_TARGET_MS
        failed |= not ok
        print(f"{backend:<11}{res['firms']:>9,}{res['firms'] * args.per_firm:>11,}{res['batch_s']:>9.1f}"
              f"{res['firms'] / res['batch_s']:>10,.0f}{res['p50']:>15.2f}{res['p95']:>8.2f}"
              f"{res['p50_commit']:>13.2f}  "
              f"{'PASS' if ok else 'FAIL'}")
    for backend, res in results:
        print(f"{backend}: grade distribution " + ", ".join(f"{g} {n}" for g, n in res["distribution"].items()))
    print(f"scorecard: {args.scorecard}")
    print(f"targets: batch < {BATCH_TARGET_S:.0f} s per 100,000 firms, single evaluation p50 < {SINGLE_TARGET_MS} ms")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
