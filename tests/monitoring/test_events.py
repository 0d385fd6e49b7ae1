"""Events are written with their cause (an outbox) and dispatched once to those who may see them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.archive.ingestion import submit_batch
from app.archive.services import expire_records
from app.core import clock, signals
from app.core.errors import Forbidden
from app.monitoring import services
from app.monitoring.models import Alert, MonitoringEvent
from app.monitoring.parties import Party
from consent.models import ConsentStatus, QueryLog
from tests.conftest import contract_row, utility_row
from tests.monitoring.conftest import add_consent, alerts_of, dispatch, pending_events


def late_contract(uscc: str, ref: str) -> dict[str, Any]:
    today = clock.today()
    return contract_row(uscc, ref, status="late", due_on=(today - dt.timedelta(days=100)).isoformat(),
                        fulfilled_on=(today - dt.timedelta(days=60)).isoformat())


@pytest.fixture
def watched(db: Session, make_enterprise: Any, make_bank: Any, make_provider: Any) -> Any:
    firm = make_enterprise()
    inst, bank = make_bank()
    consent = add_consent(db, firm, inst)
    sub, created = services.subscribe(db, bank, uscc=firm.uscc, events=[])
    assert created
    provider = make_provider(["contract", "utility"])
    return firm, inst, bank, consent, sub, provider


def test_a_negative_record_is_one_alert_with_its_query_log_entry(db: Session, watched: Any) -> None:
    firm, inst, bank, consent, sub, provider = watched
    result = submit_batch(db, provider, [late_contract(firm.uscc, "late-1")], reevaluate=False)
    assert result.accepted == 1
    [event] = pending_events(db)
    assert event.type == "record.negative" and event.category == "contract" and event.public is False
    assert dispatch(db) == 1
    [alert] = alerts_of(db, bank)
    assert alert.type == "record.negative" and alert.subscription_pk == sub.id
    assert alert.payload["data"]["uscc"] == firm.uscc and alert.payload["data"]["record"]["category"] == "contract"
    log = db.get(QueryLog, alert.query_log_pk)
    assert log is not None and log.consent_pk == consent.id and log.resource == f"alert:{alert.alert_id}"
    assert dispatch(db) == 0 and len(alerts_of(db, bank)) == 1  # once, not again


def test_each_kind_of_record_event_is_raised_once(db: Session, watched: Any) -> None:
    firm, inst, bank, consent, sub, provider = watched
    month = (clock.today().replace(day=1) - dt.timedelta(days=40)).replace(day=1)
    arrears = utility_row(firm.uscc, "arrears-1", status="arrears", arrears_amount="9300.00", arrears_months=3,
                          month=month.strftime("%Y-%m"))
    del arrears["payload"]["paid_on"]
    rows = [late_contract(firm.uscc, "late-2"), arrears, utility_row(firm.uscc, "ontime-1")]
    assert submit_batch(db, provider, rows, reevaluate=False).accepted == 3
    dispatch(db)
    # The contract corrected by its provider: one record.corrected.
    fixed = late_contract(firm.uscc, "late-2")
    fixed["payload"]["amount"] = "130000.00"
    submit_batch(db, provider, [fixed], reevaluate=False)
    dispatch(db)
    types = sorted(a.type for a in alerts_of(db, bank))
    assert types == ["record.corrected", "record.negative", "utility.arrears"]


def test_events_roll_back_with_their_cause(db: Session, watched: Any) -> None:
    firm, inst, bank, consent, sub, provider = watched
    before = db.scalar(sa.select(sa.func.count()).select_from(MonitoringEvent))
    savepoint = db.begin_nested()
    submit_batch(db, provider, [late_contract(firm.uscc, "late-rb")], reevaluate=False)
    assert db.scalar(sa.select(sa.func.count()).select_from(MonitoringEvent)) == before + 1
    savepoint.rollback()
    assert db.scalar(sa.select(sa.func.count()).select_from(MonitoringEvent)) == before
    assert dispatch(db) == 0 and alerts_of(db, bank) == []


@pytest.mark.parametrize("status", [ConsentStatus.paused, ConsentStatus.revoked, ConsentStatus.expired])
def test_no_alert_once_the_consent_is_no_longer_in_force(db: Session, watched: Any, status: ConsentStatus) -> None:
    firm, inst, bank, consent, sub, provider = watched
    consent.status = status
    db.flush()
    submit_batch(db, provider, [late_contract(firm.uscc, f"late-{status}")], reevaluate=False)
    assert dispatch(db) == 1  # the event is taken …
    assert alerts_of(db, bank) == []  # … and the bank sees nothing
    assert db.scalar(sa.select(sa.func.count()).select_from(QueryLog).where(
        QueryLog.enterprise_id == firm.id)) == 0


def test_a_consent_past_its_window_stops_alerts(db: Session, watched: Any) -> None:
    firm, inst, bank, consent, sub, provider = watched
    consent.valid_until = clock.now() - dt.timedelta(seconds=1)
    db.flush()
    submit_batch(db, provider, [late_contract(firm.uscc, "late-window")], reevaluate=False)
    dispatch(db)
    assert alerts_of(db, bank) == []


def test_sections_outside_the_consent_are_not_alerted(db: Session, make_enterprise: Any, make_bank: Any,
                                                      make_provider: Any) -> None:
    firm = make_enterprise()
    inst, bank = make_bank()
    add_consent(db, firm, inst, scopes=["identity", "evaluation"])  # no contract section
    services.subscribe(db, bank, uscc=firm.uscc, events=[])
    submit_batch(db, make_provider(["contract"]), [late_contract(firm.uscc, "late-s")], reevaluate=False)
    signals.grades_changed.send(None, session=db, changes=[{
        "enterprise_id": firm.id, "old_grade": "AA", "new_grade": "A", "old_score": "80.00", "new_score": "72.00",
        "as_of": "2026-11-18"}])
    dispatch(db)
    assert sorted(a.type for a in alerts_of(db, bank)) == ["grade.downgraded", "grade.threshold_crossed"]


def test_a_bank_without_a_monitoring_consent_cannot_subscribe(db: Session, make_enterprise: Any,
                                                             make_bank: Any) -> None:
    firm = make_enterprise()
    inst, bank = make_bank()
    add_consent(db, firm, inst, purpose="loan_application")  # another purpose
    with pytest.raises(Forbidden) as refused:
        services.subscribe(db, bank, uscc=firm.uscc, events=[])
    assert refused.value.code == "consent_required"


def test_a_firm_subscribes_only_to_itself(db: Session, make_enterprise: Any) -> None:
    own, other = make_enterprise(), make_enterprise()
    firm = Party("firm", enterprise_id=own.id, actor="user:f")
    sub, _ = services.subscribe(db, firm, uscc=own.uscc, events=["list.entered"])
    assert sub.kind == "firm" and sub.subscriber_enterprise_id == own.id
    with pytest.raises(Forbidden):
        services.subscribe(db, firm, uscc=other.uscc, events=[])


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("AA", "A", ["grade.downgraded", "grade.threshold_crossed"]),
    ("A", "AA", ["grade.threshold_crossed", "grade.upgraded"]),
    ("AAA", "AA", ["grade.downgraded"]),
    ("BBB", "NR", ["grade.not_rated"]),
    ("NR", "A", ["grade.rated"]),
])
def test_grade_changes(db: Session, watched: Any, old: str, new: str, expected: list[str]) -> None:
    firm, inst, bank, consent, sub, provider = watched
    signals.grades_changed.send(None, session=db, changes=[{
        "enterprise_id": firm.id, "old_grade": old, "new_grade": new, "old_score": None, "new_score": None,
        "as_of": "2026-11-18"}])
    dispatch(db)
    alerts = alerts_of(db, bank)
    assert sorted(a.type for a in alerts) == expected
    crossed = [a for a in alerts if a.type == "grade.threshold_crossed"]
    for a in crossed:
        assert a.payload["data"]["threshold"] == "AA"
        assert a.payload["data"]["direction"] == ("below" if new == "A" else "above")


def test_event_filters_of_a_subscription(db: Session, watched: Any) -> None:
    firm, inst, bank, consent, sub, provider = watched
    services.subscribe(db, bank, uscc=firm.uscc, events=["utility.arrears"])  # narrows the same subscription
    submit_batch(db, provider, [late_contract(firm.uscc, "late-f")], reevaluate=False)
    dispatch(db)
    assert alerts_of(db, bank) == []


def test_a_record_past_retention_raises_record_expired(db: Session, watched: Any) -> None:
    firm, inst, bank, consent, sub, provider = watched
    submit_batch(db, provider, [late_contract(firm.uscc, "late-old")], reevaluate=False)
    dispatch(db)
    expired = expire_records(db, clock.today() + dt.timedelta(days=365 * 6))
    assert expired >= 1
    dispatch(db)
    assert [a.type for a in alerts_of(db, bank) if a.type == "record.expired"] == ["record.expired"]


def test_list_entry_objection_and_repair_events(db: Session, watched: Any) -> None:
    firm, inst, bank, consent, sub, provider = watched
    for kind, data in [("list.entered", {"list": "watch", "list_label": "重点关注名单", "entry_id": 1}),
                       ("objection.opened", {"objection_no": "obj_1", "category": "contract"}),
                       ("objection.resolved", {"objection_no": "obj_1", "category": "contract", "outcome": "upheld"}),
                       ("repair.approved", {"request_no": "rep_1", "list": "watch", "list_label": "重点关注名单"}),
                       ("list.exited", {"list": "watch", "list_label": "重点关注名单", "entry_id": 1})]:
        signals.oversight_changed.send(None, session=db, type=kind, enterprise_id=firm.id, data=data)
    dispatch(db)
    assert sorted(a.type for a in alerts_of(db, bank)) == sorted(
        ["list.entered", "objection.opened", "objection.resolved", "repair.approved", "list.exited"])
    assert db.scalar(sa.select(sa.func.count()).select_from(Alert).where(Alert.enterprise_id == firm.id)) == 5
