"""Loan applications: a firm applies (which grants the bank a consent, through the consent
module's ``grant_consent``), the bank reviews with a report pulled under it, and each step of
the workflow is taken by the right party only, compare-and-set, timestamped and audited."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from app.accounts.models import Role, User
from app.archive.models import Enterprise
from app.audit import services as audit
from app.core import clock
from app.core.db import Page, paginate
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.core.signing import SigningKeys
from consent.gate import Caller
from consent.models import FetchType, PeriodUnit, Purpose
from consent.services import Terms, end_consent, grant_consent
from marketplace.errors import ApplicationNotFound
from marketplace.models import (
    APPLICATION_STATUS_LABELS,
    Application,
    ApplicationEvent,
    ApplicationStatus,
    Product,
    ProductStatus,
)
from marketplace.rules import assess, eligible
from marketplace.services import facts_of, visible_to
from reports.models import Report
from reports.services import pull_report

S = ApplicationStatus
# What applying grants the bank (shown on the application screen before the firm submits).
APPLICATION_SCOPES = ("identity", "evaluation", "summary", "tax", "contract", "utility", "loan", "judicial",
                      "licence_penalty", "lists", "objections", "query_records")
CONSENT_DAYS = 30
CONSENT_PULLS_PER_MONTH = 5
OPEN = (S.submitted, S.under_review, S.approved, S.accepted)


@dataclass(frozen=True)
class Step:
    party: Role
    sources: frozenset[ApplicationStatus]
    target: ApplicationStatus
    label: str


# The workflow as data: who may take each step, from which states, to which state.
STEPS: dict[str, Step] = {
    "review": Step(Role.bank, frozenset({S.submitted}), S.under_review, "开始审核"),
    "approve": Step(Role.bank, frozenset({S.under_review}), S.approved, "批准"),
    "reject": Step(Role.bank, frozenset({S.submitted, S.under_review}), S.rejected, "拒绝"),
    "accept": Step(Role.firm, frozenset({S.approved}), S.accepted, "接受"),
    "decline": Step(Role.firm, frozenset({S.approved}), S.declined, "放弃"),
    "disburse": Step(Role.bank, frozenset({S.accepted}), S.disbursed, "放款"),
    # Before the money is paid out the firm may still withdraw (the issue's "disbursed /
    # withdrawn by firm"), as it may while the bank is deciding.
    "withdraw": Step(Role.firm, frozenset({S.submitted, S.under_review, S.accepted}), S.withdrawn, "撤回"),
}


def consent_terms(now: dt.datetime) -> Terms:
    today = clock.today()
    return Terms(purpose=Purpose.loan_application, scopes=list(APPLICATION_SCOPES),
                 data_from=clock.add_years(today, -3), data_to=today,
                 valid_until=now + dt.timedelta(days=CONSENT_DAYS), fetch_type=FetchType.periodic,
                 frequency_unit=PeriodUnit.month, frequency_value=CONSENT_PULLS_PER_MONTH,
                 data_life_unit=PeriodUnit.year, data_life_value=1)


def _event(session: Session, app: Application, actor: str, old: ApplicationStatus | None,
           detail: dict[str, Any] | None = None, request_id: str | None = None) -> None:
    session.add(ApplicationEvent(application_id=app.id, at=clock.now(), actor=actor,
                                 from_status=str(old) if old else None, to_status=str(app.status),
                                 detail=detail or {}))
    audit.record(session, actor, f"application.{app.status}", subject_type="application",
                 subject_id=app.application_no, request_id=request_id, detail=detail or {})


def apply(session: Session, signer: SigningKeys, user: User, product_no: str, amount: Decimal, term_months: int,
          purpose: str, request_id: str | None = None) -> Application:
    if user.role != Role.firm or user.enterprise_id is None:
        raise Forbidden("只有企业用户可以申请", code="not_a_firm")
    product = session.scalar(sa.select(Product).where(Product.product_no == product_no))
    today = clock.today()
    if product is None or product.status != ProductStatus.live or (product.deadline and product.deadline < today):
        raise InvalidInput("该产品不可申请", errors={"product_no": ["产品不存在、未上架或已过申请截止日期。"]})
    errors: dict[str, list[str]] = {}
    if not product.amount_min <= amount <= product.amount_max:
        errors["amount"] = [f"申请金额应在 {product.amount_min}–{product.amount_max} 元之间。"]
    if not product.term_min <= term_months <= product.term_max:
        errors["term_months"] = [f"期限应为 {product.term_min}–{product.term_max} 个月。"]
    facts = facts_of(session, [user.enterprise_id], today)[user.enterprise_id]
    outcomes = assess(product, facts, today)
    if not eligible(outcomes):
        errors["product_no"] = [o.reason for o in outcomes if not o.ok]
    if errors:
        raise InvalidInput("不符合申请条件", errors=errors)
    return create_application(session, signer, user, product, amount, term_months, purpose, facts.grade,
                              request_id=request_id)


def create_application(session: Session, signer: SigningKeys, user: User, product: Product, amount: Decimal,
                       term_months: int, purpose: str, grade: str | None, *, offer: dict[str, Any] | None = None,
                       offer_no: str | None = None, approved_by: str | None = None,
                       request_id: str | None = None) -> Application:
    """Open an application (``submitted``; ``approved`` with the offer's terms when a firm
    accepts a pre-approved offer), granting the bank its consent."""
    assert user.enterprise_id is not None
    # One open application per firm and product (the firm's row is locked: two submissions
    # cannot both pass this check).
    session.execute(sa.select(Enterprise.id).where(Enterprise.id == user.enterprise_id).with_for_update())
    if session.scalar(sa.select(Application.id).where(Application.enterprise_id == user.enterprise_id,
                                                      Application.product_id == product.id,
                                                      Application.status.in_(OPEN))):
        raise Conflict("已有该产品的在办申请", code="application_open")
    now = clock.now()
    consent = grant_consent(session, signer, user, institution=product.institution, terms=consent_terms(now),
                            via="marketplace", request_id=request_id)
    app = Application(application_no="app_" + secrets.token_hex(6), product_id=product.id,
                      enterprise_id=user.enterprise_id, institution_id=product.institution_id, consent_pk=consent.id,
                      amount=amount, term_months=term_months, purpose=purpose,
                      status=S.approved if offer else S.submitted, grade_at_application=grade,
                      created_at=now, updated_at=now, **(offer or {}))
    session.add(app)
    session.flush()
    detail = {"consent_id": consent.consent_id, "amount": str(amount), "term_months": term_months}
    if offer_no:
        detail["offer_no"] = offer_no
    # From an offer, approved by the bank's officer who sent it (the firm accepted the offer,
    # and accepts the application's terms next); otherwise submitted by the firm.
    _event(session, app, approved_by or f"user:{user.username}", None, detail, request_id)
    return app


def _visible(stmt: Any, user: User) -> Any:
    return visible_to(stmt, user, Application.enterprise_id, Application.institution_id)


def open_applications(session: Session, enterprise_id: int) -> dict[int, str]:
    """The firm's applications still in progress, by product: product id → application number."""
    rows = session.execute(sa.select(Application.product_id, Application.application_no)
                           .where(Application.enterprise_id == enterprise_id, Application.status.in_(OPEN)))
    return {row[0]: row[1] for row in rows}


def get_application(session: Session, user: User, application_no: str) -> Application:
    """The firm's own, the bank's own; anyone else's is "not found"."""
    app = session.scalar(_visible(sa.select(Application).where(Application.application_no == application_no), user))
    if app is None:
        raise ApplicationNotFound(f"没有编号为 {application_no} 的申请")
    return app


def list_applications(session: Session, user: User, status: str | None, page: int, per_page: int) -> Page[Any]:
    stmt = _visible(sa.select(Application).options(joinedload(Application.enterprise))
                    .order_by(Application.created_at.desc(), Application.id.desc()), user)
    if status:
        stmt = stmt.where(Application.status == status)
    return paginate(session, stmt, page, per_page)


def timeline(session: Session, app: Application) -> list[ApplicationEvent]:
    return list(session.scalars(sa.select(ApplicationEvent).where(ApplicationEvent.application_id == app.id)
                                .order_by(ApplicationEvent.at, ApplicationEvent.id)))


def take_step(session: Session, user: User, application_no: str, action: str, data: dict[str, Any],
              request_id: str | None = None) -> Application:
    step = STEPS.get(action)
    if step is None:
        raise NotFound(f"没有「{action}」这一操作")
    app = get_application(session, user, application_no)
    if user.role != step.party:
        raise Forbidden(f"「{step.label}」只能由{'金融机构' if step.party == Role.bank else '申请企业'}操作",
                        code="wrong_party")
    if app.status not in step.sources:
        raise Conflict(f"申请当前为「{APPLICATION_STATUS_LABELS[app.status]}」，不能{step.label}",
                       code="illegal_transition")
    values: dict[str, Any] = {}
    if action == "approve":
        values = _offer(app, data)
    elif action == "reject":
        values = {"reason": _required(data, "reason", "请说明拒绝原因。")}
    elif action == "disburse":
        values = _disbursement(session, app, data)
    elif action in ("decline", "withdraw") and data.get("reason"):
        values = {"reason": data["reason"]}
    old = app.status
    now = clock.now()
    done = session.execute(
        sa.update(Application).where(Application.id == app.id, Application.status == old)
        .values(status=step.target, updated_at=now, **values).execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if done != 1:
        raise Conflict("申请状态已被他人修改，请刷新后重试", code="concurrent_change")
    session.refresh(app)
    _event(session, app, f"user:{user.username}", old, {k: str(v) for k, v in values.items()}, request_id)
    if app.status in CLOSED:  # the consent was only for reviewing this application: it ends with it
        end_consent(session, app.consent, user, f"贷款申请 {app.application_no} 已{step.label}，授权随之终止",
                    request_id)
    return app


def _required(data: dict[str, Any], key: str, message: str) -> Any:
    if data.get(key) in (None, ""):
        raise InvalidInput(message, errors={key: [message]})
    return data[key]


def _offer(app: Application, data: dict[str, Any]) -> dict[str, Any]:
    amount = _required(data, "offered_amount", "请填写批准金额。")
    rate = _required(data, "offered_rate", "请填写批准利率。")
    term = _required(data, "offered_term_months", "请填写批准期限。")
    product = app.product
    errors: dict[str, list[str]] = {}
    if not Decimal(0) < amount <= product.amount_max:
        errors["offered_amount"] = [f"批准金额应大于 0 且不超过产品上限 {product.amount_max} 元。"]
    if not product.rate_min <= rate <= product.rate_max:
        errors["offered_rate"] = [f"批准利率应在产品的 {product.rate_min}%–{product.rate_max}% 之间。"]
    if not product.term_min <= term <= product.term_max:
        errors["offered_term_months"] = [f"批准期限应为 {product.term_min}–{product.term_max} 个月。"]
    if errors:
        raise InvalidInput("批准条件有误", errors=errors)
    return {"offered_amount": amount, "offered_rate": rate, "offered_term_months": term}


def _disbursement(session: Session, app: Application, data: dict[str, Any]) -> dict[str, Any]:
    amount = _required(data, "disbursed_amount", "请填写放款金额。")
    day = _required(data, "disbursed_on", "请填写放款日期。")
    if app.offered_amount is not None and not Decimal(0) < amount <= app.offered_amount:
        raise InvalidInput("放款金额有误", errors={"disbursed_amount": [f"放款金额不能超过批准金额 {app.offered_amount} 元。"]})
    if day > clock.today():
        raise InvalidInput("放款日期有误", errors={"disbursed_on": ["放款日期不能晚于今天。"]})
    # Not before the firm accepted the offered terms (Beijing date).
    accepted_at = session.scalar(sa.select(sa.func.max(ApplicationEvent.at)).where(
        ApplicationEvent.application_id == app.id, ApplicationEvent.to_status == str(ApplicationStatus.accepted)))
    if accepted_at is not None:
        accepted_on = clock.to_cn(accepted_at).date()
        if day < accepted_on:
            raise InvalidInput("放款日期有误", errors={"disbursed_on": [f"放款日期不能早于企业接受批准条件之日（{accepted_on}）。"]})
    return {"disbursed_amount": amount, "disbursed_on": day}


class WithTimeline:
    """An application with its timeline, for ``ApplicationOutSchema``."""

    def __init__(self, app: Application, events: list[ApplicationEvent]) -> None:
        self._app = app
        self.timeline = events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)


def with_timeline(session: Session, app: Application) -> WithTimeline:
    return WithTimeline(app, timeline(session, app))


CLOSED = (S.rejected, S.declined, S.withdrawn)


def pull_report_for(session: Session, signer: SigningKeys, user: User, application_no: str,
                    request_id: str | None = None) -> Report:
    """The bank reviews an application with a report pulled under the consent applying
    granted: an officer of that bank, through the same consent gate as its systems (counted
    against the consent, written to the query log the firm sees).  Once the application is
    closed (rejected, declined, withdrawn) its purpose is spent and nothing more is pulled."""
    app = get_application(session, user, application_no)
    if user.role != Role.bank:
        raise Forbidden("只有受理申请的金融机构可以查询报告", code="wrong_party")
    if app.status in CLOSED:
        raise Conflict(f"申请已{APPLICATION_STATUS_LABELS[app.status]}，不再查询报告", code="application_closed")
    return pull_report(session, signer, Caller.of_officer(user, app.consent), app.enterprise.uscc,
                       str(app.consent.purpose), None, request_id=request_id)


def reports_for(session: Session, user: User, app: Application) -> list[Report]:
    """The reports the bank pulled under this application's consent, newest first (the
    bank's own; nobody else sees them here)."""
    if user.role != Role.bank or user.institution_id != app.institution_id:
        return []
    return list(session.scalars(sa.select(Report).where(Report.consent_pk == app.consent_pk,
                                                        Report.institution_id == app.institution_id)
                                .order_by(Report.issued_at.desc(), Report.id.desc())))
