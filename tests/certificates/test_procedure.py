"""The procedure: application (申报) and its conditions, the evaluation, the notice period (公示)
at its edges, objections during it, issue (发证) after it, withdrawal; each change recorded."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
import time_machine

from app.audit.models import AuditEvent
from app.certificates import services
from app.certificates.errors import (
    NotEligible,
    NoticeClosed,
    NoticeRunning,
    ObjectionsOpen,
    OwnCertificate,
)
from app.certificates.models import CertificateEvent, CertificateObjection
from app.core import clock
from app.core.errors import Conflict, Forbidden
from app.oversight.models import Notice
from app.scoring.scorecard import GRADES
from tests.certificates.conftest import OPERATOR, days, reload

SECOND = dt.timedelta(seconds=1)


def test_an_application_is_published_for_seven_days_counting_the_day_of_publication(db, applied):
    cert, ent, user = applied("AA")
    assert cert.status == "applied" and services.NUMBER_RE.match(cert.certificate_no)
    assert cert.certificate_no.startswith(f"PCC{clock.today().year}")
    services.evaluate(db, cert.certificate_no, OPERATOR)
    assert cert.status == "publicized" and cert.grade == "AA" and cert.score == "85.00"
    assert cert.scorecard_version == "2.0" and cert.grade_as_of == clock.today() - days(30)
    # Published on Wednesday 18 November: the notice runs to the end of Tuesday 24 November, Beijing time.
    assert clock.to_cn(cert.notice_from).date() == dt.date(2026, 11, 18)
    assert clock.to_cn(cert.notice_until) == dt.datetime(2026, 11, 24, 23, 59, 59, 999999, tzinfo=clock.BEIJING)
    assert [e.to_status for e in services.events_of(db, cert)] == ["applied", "publicized"]
    notice = db.scalars(sa.select(Notice).where(Notice.enterprise_id == ent.id)).one()
    assert "2026-11-24" in notice.body and "AA" in notice.body


def test_the_notice_period_is_configurable(db, applied, monkeypatch):
    from app.certificates import rules

    monkeypatch.setenv(rules.ENV, '{"notice_days": 10}')
    rules.load()
    cert, _, _ = applied()
    services.evaluate(db, cert.certificate_no, OPERATOR)
    assert clock.to_cn(cert.notice_until).date() == dt.date(2026, 11, 27)


def test_an_objection_one_second_before_the_end_is_taken_one_second_after_is_refused(db, publicized, person):
    cert, _, _ = publicized()
    bank, other = person("bank"), person("tenderer")
    with time_machine.travel(cert.notice_until - SECOND, tick=False):
        o = services.object_to(db, bank, cert.certificate_no, "该企业去年有重大合同违约未报送")
    assert o.status == "open" and o.objection_no.startswith("cob_")
    with time_machine.travel(cert.notice_until + SECOND, tick=False), pytest.raises(NoticeClosed):
        services.object_to(db, other, cert.certificate_no, "迟到的异议")


def test_issue_is_refused_before_the_end_of_the_notice_and_done_after(db, publicized, keys):
    cert, ent, _ = publicized("AAA")
    with time_machine.travel(cert.notice_until, tick=False), pytest.raises(NoticeRunning) as refused:
        services.issue(db, keys, cert.certificate_no, OPERATOR)
    assert "2026-11-24 23:59:59" in refused.value.detail
    assert reload(db, cert).status == "publicized"
    with time_machine.travel(cert.notice_until + SECOND, tick=False):
        services.issue(db, keys, cert.certificate_no, OPERATOR)
        assert cert.status == "issued"
        assert cert.valid_from == dt.date(2026, 11, 25) and cert.valid_until == dt.date(2029, 11, 24)
        assert cert.next_review_on == dt.date(2027, 11, 25)
        assert cert.digest == services.sha256_hex(cert.body.encode()) and cert.kid == keys.active
        doc = services.frozen(cert)
        assert doc["subject"] == {"name": ent.name, "uscc": ent.uscc} and doc["grade"] == "AAA"
        assert services.current_certificate(db, ent.id, clock.today()) is cert
        assert services.valid_certificate_firms(db, [ent.id], clock.today()) == {ent.id}


def test_an_open_objection_blocks_issue_until_dismissed(db, publicized, keys, person, operator):
    cert, _, _ = publicized(days_ago=8)
    with time_machine.travel(clock.now() - days(7), tick=False):
        o = services.object_to(db, person("bank"), cert.certificate_no, "评价依据的纳税等级有误")
    with pytest.raises(ObjectionsOpen):
        services.issue(db, keys, cert.certificate_no, OPERATOR)
    assert services.advance(db, keys).issued == 0  # the job leaves it too
    services.resolve_objection(db, operator, o.objection_no, "dismissed", "经核查，纳税等级为税务机关公布的结果")
    assert o.status == "dismissed" and o.resolved_by == operator.id
    outcome = services.advance(db, keys)
    assert outcome.issued == 1 and outcome.numbers["issued"] == [cert.certificate_no]
    assert reload(db, cert).status == "issued"
    # Worded from what happened: there was an objection, found not to hold.
    assert cert.status_reason == "公示期满，异议经核查不成立，颁发证书"
    assert services.events_of(db, cert)[-1].reason == "公示期满，异议经核查不成立，颁发证书"


def test_an_upheld_objection_rejects_the_result(db, publicized, keys, person, operator):
    cert, ent, _ = publicized()
    o = services.object_to(db, person("group"), cert.certificate_no, "该企业有未结清的电费欠费")
    services.resolve_objection(db, operator, o.objection_no, "upheld", "经核查属实，欠费 3 个月")
    assert reload(db, cert).status == "rejected" and cert.status_reason == "异议成立：经核查属实，欠费 3 个月"
    with time_machine.travel(cert.notice_until + SECOND, tick=False):
        assert services.advance(db, keys).issued == 0
    with pytest.raises(Conflict):
        services.resolve_objection(db, operator, o.objection_no, "dismissed", "再处理一次")
    events = services.events_of(db, cert)
    assert events[-1].to_status == "rejected" and events[-1].detail["objection_no"] == o.objection_no
    titles = list(db.scalars(sa.select(Notice.title).where(Notice.enterprise_id == ent.id).order_by(Notice.id)))
    assert titles == ["信用等级评价结果公示", "评价结果收到异议", "评价结果异议处理：异议成立"]


def test_the_firm_cannot_object_to_its_own_result_nor_twice_nor_resolve(db, publicized, person, operator):
    cert, _, user = publicized()
    with pytest.raises(OwnCertificate):
        services.object_to(db, user, cert.certificate_no, "自己的异议")
    bank = person("bank")
    o = services.object_to(db, bank, cert.certificate_no, "第一件")
    with pytest.raises(Conflict) as twice:
        services.object_to(db, bank, cert.certificate_no, "第二件")
    assert twice.value.code == "objection_open"
    for who in (user, bank, person("tenderer")):
        with pytest.raises(Forbidden):
            services.resolve_objection(db, who, o.objection_no, "upheld", "不是征信机构")


@pytest.mark.parametrize(("current", "reason"), [("NR", "不予评级"), ("BBB", "低于获证最低等级 A")])
def test_an_application_is_refused_when_the_grade_cannot_be_certified(db, make_enterprise, grade, firm_user, current,
                                                                        reason):
    ent = make_enterprise()
    grade(ent, current)
    with pytest.raises(NotEligible) as refused:
        services.apply(db, firm_user(ent))
    assert reason in refused.value.errors["grade"][0]


def test_an_unrated_firm_and_an_application_under_way_are_refused(db, make_enterprise, firm_user, applied):
    with pytest.raises(NotEligible) as refused:
        services.apply(db, firm_user(make_enterprise()))
    assert "尚未进行信用评价" in refused.value.errors["grade"][0]
    cert, ent, user = applied()
    with pytest.raises(Conflict) as again:
        services.apply(db, user)
    assert again.value.code == "certificate_application_open" and cert.certificate_no in again.value.detail


def test_the_evaluation_rejects_a_grade_fallen_since_the_application(db, applied, grade):
    cert, ent, _ = applied("A")
    grade(ent, "BBB")
    services.evaluate(db, cert.certificate_no, OPERATOR)
    assert cert.status == "rejected" and "BBB 低于获证最低等级 A" in cert.status_reason
    assert cert.grade == "BBB"  # what the evaluation found is kept


def test_a_firm_holding_a_certificate_applies_again_only_near_its_end(db, issued, keys):
    cert, ent, user = issued()
    with pytest.raises(Conflict) as refused:
        services.apply(db, user)
    assert refused.value.code == "certificate_in_force" and "2029-08-" in refused.value.detail
    with time_machine.travel(clock.start_of_day(cert.valid_until - days(90)), tick=False):
        renewal = services.apply(db, user)
        services.evaluate(db, renewal.certificate_no, OPERATOR)
    with time_machine.travel(renewal.notice_until + SECOND, tick=False):
        services.issue(db, keys, renewal.certificate_no, OPERATOR)
        assert renewal.status == "issued"
        assert reload(db, cert).status == "expired" and renewal.certificate_no in cert.status_reason


def test_a_suspended_certificate_blocks_a_new_application_until_lifted(db, issued, person):
    """Applying again while suspended would, once issued, expire the suspended one as renewed:
    the suspension lifted without the operator who imposed it."""
    cert, ent, user = issued()
    operator = person("operator")
    services.suspend(db, operator, cert.certificate_no, "核查申报材料")
    with pytest.raises(Conflict) as refused:
        services.apply(db, user)
    assert refused.value.code == "certificate_suspended" and cert.certificate_no in refused.value.detail
    services.restore(db, operator, cert.certificate_no, "核查无误")
    with pytest.raises(Conflict) as again:
        services.apply(db, user)
    assert again.value.code == "certificate_in_force"  # restored: the ordinary renewal rule again


def test_the_firm_withdraws_before_issue_and_open_objections_end(db, publicized, person):
    cert, _, user = publicized()
    o = services.object_to(db, person("bank"), cert.certificate_no, "有异议")
    services.withdraw(db, user, cert.certificate_no, "材料需补充")
    # Closed, not judged: neither upheld nor dismissed (「异议不成立」 it was not).
    closed = db.get(CertificateObjection, o.id)
    db.refresh(closed)  # the update went to the database, not to the object in the session
    assert cert.status == "withdrawn" and closed.status == "closed"
    assert (closed.resolved_by, closed.resolution) == (None, "企业已撤回申报，异议终结") and closed.resolved_at is not None
    with pytest.raises(services.StatusConflict):
        services.withdraw(db, user, cert.certificate_no, None)


def test_every_change_is_an_event_and_an_audit_event(db, issued, operator):
    cert, ent, _ = issued()
    services.suspend(db, operator, cert.certificate_no, "核查材料真实性")
    services.restore(db, operator, cert.certificate_no, "核查无误")
    services.revoke(db, operator, cert.certificate_no, "企业申请注销")
    events = list(db.scalars(sa.select(CertificateEvent).where(CertificateEvent.certificate_pk == cert.id)
                             .order_by(CertificateEvent.id)))
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, "applied"), ("applied", "publicized"), ("publicized", "issued"), ("issued", "suspended"),
        ("suspended", "issued"), ("issued", "revoked")]
    assert events[3].actor == f"user:{operator.username}" and events[3].detail["cause"] == "manual"
    actions = list(db.scalars(sa.select(AuditEvent.action).where(AuditEvent.subject_id == cert.certificate_no)
                              .order_by(AuditEvent.id)))
    assert actions == ["certificate.applied", "certificate.publicized", "certificate.issued", "certificate.suspended",
                       "certificate.restored", "certificate.revoked"]
    firm_events = db.scalars(sa.select(AuditEvent).where(AuditEvent.uscc == ent.uscc,
                                                         AuditEvent.subject_type == "certificate")).all()
    assert len(firm_events) == 6  # the firm can list and prove each


def test_two_racing_changes_do_not_both_apply(db, issued, operator):
    cert, _, _ = issued()
    stale = services.get_certificate(db, cert.certificate_no)
    services.revoke(db, operator, cert.certificate_no, "先到的撤销")
    stale_status = "issued"  # what a second request read before the first committed
    db.expire(stale)
    with pytest.raises(services.StatusConflict):
        services._move(db, stale, (services.S.issued,), services.S.suspended, OPERATOR, "后到的暂停", cause="manual")
    assert reload(db, cert).status == "revoked" and stale_status == "issued"


def test_numbers_are_never_a_report_number_and_grades_cover_the_scale():
    number = services.new_certificate_no(clock.now())
    assert len(number) == 19 and number.startswith("PCC2026") and not number[2].isdigit()
    assert len(GRADES) == 9


def test_a_reason_typed_with_a_full_stop_ends_the_notice_once(db, publicized, issued, person, operator):
    """Free text ending in 「。」 inside a notice that ends on its own: one full stop, never 「。。」."""
    cert, ent, _ = publicized()
    o = services.object_to(db, person("bank"), cert.certificate_no, "有异议")
    services.resolve_objection(db, operator, o.objection_no, "dismissed", "经核查，纳税等级为税务机关公布的结果。")
    other = services.object_to(db, person("tenderer"), cert.certificate_no, "仍有异议")
    services.resolve_objection(db, operator, other.objection_no, "upheld", "经核查属实。")
    held, held_ent, _ = issued()
    services.suspend(db, operator, held.certificate_no, "核查申报材料。")
    services.restore(db, operator, held.certificate_no, "核查无误。 ")
    services.revoke(db, operator, held.certificate_no, "企业申请注销；")
    def bodies_of(firm):
        return list(db.scalars(sa.select(Notice.body).where(Notice.enterprise_id == firm.id).order_by(Notice.id)))

    told, held_told = bodies_of(ent), bodies_of(held_ent)
    assert told[-3].endswith("已处理：异议不成立。说明：经核查，纳税等级为税务机关公布的结果。")
    assert told[-1].endswith("已处理：异议成立。说明：经核查属实；该评价结果不予发证。")
    assert held_told[-3].endswith("已被征信机构暂停：核查申报材料。")
    assert held_told[-2].endswith("已恢复有效：核查无误。") and held_told[-1].endswith("已被征信机构撤销：企业申请注销。")
    bodies = told + held_told
    for body in bodies:
        assert "。。" not in body and "。；" not in body and "；。" not in body, body


@pytest.mark.parametrize(("objections", "reason"), [
    (0, "公示期满无异议，颁发证书"),
    (1, "公示期满，异议经核查不成立，颁发证书"),
    (2, "公示期满，2 件异议经核查均不成立，颁发证书"),
])
def test_the_issue_says_what_became_of_the_objections(db, publicized, keys, person, operator, objections, reason):
    cert, _, _ = publicized(days_ago=8)
    for who in ("bank", "tenderer")[:objections]:
        with time_machine.travel(clock.now() - days(7), tick=False):
            o = services.object_to(db, person(who), cert.certificate_no, "请核查")
        services.resolve_objection(db, operator, o.objection_no, "dismissed", "经核查，与事实不符")
    services.issue(db, keys, cert.certificate_no, OPERATOR, note="核对无误")
    assert cert.status == "issued" and cert.status_reason == reason
    event = services.events_of(db, cert)[-1]
    assert (event.reason, event.detail["note"]) == (reason, "核对无误")


def test_an_objection_closed_by_the_withdrawal_cannot_be_resolved(db, publicized, person, operator):
    cert, _, user = publicized()
    o = services.object_to(db, person("bank"), cert.certificate_no, "有异议")
    services.withdraw(db, user, cert.certificate_no, None)
    with pytest.raises(Conflict) as refused:
        services.resolve_objection(db, operator, o.objection_no, "dismissed", "迟到的处理")
    assert refused.value.code == "objection_resolved" and "随企业撤回申报终结" in refused.value.detail
    for outcome in ("closed", "open", "bogus"):
        with pytest.raises(services.InvalidInput) as bad:
            services.resolve_objection(db, operator, o.objection_no, outcome, "x")
        assert bad.value.errors == {"outcome": ["处理结果只能是异议成立或异议不成立。"]}
    assert db.get(CertificateObjection, o.id).status == "closed"
