"""The automatic rule: black-list entry revokes; a grade fall suspends or revokes at the rule's
edges; a recovery restores (not an operator's suspension); expiry; the annual review; the
rule from configuration, a bad key stopping start-up; the daily job."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine

from app import wiring
from app.certificates import rules, services
from app.certificates.rules import Action, Rules, parse_rules
from app.core import clock, jobs, signals
from app.core.config import ConfigError
from app.oversight.models import Notice
from tests.certificates.conftest import reload


def regrade(db: Any, ent: Any, grade: Any, old: str, new: str) -> None:
    """The firm's grade changes as scoring changes it: a new current evaluation, and the signal."""
    grade(ent, new, days=0)
    signals.grades_changed.send(None, session=db, changes=[{
        "enterprise_id": ent.id, "old_grade": old, "new_grade": new, "old_score": "85.00", "new_score": "60.00",
        "as_of": clock.today().isoformat()}])


def test_entering_the_black_list_revokes_the_certificate_and_rejects_a_result_in_notice(db, issued, publicized,
                                                                                        black_list):
    cert, ent, _ = issued("AAA")
    other, other_ent, _ = publicized("AA")
    black_list(ent)  # published: oversight_changed list.entered, then the firm is re-graded
    assert reload(db, cert).status == "revoked" and cert.status_reason == "企业列入失信联合惩戒名单（黑名单）"
    [event] = [e for e in services.events_of(db, cert) if e.to_status == "revoked"]
    assert event.actor == "system:black_list" and event.detail["cause"] == "black_list"
    assert services.current_certificate(db, ent.id, clock.today()) is None
    black_list(other_ent)
    assert reload(db, other).status == "rejected" and "黑名单" in other.status_reason
    notice = db.scalars(sa.select(Notice).where(Notice.enterprise_id == ent.id, Notice.kind == "certificate")
                        .order_by(Notice.id.desc()).limit(1)).one()
    assert notice.title == "信用等级证书已撤销"


def test_a_black_listed_firm_cannot_apply(db, make_enterprise, grade, firm_user, black_list):
    ent = make_enterprise()
    black_list(ent)
    grade(ent, "AA")
    with pytest.raises(services.Conflict) as refused:
        services.apply(db, firm_user(ent))
    assert refused.value.code == "black_listed"


@pytest.mark.parametrize(("certified", "new", "status"), [
    ("AA", "A", "issued"),  # one step, still at or above the minimum: stands
    ("AA", "BBB", "suspended"),  # two steps: suspend_steps
    ("AAA", "BBB", "suspended"),  # three steps (below the minimum as well)
    ("AA", "BB", "suspended"),  # three steps
    ("AA", "B", "revoked"),  # four steps: revoke_steps
    ("A", "BBB", "suspended"),  # one step, but below the minimum grade A
    ("A", "B", "suspended"),  # three steps, B is not below the floor B
    ("A", "CCC", "revoked"),  # below the floor B (and four steps)
    ("AAA", "NR", "suspended"),  # not rated: cannot be confirmed
])
def test_a_grade_fall_is_judged_at_the_rules_edges(db, issued, grade, certified, new, status):
    cert, ent, _ = issued(certified)
    regrade(db, ent, grade, certified, new)
    assert reload(db, cert).status == status
    if status != "issued":
        assert new in cert.status_reason


def test_the_rule_in_words():
    r = Rules()
    assert r.judge("AAA", "AAA") == (Action.stand, None)
    assert r.judge("AAA", "A")[0] == Action.suspend and "下降 2 级" in r.judge("AAA", "A")[1]
    assert r.judge("AAA", "BB")[0] == Action.revoke
    assert r.judge("AA", None) == (Action.suspend, "企业当前没有信用评价，无法确认证书等级")
    lenient = Rules(suspend_steps=3, revoke_steps=6, revoke_below=None)
    assert lenient.judge("AAA", "A") == (Action.stand, None)
    assert lenient.judge("AAA", "BB")[0] == Action.suspend
    assert lenient.judge("AAA", "CC")[0] == Action.revoke


def test_a_suspension_by_the_rule_is_lifted_when_the_grade_recovers_an_operators_is_not(db, issued, grade, operator):
    cert, ent, _ = issued("AA")
    regrade(db, ent, grade, "AA", "BB")
    assert reload(db, cert).status == "suspended"
    regrade(db, ent, grade, "BB", "A")
    assert reload(db, cert).status == "issued" and cert.status_reason == "信用等级恢复为 A，证书恢复有效"
    services.suspend(db, operator, cert.certificate_no, "核查申报材料")
    regrade(db, ent, grade, "A", "AA")
    assert reload(db, cert).status == "suspended"  # an operator's suspension waits for an operator
    services.restore(db, operator, cert.certificate_no, "核查无误")
    assert cert.status == "issued"


def test_restoring_by_the_rule_can_be_turned_off_and_an_operator_cannot_restore_below_the_rule(
        db, issued, grade, operator, monkeypatch):
    monkeypatch.setenv(rules.ENV, '{"restore": false}')
    rules.load()
    cert, ent, _ = issued("AA")
    regrade(db, ent, grade, "AA", "BBB")
    regrade(db, ent, grade, "BBB", "AA")
    assert reload(db, cert).status == "suspended"
    grade(ent, "BB", days=0)
    with pytest.raises(services.Conflict) as refused:
        services.restore(db, operator, cert.certificate_no, "恢复")
    assert refused.value.code == "rule_not_met"


def test_the_daily_job_expires_certificates_after_their_last_day(db, issued, keys):
    cert, ent, _ = issued("AA")
    assert cert.valid_until == dt.date(2029, 11, 17)
    with time_machine.travel(clock.at_cn(dt.date(2029, 11, 17), 23, 59), tick=False):
        assert services.advance(db, keys).expired == 0
        assert services.valid_certificate_firms(db, [ent.id], clock.today()) == {ent.id}
    with time_machine.travel(clock.at_cn(dt.date(2029, 11, 18), 0, 15), tick=False):
        # Past its validity it is expired to every reader, before the job marks it.
        assert services.effective_status(cert) == "expired"
        assert services.verification(db, keys, cert.certificate_no, None)["in_force"] is False
        outcome = services.advance(db, keys)
    assert outcome.expired == 1 and reload(db, cert).status == "expired"
    assert services.current_certificate(db, ent.id, dt.date(2029, 11, 18)) is None


def test_the_annual_review_passes_or_suspends_and_sets_the_next(db, issued, grade, keys):
    cert, ent, _ = issued("AA")
    assert cert.next_review_on == dt.date(2027, 11, 18)
    with time_machine.travel(clock.at_cn(dt.date(2027, 11, 17), 1), tick=False):
        assert services.advance(db, keys).reviewed == 0
    with time_machine.travel(clock.at_cn(dt.date(2027, 11, 18), 1), tick=False):
        assert services.advance(db, keys).reviewed == 1
    assert reload(db, cert).status == "issued" and cert.next_review_on == dt.date(2028, 11, 18)
    review = services.events_of(db, cert)[-1]
    assert (review.from_status, review.to_status) == ("issued", "issued") and review.reason == "年度复核通过：当前信用等级 AA"
    grade(ent, "BBB", days=0)  # re-graded without the signal reaching us: the review finds it
    with time_machine.travel(clock.at_cn(dt.date(2028, 11, 18), 1), tick=False):
        outcome = services.advance(db, keys)
    assert outcome.suspended == 1 and outcome.reviewed == 1
    assert reload(db, cert).status == "suspended" and cert.next_review_on is None  # the last review within validity
    with time_machine.travel(clock.at_cn(dt.date(2028, 11, 19), 1), tick=False):
        assert services.advance(db, keys).summary() == \
            "issued=0 rejected=0 suspended=0 revoked=0 restored=0 expired=0 reviewed=0"


def test_the_daily_job_catches_a_black_list_the_signal_missed(db, issued, keys, make_provider):
    from app.oversight.models import EntryStatus, ListEntry

    cert, ent, _ = issued("AA")
    db.add(ListEntry(list_name="black", enterprise_id=ent.id, status=EntryStatus.active, criteria_version="1",
                     basis=[], entered_on=clock.today(), published_on=clock.today()))
    db.flush()
    assert services.advance(db, keys).revoked == 1 and reload(db, cert).status == "revoked"


@pytest.mark.parametrize(("raw", "key"), [
    ('{"notice_days": 0}', "notice_days"),
    ('{"notice_days": "7"}', "notice_days"),
    ('{"validity_years": 11}', "validity_years"),
    ('{"min_grade": "NR"}', "min_grade"),
    ('{"revoke_below": "AAA"}', "revoke_below"),
    ('{"suspend_steps": 3, "revoke_steps": 3}', "revoke_steps"),
    ('{"review_months": 48}', "review_months"),
    ('{"restore": "yes"}', "restore"),
    ('{"notice": 7}', "notice"),
    ("[7]", "JSON 对象"),
    ("{not json", "JSON"),
])
def test_a_bad_rule_stops_start_up_naming_the_key(raw, key, monkeypatch, tmp_path):
    with pytest.raises(ConfigError) as bad:
        parse_rules(raw)
    assert key in str(bad.value) and rules.ENV in str(bad.value)
    monkeypatch.setenv(rules.ENV, raw)
    with pytest.raises(ConfigError):
        wiring.wire()


def test_the_rule_from_configuration():
    assert parse_rules("") == Rules()
    r = parse_rules('{"notice_days": 5, "validity_years": 2, "review_months": 6, "min_grade": "AA", '
                    '"suspend_steps": 1, "revoke_steps": 3, "revoke_below": null, "restore": false}')
    assert (r.notice_days, r.validity_years, r.review_months, r.min_grade) == (5, 2, 6, "AA")
    assert (r.suspend_steps, r.revoke_steps, r.revoke_below, r.restore) == (1, 3, None, False)
    assert r.certifiable("AAA") and r.certifiable("AA") and not r.certifiable("A") and not r.certifiable("NR")
    assert "公示期 5 天" in r.describe()[0]


def test_the_job_is_registered_scheduled_daily_and_runs_in_its_own_transaction(app, db, publicized):
    wiring.register_jobs()
    job = jobs.registered()["certificates.advance"]
    assert job.label.startswith("信用等级证书")
    assert jobs.DEFAULT_SCHEDULE["certificates.advance"] == "15 0 * * *"
    cert, _, _ = publicized("AA", days_ago=8)
    runtime = jobs.Runtime(app.extensions["pc_db"], app.extensions["pc_settings"])
    assert job.run(runtime) == "issued=1 rejected=0 suspended=0 revoked=0 restored=0 expired=0 reviewed=0"
    assert reload(db, cert).status == "issued"
    [event] = [e for e in services.events_of(db, cert) if e.to_status == "issued"]
    assert event.actor == "job:certificates.advance"
    assert job.run(runtime).startswith("issued=0")  # nothing twice


def test_the_job_rejects_a_result_whose_grade_fell_during_the_notice(app, db, publicized, grade, keys):
    cert, ent, _ = publicized("AA", days_ago=8)
    grade(ent, "BB", days=0)
    outcome = services.advance(db, keys)
    assert outcome.rejected == 1 and outcome.issued == 0
    assert reload(db, cert).status == "rejected" and "BB" in cert.status_reason


def test_a_fall_during_the_notice_rejects_the_result_at_once(db, publicized, grade):
    cert, ent, _ = publicized("AA")
    regrade(db, ent, grade, "AA", "BB")
    assert reload(db, cert).status == "rejected" and cert.status_reason.startswith("公示期间复核")
