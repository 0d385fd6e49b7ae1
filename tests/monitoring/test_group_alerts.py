"""A group watching all its subsidiaries: public events from every level, the rest only under
the subsidiary's 集团信用管理 consent, nothing from a firm outside the group."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.accounts.services import create_institution
from app.archive.ingestion import submit_batch
from app.archive.relations import Filer, add_relation
from app.core import clock, signals
from app.core.errors import Forbidden
from app.monitoring import services
from app.monitoring.parties import Party
from tests.archive.payloads import payload
from tests.monitoring.conftest import add_consent, alerts_of, dispatch, pending_events


def test_a_group_sees_its_subsidiaries_public_events_and_the_rest_under_consent(
        db: Session, make_enterprise: Any) -> None:
    parent, child, grandchild, outsider = (make_enterprise() for _ in range(4))
    filer = Filer(operator="test")
    start = clock.today().replace(year=clock.today().year - 1)
    add_relation(db, filer, parent_uscc=parent.uscc, child_uscc=child.uscc, kind="controlling", share="60",
                 valid_from=start)
    add_relation(db, filer, parent_uscc=child.uscc, child_uscc=grandchild.uscc, kind="wholly_owned", share="100",
                 valid_from=start)
    inst = create_institution(db, name="测试电力集团", licence_no="GRP-T1", kind="group", uscc=parent.uscc)
    group = Party("group", institution_id=inst.id, enterprise_id=parent.id, actor="user:g")
    sub, _ = services.subscribe(db, group, uscc=parent.uscc, events=[], include_subsidiaries=True)
    assert sub.include_subsidiaries
    add_consent(db, child, inst, purpose="group_credit_management")  # the grandchild has granted nothing

    for firm in (child, grandchild, outsider):
        signals.grades_changed.send(None, session=db, changes=[{
            "enterprise_id": firm.id, "old_grade": "AAA", "new_grade": "AA", "old_score": None, "new_score": None,
            "as_of": "2026-11-18"}])
        signals.oversight_changed.send(None, session=db, type="objection.opened", enterprise_id=firm.id,
                                       data={"objection_no": f"obj_{firm.id}", "category": "contract"})
    dispatch(db)
    seen = sorted((a.enterprise_id, a.type) for a in alerts_of(db, group))
    assert seen == sorted([(child.id, "grade.downgraded"), (child.id, "objection.opened"),
                           (grandchild.id, "grade.downgraded")])


def test_a_group_cannot_subscribe_to_a_firm_outside_it(db: Session, make_enterprise: Any) -> None:
    parent, outsider = make_enterprise(), make_enterprise()
    inst = create_institution(db, name="测试电力集团二", licence_no="GRP-T2", kind="group", uscc=parent.uscc)
    group = Party("group", institution_id=inst.id, enterprise_id=parent.id, actor="user:g")
    with pytest.raises(Forbidden) as refused:
        services.subscribe(db, group, uscc=outsider.uscc, events=[])
    assert refused.value.code == "not_a_subsidiary"
    with pytest.raises(Forbidden):
        services.subscribe(db, group, uscc=outsider.uscc, events=[], include_subsidiaries=True)


def test_a_group_watching_a_subsidiary_twice_gets_each_event_once(db: Session, make_enterprise: Any) -> None:
    """Subscribed to all its subsidiaries and to one of them by name: one alert per event,
    under the subscription by name (the more specific)."""
    parent, child = make_enterprise(), make_enterprise()
    start = clock.today().replace(year=clock.today().year - 1)
    add_relation(db, Filer(operator="test"), parent_uscc=parent.uscc, child_uscc=child.uscc, kind="wholly_owned",
                 share="100", valid_from=start)
    inst = create_institution(db, name="测试电力集团三", licence_no="GRP-T3", kind="group", uscc=parent.uscc)
    group = Party("group", institution_id=inst.id, enterprise_id=parent.id, actor="user:g")
    services.subscribe(db, group, uscc=parent.uscc, events=[], include_subsidiaries=True)
    by_name, _ = services.subscribe(db, group, uscc=child.uscc, events=[])
    for old, new in (("AAA", "AA"), ("AA", "A")):
        signals.grades_changed.send(None, session=db, changes=[{
            "enterprise_id": child.id, "old_grade": old, "new_grade": new, "old_score": None, "new_score": None,
            "as_of": "2026-11-18"}])
    dispatch(db)
    alerts = alerts_of(db, group)
    assert sorted(a.type for a in alerts) == ["grade.downgraded", "grade.downgraded", "grade.threshold_crossed"]
    assert {a.subscription_pk for a in alerts} == {by_name.id}


def test_a_dishonest_judgment_reaches_a_group_only_under_consent(
        db: Session, make_enterprise: Any, make_provider: Any) -> None:
    """A 失信 judgment is not a public fact by itself (the public sees grades, lists and 双公示;
    the judgment only as a black-list entry's basis), as screening and the bidding edition hold."""
    parent, consenting, silent = make_enterprise(), make_enterprise(), make_enterprise()
    start = clock.today().replace(year=clock.today().year - 1)
    for child in (consenting, silent):
        add_relation(db, Filer(operator="test"), parent_uscc=parent.uscc, child_uscc=child.uscc,
                     kind="wholly_owned", share="100", valid_from=start)
    inst = create_institution(db, name="测试电力集团四", licence_no="GRP-T4", kind="group", uscc=parent.uscc)
    group = Party("group", institution_id=inst.id, enterprise_id=parent.id, actor="user:g")
    services.subscribe(db, group, uscc=parent.uscc, events=[], include_subsidiaries=True)
    add_consent(db, consenting, inst, purpose="group_credit_management")
    provider = make_provider(["judicial"])
    published = (clock.today() - dt.timedelta(days=30)).isoformat()
    rows = [{"provider_ref": f"dishonest-{firm.id}", "uscc": firm.uscc, "category": "judicial",
             "payload": {**payload("judicial"), "dishonest_conduct": "refuse_with_ability", "published_on": published}}
            for firm in (consenting, silent)]
    assert submit_batch(db, provider, rows, reevaluate=False).accepted == 2
    events = [e for e in pending_events(db) if e.type == "judicial.dishonest"]
    assert len(events) == 2 and not any(e.public for e in events)
    dispatch(db)
    seen = [(a.enterprise_id, a.type) for a in alerts_of(db, group)]
    assert seen == [(consenting.id, "judicial.dishonest")]
