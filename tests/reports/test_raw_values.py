"""The report's evaluation and query-record sections read raw driver values (through
``app.core.db.Prepared``): on both backends they must say exactly what the ORM's typed values
say — scores with two decimals, dates in ISO form, times in UTC with a ``Z``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from app.scoring.models import Evaluation
from app.scoring.services import evaluate_many
from consent.models import QueryLog
from reports.sections import evaluation, iso, query_records
from tests.reports.conftest import pull


def test_the_evaluation_section_says_what_the_stored_evaluations_say(archive, db):
    ent = archive.enterprise
    evaluate_many(db, [ent.id])
    first = db.scalar(sa.select(Evaluation).where(Evaluation.enterprise_id == ent.id))
    # An older, superseded evaluation with a score that ends in zero and a time with microseconds.
    db.add(Evaluation(enterprise_id=ent.id, scorecard_id=first.scorecard_id, scorecard_version="0.9",
                      as_of=dt.date(2025, 12, 31), score=Decimal("87.50"), grade="AA", uncapped_grade="AA",
                      supervision_class="A", willingness=Decimal("90.00"), capability=Decimal("80.05"),
                      performance=Decimal("7.10"), explanation={}, inputs_digest="0" * 64, record_count=0,
                      current=False, evaluated_at=dt.datetime(2026, 1, 1, 8, 30, 15, 123456, tzinfo=dt.UTC)))
    db.flush()
    stored = list(db.scalars(sa.select(Evaluation).where(Evaluation.enterprise_id == ent.id)
                             .order_by(Evaluation.evaluated_at, Evaluation.id)))
    db.expire_all()  # typed values re-read from the database, as the section reads them
    stored = [db.get(Evaluation, e.id) for e in stored]
    current = next(e for e in stored if e.current)

    section = evaluation(db, ent)

    assert section is not None
    assert section["grade"] == current.grade and section["score"] == str(current.score)
    assert section["dimensions"] == {"willingness": str(current.willingness), "capability": str(current.capability),
                                     "performance": str(current.performance)}
    assert section["as_of"] == current.as_of.isoformat() and section["evaluated_at"] == iso(current.evaluated_at)
    assert section["supervision_class"] == current.supervision_class
    assert section["history"] == [
        {"as_of": e.as_of.isoformat(), "evaluated_at": iso(e.evaluated_at), "grade": e.grade, "score": str(e.score),
         "scorecard_version": e.scorecard_version} for e in stored]
    old = section["history"][0]
    assert old == {"as_of": "2025-12-31", "evaluated_at": "2026-01-01T08:30:15Z", "grade": "AA", "score": "87.50",
                   "scorecard_version": "0.9"}


def test_the_grade_history_has_one_entry_per_day(archive, db):
    """Re-evaluations on one day (an objection, its outcome, a commitment) are one entry:
    the day's last."""
    ent = archive.enterprise
    evaluate_many(db, [ent.id])
    current = db.scalar(sa.select(Evaluation).where(Evaluation.enterprise_id == ent.id, Evaluation.current))
    for minutes in (30, 20):  # two earlier evaluations the same day, graded differently
        db.add(Evaluation(enterprise_id=ent.id, scorecard_id=current.scorecard_id,
                          scorecard_version=current.scorecard_version, as_of=current.as_of, score=Decimal("50.00"),
                          grade="B", uncapped_grade="B", supervision_class="C", willingness=Decimal("50.00"),
                          capability=Decimal("50.00"), performance=Decimal("50.00"), explanation={},
                          inputs_digest="1" * 64, record_count=0, current=False,
                          evaluated_at=current.evaluated_at - dt.timedelta(minutes=minutes)))
    db.flush()
    history = evaluation(db, ent)["history"]
    assert [(h["as_of"], h["grade"]) for h in history] == [(current.as_of.isoformat(), current.grade)]


def test_no_current_evaluation_gives_no_section_body(archive, db):
    assert evaluation(db, archive.enterprise) is None


def test_query_records_say_when_each_query_was_made_in_utc(archive, bank, active_token, db):
    _, tok = active_token(scopes=["identity", "tax"], fetch_type="periodic", frequency={"unit": "day", "value": 5})
    for _ in range(2):
        assert pull(bank, tok["access_token"], archive.enterprise.uscc).status_code == 201
    logged = list(db.scalars(sa.select(QueryLog).where(QueryLog.enterprise_id == archive.enterprise.id)
                             .order_by(QueryLog.at.desc(), QueryLog.id.desc())))
    assert len(logged) == 2
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)

    got = query_records(db, archive.enterprise, include_self=False, since=now - dt.timedelta(days=1),
                        issued_before=now)

    assert [q["at"] for q in got] == [iso(q.at) for q in logged]
    assert all(q["at"].endswith("Z") for q in got)
    assert [q["sections"] for q in got] == [list(q.sections) for q in logged]
    assert {tuple(q["sections"]) for q in got} == {("identity", "tax")}
    # The window is applied to the stored times: none before `since`, none from `issued_before` on.
    assert query_records(db, archive.enterprise, include_self=False, since=now, issued_before=now) == []
    assert query_records(db, archive.enterprise, include_self=False, since=None,
                         issued_before=logged[-1].at) == []


def test_a_screening_without_consent_is_in_the_self_report_not_in_a_banks(archive, bank, active_token, db):
    """A tenderer's screening of public facts names no consent: the firm sees it in its own
    query records, a bank's report does not show it (it is no access under a consent)."""
    _, tok = active_token(scopes=["identity", "tax"], fetch_type="periodic", frequency={"unit": "day", "value": 5})
    assert pull(bank, tok["access_token"], archive.enterprise.uscc).status_code == 201
    pulled = db.scalars(sa.select(QueryLog).where(QueryLog.enterprise_id == archive.enterprise.id)).one()
    db.add(QueryLog(at=pulled.at + dt.timedelta(seconds=1), enterprise_id=archive.enterprise.id,
                    institution_id=pulled.institution_id, consent_pk=None, purpose="bid_qualification",
                    sections=[], resource="screening:PS20261118AAAAAAAAAAAA"))
    db.flush()
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    for_bank = query_records(db, archive.enterprise, include_self=False, since=None, issued_before=now)
    for_firm = query_records(db, archive.enterprise, include_self=True, since=None, issued_before=now)
    assert [q["purpose"] for q in for_bank] == [str(pulled.purpose)]
    assert "bid_qualification" in [q["purpose"] for q in for_firm]
