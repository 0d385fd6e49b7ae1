"""Repayments of a disbursed loan (the outcomes a scorecard is validated against): reported
only by the bank that lent, only once the money is paid out, with dates and days past due
checked; reporting an instalment again corrects it, and the audit log keeps what it said."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
import time_machine

from app.audit.models import AuditEvent
from app.core import clock


@pytest.fixture
def loan(client, sign_in, officer, publish, graded_firm):
    """An AA firm's 12-month loan, disbursed today by the officer's bank: (application no, firm user)."""
    product = publish()
    _, user = graded_firm("AA")
    sign_in(user)
    no = client.post("/api/v1/applications", json={"product_no": product["product_no"], "amount": "500000",
                                                   "term_months": 12, "purpose": "采购光伏组件"}).get_json()["application_no"]

    def step(who, action, **body):
        sign_in(who)
        resp = client.post(f"/api/v1/applications/{no}/{action}", json=body)
        assert resp.status_code == 200, (action, resp.get_json())

    step(officer, "review")
    step(officer, "approve", offered_amount="400000", offered_rate="4.350", offered_term_months=12)
    step(user, "accept")
    return no, user, step


def report(client, no, expect=201, **body):
    resp = client.post(f"/api/v1/applications/{no}/repayments", json=body)
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def test_only_a_disbursed_loan_has_repayments(loan, client, sign_in, officer):
    no, _, step = loan
    sign_in(officer)
    due = clock.add_months(clock.today(), 1).isoformat()
    refused = report(client, no, 409, due_on=due, amount_due="34000")
    assert refused["code"] == "not_disbursed"
    step(officer, "disburse", disbursed_amount="400000", disbursed_on=clock.today().isoformat())
    body = report(client, no, due_on=due, amount_due="34000")
    assert body["items"] == [{"due_on": due, "amount_due": "34000.00", "paid_on": None, "amount_paid": None,
                              "days_past_due": 0, "status": "not_due", "recorded_at": body["items"][0]["recorded_at"],
                              "recorded_by": f"user:{officer.username}"}]


def test_only_the_lending_bank_reports(loan, app, client, sign_in, officer, make_user):
    no, user, step = loan
    step(officer, "disburse", disbursed_amount="400000", disbursed_on=clock.today().isoformat())
    due = clock.add_months(clock.today(), 1).isoformat()
    sign_in(user)  # the firm reads, never reports
    assert report(client, no, 403, due_on=due, amount_due="34000")["code"] in ("role_denied", "wrong_party")
    assert client.get(f"/api/v1/applications/{no}/repayments").status_code == 200
    sign_in(make_user("bank"))  # another bank does not even see the loan
    assert report(client, no, 404, due_on=due, amount_due="34000")["code"] == "application_not_found"
    assert client.get(f"/api/v1/applications/{no}/repayments").status_code == 404
    assert app.test_client().get(f"/api/v1/applications/{no}/repayments").status_code == 401  # nobody signed in


def test_dates_and_days_past_due_are_checked(loan, client, sign_in, officer):
    no, _, step = loan
    today = clock.today()
    step(officer, "disburse", disbursed_amount="400000", disbursed_on=today.isoformat())
    sign_in(officer)
    bad = report(client, no, 422, due_on=(today - dt.timedelta(days=1)).isoformat(), amount_due="34000")
    assert "不能早于放款日期" in bad["errors"]["due_on"][0]
    bad = report(client, no, 422, due_on=clock.add_months(today, 13).isoformat(), amount_due="34000")
    assert "不能晚于贷款到期日" in bad["errors"]["due_on"][0]
    due = clock.add_months(today, 1)
    bad = report(client, no, 422, due_on=due.isoformat(), amount_due="0")
    assert "amount_due" in bad["errors"]
    bad = report(client, no, 422, due_on=due.isoformat(), amount_due="34000", amount_paid="34000")
    assert "paid_on" in bad["errors"]  # an amount paid without the day it was paid
    bad = report(client, no, 422, due_on=due.isoformat(), amount_due="34000",
                 paid_on=(today + dt.timedelta(days=1)).isoformat(), amount_paid="34000")
    assert "不能晚于今天" in bad["errors"]["paid_on"][0]
    later = clock.to_cn(clock.now()) + dt.timedelta(days=95)
    with time_machine.travel(later, tick=False):  # three months on: the first instalment paid 5 days late
        sign_in(officer)  # a new session: the one signed in three months ago has lapsed
        paid = due + dt.timedelta(days=5)
        wrong = report(client, no, 422, due_on=due.isoformat(), amount_due="34000", paid_on=paid.isoformat(),
                       amount_paid="34000", days_past_due=3)
        assert "逾期天数应为 5" in wrong["errors"]["days_past_due"][0]
        body = report(client, no, due_on=due.isoformat(), amount_due="34000", paid_on=paid.isoformat(),
                      amount_paid="34000", days_past_due=5)
        second = clock.add_months(today, 2)
        body = report(client, no, due_on=second.isoformat(), amount_due="34000")  # still unpaid
    by_due = {r["due_on"]: r for r in body["items"]}
    assert by_due[due.isoformat()]["status"] == "paid_late" and by_due[due.isoformat()]["days_past_due"] == 5
    unpaid = by_due[second.isoformat()]
    assert unpaid["status"] == "unpaid" and unpaid["days_past_due"] == (later.date() - second).days


def test_reporting_an_instalment_again_corrects_it_and_the_audit_log_keeps_the_old(loan, client, sign_in, officer,
                                                                                    db):
    no, _, step = loan
    today = clock.today()
    step(officer, "disburse", disbursed_amount="400000", disbursed_on=today.isoformat())
    sign_in(officer)
    due = clock.add_months(today, 1).isoformat()
    report(client, no, due_on=due, amount_due="34000")
    body = report(client, no, 200, due_on=due, amount_due="34500")  # a correction: 200, not a new instalment
    assert [(r["due_on"], r["amount_due"]) for r in body["items"]] == [(due, "34500.00")]  # one instalment
    report(client, no, 200, due_on=due, amount_due="34500")  # resent as it stands: nothing written
    events = db.scalars(sa.select(AuditEvent).where(AuditEvent.subject_id == no,
                                                    AuditEvent.action.like("repayment.%")).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["repayment.recorded", "repayment.corrected"]
    assert events[1].detail["before"]["amount_due"] == "34000.00" and events[1].detail["amount_due"] == "34500.00"


def test_a_part_payment_is_still_owed_and_its_days_past_due_go_on(loan, client, sign_in, officer):
    no, _, step = loan
    today = clock.today()
    step(officer, "disburse", disbursed_amount="400000", disbursed_on=today.isoformat())
    sign_in(officer)
    first, second = clock.add_months(today, 1), clock.add_months(today, 2)
    over = report(client, no, 422, due_on=first.isoformat(), amount_due="34000", paid_on=today.isoformat(),
                  amount_paid="40000")
    assert "不能超过该期应还金额" in over["errors"]["amount_paid"][0]
    report(client, no, due_on=second.isoformat(), amount_due="34000")  # reported before it fell due
    later = clock.to_cn(clock.now()) + dt.timedelta(days=75)
    with time_machine.travel(later, tick=False):
        sign_in(officer)
        part = first + dt.timedelta(days=2)
        body = report(client, no, due_on=first.isoformat(), amount_due="34000", paid_on=part.isoformat(),
                      amount_paid="10000")
        by_due = {r["due_on"]: r for r in body["items"]}
        owed = (later.date() - first).days
        assert by_due[first.isoformat()]["status"] == "partly_paid"
        assert by_due[first.isoformat()]["days_past_due"] == owed  # still owed: past due until today
        late = (later.date() - second).days
        assert by_due[second.isoformat()] | {"recorded_at": None} == {
            "due_on": second.isoformat(), "amount_due": "34000.00", "paid_on": None, "amount_paid": None,
            "days_past_due": late, "status": "unpaid", "recorded_at": None, "recorded_by": f"user:{officer.username}"}


def test_a_repayment_files_the_loan_in_the_archive_and_a_default_caps_the_grade(loan, client, sign_in, officer, db):
    """The loan's status as the repayments leave it is a loan record (from the 信易贷 platform),
    corrected at each report; 90 days past due caps the grade at B on the day (power-v2)."""
    from app.archive.models import CreditRecord
    from app.scoring.models import Evaluation

    no, user, step = loan
    step(officer, "disburse", disbursed_amount="400000", disbursed_on=clock.today().isoformat())
    due = clock.add_months(clock.today(), 1)
    report(client, no, due_on=due.isoformat(), amount_due="34000")
    [record] = db.scalars(sa.select(CreditRecord).where(CreditRecord.provider_ref == f"xyd:{no}")).all()
    assert record.category == "loan" and record.payload["status"] == "normal"
    assert record.payload["amount"] == "400000.00" and record.payload["reported_on"] == clock.today().isoformat()
    later = clock.start_of_day(due + dt.timedelta(days=90))
    with time_machine.travel(later, tick=False):  # 90 days after the instalment fell due, still unpaid
        sign_in(officer)
        report(client, no, 200, due_on=due.isoformat(), amount_due="34000")
        db.expire_all()
        [record] = db.scalars(sa.select(CreditRecord).where(CreditRecord.provider_ref == f"xyd:{no}")).all()
        assert (record.payload["status"], record.payload["overdue_days"]) == ("overdue", 90)
        assert record.payload["overdue_amount"] == "34000.00" and record.polarity == "bad"
        current = db.scalars(sa.select(Evaluation).where(Evaluation.enterprise_id == record.enterprise_id,
                                                         Evaluation.current.is_(True))).one()
        assert current.scorecard_version == "2.0"
        assert "loan_default" in [c["key"] for c in current.explanation["caps"]]
        assert current.grade in ("B", "CCC", "CC", "C")


def test_a_loan_repaid_in_full_is_settled_in_the_archive(loan, client, sign_in, officer, db):
    from app.archive.models import CreditRecord

    no, _, step = loan
    start = clock.today()
    step(officer, "disburse", disbursed_amount="400000", disbursed_on=start.isoformat())
    due = clock.add_months(start, 1)
    later = clock.start_of_day(due + dt.timedelta(days=1))
    with time_machine.travel(later, tick=False):
        sign_in(officer)
        report(client, no, due_on=due.isoformat(), amount_due="300000", paid_on=due.isoformat(), amount_paid="300000")
        [record] = db.scalars(sa.select(CreditRecord).where(CreditRecord.provider_ref == f"xyd:{no}")).all()
        assert record.payload["status"] == "normal"  # 100,000 still to repay
        report(client, no, due_on=clock.add_months(start, 2).isoformat(), amount_due="100000",
               paid_on=due.isoformat(), amount_paid="100000")
        db.expire_all()
        [record] = db.scalars(sa.select(CreditRecord).where(CreditRecord.provider_ref == f"xyd:{no}")).all()
        assert (record.payload["status"], record.payload["settled_on"]) == ("settled", due.isoformat())
