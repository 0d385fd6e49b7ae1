"""Evaluations in the database: stored with version and digest, not duplicated when nothing
changed, history kept, records loaded in bulk."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from app.archive.ingestion import ingest_records
from app.archive.models import CreditRecord, RecordStatus
from app.scoring.models import Evaluation
from app.scoring.scorecard import parse_scorecard
from app.scoring.services import current_evaluation, evaluate, evaluate_many, timeline


def breached(rows, uscc: str, ref: str) -> dict:  # noqa: ANN001
    row = rows.contract(uscc, ref, status="breached")
    del row["payload"]["fulfilled_on"]
    return row


BUNDLED = json.loads((Path(__file__).resolve().parents[2] / "app/scoring/scorecards/power-v1.json")
                     .read_text("utf-8"))


def test_an_evaluation_is_stored_with_its_version_digest_and_explanation(db, make_enterprise, make_provider, rows,
                                                                        documented):
    ent = documented(make_enterprise())
    ingest_records(db, make_provider(), [rows.contract(ent.uscc, "c-1"), rows.utility(ent.uscc, "u-1")])
    ev = evaluate(db, ent)
    assert ev.scorecard_version == "2.0" and len(ev.inputs_digest) == 64
    assert 0 <= ev.score <= 100 and ev.grade in ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C")
    assert ev.coverage is not None and 0.5 <= ev.coverage <= 1
    assert ev.record_count == 2 + 15  # and the 14 bills and the tax grade of ``documented``
    keys = {f["key"] for f in ev.explanation["factors"]}
    assert {"contract_performance", "utility_payment", "tax_grade"} <= keys


def test_evaluating_again_with_the_same_inputs_keeps_the_same_evaluation(db, make_enterprise, make_provider, rows):
    ent = make_enterprise()
    ingest_records(db, make_provider(), [rows.contract(ent.uscc, "c-1")])
    first = evaluate(db, ent)
    again = evaluate(db, ent)
    assert again.id == first.id and (again.grade, again.score, again.inputs_digest) == (
        first.grade, first.score, first.inputs_digest)
    assert db.scalar(sa.select(sa.func.count()).select_from(Evaluation)) == 1


def test_new_records_give_a_new_evaluation_and_keep_the_old_one(db, make_enterprise, make_provider, rows, documented):
    ent = documented(make_enterprise())
    provider = make_provider()
    ingest_records(db, provider, [rows.contract(ent.uscc, "c-1")])
    first = evaluate(db, ent)
    assert ingest_records(db, provider, [breached(rows, ent.uscc, "c-2")]).accepted == 1
    second = evaluate(db, ent)
    assert second.id != first.id and second.inputs_digest != first.inputs_digest
    history = timeline(db, ent)
    assert [e.id for e in history] == [first.id, second.id]
    assert [e.current for e in history] == [False, True]
    assert second.score < first.score


def test_a_new_scorecard_version_produces_a_new_evaluation(db, make_enterprise, make_provider, rows):
    ent = make_enterprise()
    ingest_records(db, make_provider(), [rows.contract(ent.uscc, "c-1")])
    first = evaluate(db, ent)
    raw = copy.deepcopy(BUNDLED)
    raw["version"] = "1.1"
    second = evaluate(db, ent, card=parse_scorecard(raw))
    assert second.id != first.id and second.scorecard_version == "1.1"
    assert db.get(Evaluation, first.id).current is False


def test_expired_records_are_ignored(db, make_enterprise, make_provider, rows, documented):
    ent = documented(make_enterprise())
    result = ingest_records(db, make_provider(), [breached(rows, ent.uscc, "bad")])
    assert result.accepted == 1
    with_bad = evaluate(db, ent)
    db.execute(sa.update(CreditRecord).where(CreditRecord.id == result.rows[0].record_id)
               .values(status=RecordStatus.expired))
    without = evaluate(db, ent)
    assert without.record_count == 15 and without.score > with_bad.score


def test_a_batch_loads_in_bulk_not_per_firm(db, make_enterprise, make_provider, rows):
    provider = make_provider()
    firms = [make_enterprise() for _ in range(12)]
    ingest_records(db, provider, [rows.contract(f.uscc, f"c-{i}") for i, f in enumerate(firms)])
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # noqa: ANN001, ANN202
        statements.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        stats = evaluate_many(db, [f.id for f in firms])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert (stats.firms, stats.evaluated) == (12, 12)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # the providers' coverage (once a run), firms, records, current evaluations; none per firm
    assert len(selects) <= 5, selects
    assert all(current_evaluation(db, f).record_count == 1 for f in firms)


def test_worker_processes_give_the_same_evaluations(db, make_enterprise, make_provider, rows, monkeypatch, documented):
    from app.scoring import services

    monkeypatch.setattr(services, "BATCH", 3)
    provider = make_provider()
    firms = [documented(make_enterprise()) for _ in range(10)]
    ingest_records(db, provider, [rows.contract(f.uscc, f"c-{i}") for i, f in enumerate(firms)]
                   + [breached(rows, f.uscc, f"b-{i}") for i, f in enumerate(firms[::3])])
    stats = evaluate_many(db, [f.id for f in firms], workers=2)
    assert (stats.firms, stats.evaluated) == (10, 10)
    in_parallel = {f.id: (current_evaluation(db, f).grade, current_evaluation(db, f).inputs_digest) for f in firms}
    again = evaluate_many(db, [f.id for f in firms], workers=0)
    assert (again.evaluated, again.unchanged) == (0, 10)  # same digests: nothing new stored
    assert {f.id: (current_evaluation(db, f).grade, current_evaluation(db, f).inputs_digest)
            for f in firms} == in_parallel
    assert len({g for g, _ in in_parallel.values()}) >= 2
