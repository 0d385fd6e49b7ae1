"""Pre-approved offers (主动授信): a bank offers a discoverable AA-and-above firm a credit
limit under one of its live products; the firm accepts (an application in the approved
state, which grants the bank its consent) or declines; offers expire."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from app.accounts.models import Role, User
from app.archive.models import Enterprise
from app.audit import services as audit
from app.audit.models import AuditEvent
from app.core import clock
from app.core.db import Page, paginate
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.core.signing import SigningKeys
from app.scoring.scorecard import NOT_RATED
from marketplace.applications import create_application
from marketplace.errors import OfferNotFound
from marketplace.models import (
    OFFER_STATUS_LABELS,
    Application,
    Offer,
    OfferStatus,
    Product,
    ProductStatus,
)
from marketplace.rules import assess
from marketplace.services import deadline_passed, facts_of, is_discoverable, visible_to

OFFER_GRADES = ("AAA", "AA")  # the CEC opinion aims proactive credit at AA and above
MAX_VALIDITY_DAYS = 90


def send_offer(session: Session, user: User, data: dict[str, Any]) -> Offer:
    if user.role != Role.bank or user.institution_id is None:
        raise Forbidden("只有金融机构的工作人员可以发出授信邀约", code="not_a_bank_officer")
    product = session.scalar(sa.select(Product).where(Product.product_no == data["product_no"],
                                                      Product.institution_id == user.institution_id))
    if product is None or product.status != ProductStatus.live:
        raise InvalidInput("产品不可用", errors={"product_no": ["应为本机构已上架的产品。"]})
    if deadline_passed(product):
        raise InvalidInput("产品已截止申请", errors={"product_no": [f"该产品的申请截止日（{product.deadline}）已过。"]})
    ent = session.scalar(sa.select(Enterprise).where(Enterprise.uscc == data["uscc"]))
    # A firm that did not opt in is "not found" to a bank: its existence is not disclosed.
    if ent is None or not is_discoverable(session, ent.id):
        raise InvalidInput("企业不可邀约", errors={"uscc": ["没有允许主动授信的该企业。"]})
    today = clock.today()
    facts = facts_of(session, [ent.id], today)[ent.id]
    errors: dict[str, list[str]] = {}
    if facts.grade not in OFFER_GRADES:
        now_grade = "不予评级（信息不足）" if facts.grade == NOT_RATED else facts.grade or "未评价"
        errors["uscc"] = [f"主动授信面向 AA 级及以上企业，该企业当前为 {now_grade}。"]
    else:
        failed = [o.reason for o in assess(product, facts, today) if not o.ok]
        if failed:
            errors["uscc"] = failed
    if not product.amount_min <= data["credit_limit"] <= product.amount_max:
        errors["credit_limit"] = [f"授信额度应在产品的 {product.amount_min}–{product.amount_max} 元之间。"]
    if not product.rate_min <= data["rate"] <= product.rate_max:
        errors["rate"] = [f"利率应在产品的 {product.rate_min}%–{product.rate_max}% 之间。"]
    if not product.term_min <= data["term_months"] <= product.term_max:
        errors["term_months"] = [f"期限应为 {product.term_min}–{product.term_max} 个月。"]
    now = clock.now()
    if not now < data["valid_until"] <= now + dt.timedelta(days=MAX_VALIDITY_DAYS):
        errors["valid_until"] = [f"有效期应在未来 {MAX_VALIDITY_DAYS} 天之内。"]
    if errors:
        raise InvalidInput("授信邀约有误", errors=errors)
    if session.scalar(sa.select(Offer.id).where(Offer.enterprise_id == ent.id, Offer.product_id == product.id,
                                                Offer.status == OfferStatus.sent, Offer.valid_until > now)):
        raise Conflict("已向该企业发出该产品的有效邀约", code="offer_open")
    offer = Offer(offer_no="ofr_" + secrets.token_hex(6), product_id=product.id, institution_id=product.institution_id,
                  enterprise_id=ent.id, credit_limit=data["credit_limit"], rate=data["rate"],
                  term_months=data["term_months"], valid_until=data["valid_until"], status=OfferStatus.sent,
                  grade_at_offer=facts.grade or "", created_at=now)
    session.add(offer)
    session.flush()
    audit.record(session, f"user:{user.username}", "offer.sent", subject_type="offer", subject_id=offer.offer_no,
                 detail={"uscc": ent.uscc, "product_no": product.product_no, "credit_limit": str(offer.credit_limit)})
    return offer


def _visible(stmt: Any, user: User) -> Any:
    return visible_to(stmt, user, Offer.enterprise_id, Offer.institution_id)


def expire_due(session: Session, now: dt.datetime | None = None) -> int:
    """Offers past their validity → ``expired`` (idempotent)."""
    res = session.execute(sa.update(Offer).where(Offer.status == OfferStatus.sent, Offer.valid_until <= (now or clock.now()))
                          .values(status=OfferStatus.expired).execution_options(synchronize_session=False))
    return int(res.rowcount)  # type: ignore[attr-defined]


def get_offer(session: Session, user: User, offer_no: str) -> Offer:
    expire_due(session)
    offer = session.scalar(_visible(sa.select(Offer).where(Offer.offer_no == offer_no), user)
                           .execution_options(populate_existing=True))
    if offer is None:
        raise OfferNotFound(f"没有编号为 {offer_no} 的授信邀约")
    return offer


def list_offers(session: Session, user: User, status: str | None, page: int, per_page: int) -> Page[Any]:
    expire_due(session)
    stmt = _visible(sa.select(Offer).options(joinedload(Offer.enterprise))
                    .order_by(Offer.created_at.desc(), Offer.id.desc()), user)
    if status:
        stmt = stmt.where(Offer.status == status)
    return paginate(session, stmt.execution_options(populate_existing=True), page, per_page)


def _settle(session: Session, offer: Offer, target: OfferStatus, actor: str) -> None:
    if offer.status != OfferStatus.sent:
        raise Conflict(f"邀约当前为「{OFFER_STATUS_LABELS[offer.status]}」", code="illegal_transition")
    now = clock.now()
    done = session.execute(sa.update(Offer).where(Offer.id == offer.id, Offer.status == OfferStatus.sent)
                           .values(status=target, responded_at=now).execution_options(synchronize_session=False))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("邀约状态已变化，请刷新后重试", code="concurrent_change")
    session.refresh(offer)
    audit.record(session, actor, f"offer.{target}", subject_type="offer", subject_id=offer.offer_no)


def respond(session: Session, signer: SigningKeys, user: User, offer_no: str, action: str,
            purpose: str | None = None, request_id: str | None = None) -> tuple[Offer, Application | None]:
    offer = get_offer(session, user, offer_no)
    actor = f"user:{user.username}"
    if action == "withdraw":
        if user.role != Role.bank:
            raise Forbidden("只有发出邀约的机构可以撤回", code="wrong_party")
        _settle(session, offer, OfferStatus.withdrawn, actor)
        return offer, None
    if action not in ("accept", "decline"):
        raise NotFound(f"没有「{action}」这一操作")
    if user.role != Role.firm:
        raise Forbidden("只有受邀企业可以答复", code="wrong_party")
    if action == "decline":
        _settle(session, offer, OfferStatus.declined, actor)
        return offer, None
    _settle(session, offer, OfferStatus.accepted, actor)
    sender = session.scalar(sa.select(AuditEvent.actor).where(AuditEvent.action == "offer.sent",
                                                              AuditEvent.subject_id == offer.offer_no).limit(1))
    app = create_application(
        session, signer, user, offer.product, offer.credit_limit, offer.term_months, purpose or "接受主动授信邀约",
        offer.grade_at_offer, offer={"offered_amount": offer.credit_limit, "offered_rate": offer.rate,
                                     "offered_term_months": offer.term_months}, offer_no=offer.offer_no,
        approved_by=sender, request_id=request_id)
    offer.application_id = app.id
    session.flush()
    return offer, app
