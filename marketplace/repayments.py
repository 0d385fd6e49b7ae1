"""Repayments of disbursed loans, reported by the bank that lent: each instalment's due date
and amount, when and how much was paid, and the days past due. They are the outcomes a
scorecard is validated against. Reporting an instalment again corrects it, and the audit log
keeps what it said before."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Institution, Role, User
from app.archive.ingestion import submit_batch
from app.archive.models import DataProvider, ProviderKind
from app.archive.services import create_provider
from app.audit import services as audit
from app.core import clock
from app.core.errors import Conflict, Forbidden, InvalidInput
from marketplace.applications import get_application
from marketplace.models import (
    APPLICATION_STATUS_LABELS,
    Application,
    ApplicationStatus,
    LoanRepayment,
)


def paid_in_full(r: LoanRepayment) -> bool:
    return r.paid_on is not None and r.amount_paid is not None and r.amount_paid >= r.amount_due


def status_of(r: LoanRepayment, today: dt.date) -> str:
    if paid_in_full(r):
        return "paid_on_time" if r.days_past_due == 0 else "paid_late"
    if r.paid_on is not None:
        return "partly_paid"
    return "unpaid" if r.due_on < today else "not_due"


def days_past_due(due_on: dt.date, paid_in_full_on: dt.date | None, today: dt.date) -> int:
    """Days past due: until the day it was paid in full, or, while anything is owed, until today."""
    return max(0, ((paid_in_full_on or today) - due_on).days)


def record_repayment(session: Session, user: User, application_no: str, data: dict[str, Any],
                     request_id: str | None = None) -> tuple[LoanRepayment, bool]:
    """The lending bank reports an instalment (a new due date: ``(row, True)``) or corrects
    one (the same due date: ``(row, False)``; resent unchanged, nothing is written)."""
    app = get_application(session, user, application_no)
    if user.role != Role.bank or user.institution_id != app.institution_id:
        raise Forbidden("只有放款的金融机构可以报送还款情况", code="wrong_party")
    if app.status != ApplicationStatus.disbursed or app.disbursed_on is None:
        raise Conflict(f"申请当前为「{APPLICATION_STATUS_LABELS[app.status]}」，尚未放款，不能报送还款", code="not_disbursed")
    today = clock.today()
    due_on, paid_on = data["due_on"], data.get("paid_on")
    amount_paid = data.get("amount_paid")
    matures = clock.add_months(app.disbursed_on, app.offered_term_months or app.term_months)
    errors: dict[str, list[str]] = {}
    if due_on < app.disbursed_on:
        errors["due_on"] = [f"应还日期不能早于放款日期（{app.disbursed_on}）。"]
    elif due_on > matures:
        errors["due_on"] = [f"应还日期不能晚于贷款到期日（{matures}）。"]
    if paid_on is not None:
        if paid_on < app.disbursed_on:
            errors["paid_on"] = [f"实还日期不能早于放款日期（{app.disbursed_on}）。"]
        elif paid_on > today:
            errors["paid_on"] = ["实还日期不能晚于今天。"]
        if amount_paid is None:
            errors["amount_paid"] = ["已还款须填写实还金额。"]
    elif amount_paid is not None:
        errors["paid_on"] = ["填写了实还金额，须同时填写实还日期。"]
    if amount_paid is not None and amount_paid > data["amount_due"]:
        errors["amount_paid"] = [f"实还金额不能超过该期应还金额 {data['amount_due']} 元（提前归还的部分请报送在相应期次）。"]
    full = paid_on is not None and amount_paid is not None and amount_paid >= data["amount_due"]
    days = days_past_due(due_on, paid_on if full else None, today)
    given = data.get("days_past_due")
    if given is not None and given != days:
        basis = f"实还日 {paid_on} " if full else "今天（尚未还清）"
        errors["days_past_due"] = [f"逾期天数应为 {days}（按应还日 {due_on} 与{basis}计算）。"]
    if errors:
        raise InvalidInput("还款情况有误", errors=errors)
    actor = f"user:{user.username}"
    values = {"amount_due": data["amount_due"], "paid_on": paid_on, "amount_paid": amount_paid,
              "days_past_due": days, "recorded_at": clock.now(), "recorded_by": actor}
    found = session.scalar(sa.select(LoanRepayment).where(LoanRepayment.application_id == app.id, LoanRepayment.due_on == due_on))
    before = None
    if found is None:
        found = LoanRepayment(application_id=app.id, due_on=due_on, **values)
        session.add(found)
    else:
        same = (found.amount_due, found.paid_on, found.amount_paid) == (data["amount_due"], paid_on, amount_paid)
        if same:  # resent as it stands: nothing to correct, nothing written but the loan's
            report_loan(session, app)  # status today (days past due grow while it is owed)
            return found, False
        before = {"amount_due": str(found.amount_due), "paid_on": _iso(found.paid_on),
                  "amount_paid": None if found.amount_paid is None else str(found.amount_paid),
                  "days_past_due": found.days_past_due, "recorded_by": found.recorded_by}
        for key, value in values.items():
            setattr(found, key, value)
    session.flush()
    report_loan(session, app)
    audit.record(session, actor, "repayment.corrected" if before else "repayment.recorded",
                 subject_type="loan_application", subject_id=app.application_no, request_id=request_id,
                 detail={"due_on": due_on.isoformat(), "amount_due": str(data["amount_due"]), "paid_on": _iso(paid_on),
                         "amount_paid": None if amount_paid is None else str(amount_paid), "days_past_due": days,
                         **({"before": before} if before else {})})
    return found, before is None


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None


def repayments_of(session: Session, app: Application) -> list[LoanRepayment]:
    return list(session.scalars(sa.select(LoanRepayment).where(LoanRepayment.application_id == app.id)
                                .order_by(LoanRepayment.due_on)))


def repayment_list(session: Session, user: User, application_no: str) -> dict[str, Any]:
    """The instalments of an application (the firm's own, the lending bank's own)."""
    app = get_application(session, user, application_no)
    today = clock.today()
    items = []
    for r in repayments_of(session, app):
        row = {**_row(r), "status": status_of(r, today)}
        if not paid_in_full(r):  # still owed: past due until today, not as it was when reported
            row["days_past_due"] = days_past_due(r.due_on, None, today)
        items.append(row)
    return {"application_no": app.application_no, "items": items}


def _row(r: LoanRepayment) -> dict[str, Any]:
    return {k: getattr(r, k) for k in ("due_on", "amount_due", "paid_on", "amount_paid", "days_past_due",
                                       "recorded_at", "recorded_by")}


# --- the loan's status in the archive -----------------------------------------------------------
# A repayment is credit information like a bank's monthly loan report: the loan's status as of
# today is filed in the archive as a loan record (category loan, one per loan: reported again,
# it is corrected), from the 信易贷 platform as its provider, so that the scorecard's loan
# factor and caps, and the back-test's default definition, see loans made here as they see
# loans reported by banks directly.
MARKETPLACE_PROVIDER = "xinyidai"


def _marketplace_provider(session: Session) -> DataProvider:
    provider = session.scalar(sa.select(DataProvider).where(DataProvider.code == MARKETPLACE_PROVIDER))
    if provider is None:
        provider = create_provider(session, code=MARKETPLACE_PROVIDER, name="信易贷平台（放款机构报送的还款情况）",
                                   kind=ProviderKind.financial_institution, categories=["loan"], coverage="reported")
    return provider


def loan_record(app: Application, lender: Institution, repayments: list[LoanRepayment], today: dt.date) -> dict[str, Any]:
    """The archive row for a disbursed loan as its repayments stand today."""
    assert app.disbursed_on is not None
    owed = [r for r in repayments if not paid_in_full(r) and r.due_on < today]
    overdue_days = max((days_past_due(r.due_on, None, today) for r in owed), default=0)
    amount = app.disbursed_amount or app.offered_amount or app.amount
    repaid = sum((r.amount_paid or 0) for r in repayments if paid_in_full(r))
    settled = bool(repayments) and all(paid_in_full(r) for r in repayments) and repaid >= amount
    payload: dict[str, Any] = {
        "lender": lender.name, "amount": str(amount), "start_on": app.disbursed_on.isoformat(),
        "end_on": clock.add_months(app.disbursed_on, app.offered_term_months or app.term_months).isoformat(),
        "status": "overdue" if overdue_days > 0 else "settled" if settled else "normal",
        "reported_on": today.isoformat(),
    }
    if settled:  # every instalment paid in full, the whole amount repaid
        payload["settled_on"] = max(r.paid_on for r in repayments if r.paid_on is not None).isoformat()
    if lender.uscc:
        payload["lender_uscc"] = lender.uscc
    if overdue_days > 0:
        payload["overdue_days"] = overdue_days
        payload["overdue_amount"] = str(sum(r.amount_due - (r.amount_paid or 0) for r in owed))
    return {"provider_ref": f"xyd:{app.application_no}", "uscc": app.enterprise.uscc, "category": "loan",
            "payload": payload}


def report_loan(session: Session, app: Application) -> None:
    """File (or correct) the loan's archive record; the firm is re-evaluated as after any batch."""
    repayments = list(session.scalars(sa.select(LoanRepayment).where(LoanRepayment.application_id == app.id)))
    lender = session.get_one(Institution, app.institution_id)
    result = submit_batch(session, _marketplace_provider(session), [loan_record(app, lender, repayments, clock.today())],
                          mode="all_or_nothing")
    if not result.committed:  # derived from checked values: a refusal here is a bug, not bad input
        raise RuntimeError(f"信贷记录未能入档：{[row.errors for row in result.rows]}")
