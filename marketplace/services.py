"""Loan products (a bank publishes and manages its own) and matching them to firms with the
one rule set in ``marketplace.rules``."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Institution, Role, User
from app.archive.models import LIVE_STATUSES, Category, CreditRecord, Enterprise
from app.audit import services as audit
from app.db import Page, paginate, utcnow
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.schemas_base import today_cn
from app.scoring.models import Evaluation
from app.scoring.scorecard import GRADES
from consent.models import QueryLog
from marketplace.models import (
    PRODUCT_STATUS_LABELS,
    PRODUCT_TRANSITIONS,
    MarketplaceProfile,
    Product,
    ProductStatus,
)
from marketplace.rules import FirmFacts, Outcome, assess, eligible
from marketplace.schemas import RANGES, range_errors


class ProductNotFound(NotFound):
    code = "product_not_found"


def visible_to(stmt: Any, user: User, enterprise_col: Any, institution_col: Any) -> Any:
    """Marketplace tenancy: a firm sees its own rows, a bank its institution's, operators all."""
    if user.role == Role.firm and user.enterprise_id is not None:
        return stmt.where(enterprise_col == user.enterprise_id)
    if user.role == Role.bank and user.institution_id is not None:
        return stmt.where(institution_col == user.institution_id)
    if user.role == Role.operator:
        return stmt
    return stmt.where(sa.false())


def _bank_of(user: User) -> int:
    if user.role != Role.bank or user.institution_id is None:
        raise Forbidden("只有金融机构的工作人员可以管理产品", code="not_a_bank_officer")
    return user.institution_id


def rate_cap(lpr_1y: str, multiple: int) -> Decimal:
    return (Decimal(lpr_1y) * multiple).quantize(Decimal("0.001"))


def _check_rate(data: dict[str, Any], cap: Decimal) -> None:
    for key in ("rate_min", "rate_max"):
        if key in data and data[key] > cap:
            raise InvalidInput("利率超过法定上限", errors={
                key: [f"年利率不能超过一年期 LPR 的 4 倍（{cap}%）。"]})


def _stored(data: dict[str, Any]) -> dict[str, Any]:
    """JSON columns hold the grade terms' decimals as strings ("0.300")."""
    if "grade_terms" in data:
        data = {**data, "grade_terms": {g: {k: f"{v:.3f}" for k, v in terms.items()}
                                        for g, terms in data["grade_terms"].items()}}
    return data


def create_product(session: Session, user: User, data: dict[str, Any], cap: Decimal) -> Product:
    institution_id = _bank_of(user)
    _check_rate(data, cap)
    data = _stored(data)
    product = Product(product_no="prd_" + secrets.token_hex(6), institution_id=institution_id,
                      status=ProductStatus.draft, **data)
    session.add(product)
    session.flush()
    audit.record(session, f"user:{user.username}", "product.create", subject_type="product",
                 subject_id=product.product_no, detail={"name": product.name})
    return product


def get_product(session: Session, product_no: str, user: User | None = None) -> Product:
    """A product anyone may see (live, paused or closed); a draft only its own bank sees."""
    product = session.scalar(sa.select(Product).where(Product.product_no == product_no))
    own = user is not None and user.institution_id is not None and product is not None \
        and product.institution_id == user.institution_id
    if product is None or (product.status == ProductStatus.draft and not own):
        raise ProductNotFound(f"没有编号为 {product_no} 的产品")
    return product


def own_product(session: Session, user: User, product_no: str) -> Product:
    """A product of the officer's own bank (in any state); another bank's is refused."""
    institution_id = _bank_of(user)
    product = get_product(session, product_no, user)
    if product.institution_id != institution_id:
        raise Forbidden("只能管理本机构的产品", code="not_your_product")
    return product


def update_product(session: Session, user: User, product_no: str, data: dict[str, Any], cap: Decimal) -> Product:
    product = own_product(session, user, product_no)
    if product.status == ProductStatus.closed:
        raise Conflict("已下架的产品不能修改", code="product_closed")
    merged = {k: getattr(product, k) for pair in RANGES for k in pair[:2]} | data
    errors = range_errors(merged, data)
    if errors:
        raise InvalidInput("产品参数有误", errors=errors)
    _check_rate(data, cap)
    for key, value in _stored(data).items():
        setattr(product, key, value)
    session.flush()
    audit.record(session, f"user:{user.username}", "product.update", subject_type="product",
                 subject_id=product.product_no, detail={"fields": sorted(data)})
    return product


def change_status(session: Session, user: User, product_no: str, status: str) -> Product:
    product = own_product(session, user, product_no)
    target = ProductStatus(status)
    if target not in PRODUCT_TRANSITIONS[product.status]:
        raise Conflict(f"产品当前为「{PRODUCT_STATUS_LABELS[product.status]}」，不能改为「{PRODUCT_STATUS_LABELS[target]}」",
                       code="illegal_transition")
    old = product.status
    now = utcnow()
    published = product.published_at or (now if target == ProductStatus.live else None)
    # Compare-and-set: two officers changing the same product cannot both win.
    done = session.execute(
        sa.update(Product).where(Product.id == product.id, Product.status == old)
        .values(status=target, updated_at=now, published_at=published)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if done != 1:
        raise Conflict("产品状态已被他人修改，请刷新后重试", code="concurrent_change")
    session.refresh(product)
    audit.record(session, f"user:{user.username}", "product.status", subject_type="product",
                 subject_id=product.product_no, detail={"from": str(old), "to": str(target)})
    return product


def list_products(session: Session, args: dict[str, Any], user: User | None = None) -> Page[Any]:
    """Live products open for applications (filters as in ``ProductListArgs``); with
    ``mine`` a bank officer's own products in every state."""
    stmt = sa.select(Product).join(Institution, Institution.id == Product.institution_id)
    if args.get("mine"):
        stmt = stmt.where(Product.institution_id == (_bank_of(user) if user else -1))
    else:
        today = today_cn()
        stmt = stmt.where(Product.status == ProductStatus.live,
                          sa.or_(Product.deadline.is_(None), Product.deadline >= today))
    if args.get("q"):
        stmt = stmt.where(sa.or_(Product.name.contains(args["q"], autoescape=True),
                                 Institution.name.contains(args["q"], autoescape=True)))
    if args.get("type"):
        stmt = stmt.where(Product.type == args["type"])
    if args.get("grade"):  # products whose minimum grade this grade meets
        stmt = stmt.where(Product.min_grade.in_(GRADES[GRADES.index(args["grade"]):]))
    if args.get("amount") is not None:
        stmt = stmt.where(Product.amount_min <= args["amount"], Product.amount_max >= args["amount"])
    if args.get("institution"):
        stmt = stmt.where(Institution.licence_no == args["institution"])
    items_filter = []
    if args.get("segment"):
        items_filter.append(("segments", args["segment"]))
    if args.get("province"):
        items_filter.append(("provinces", args["province"]))
    stmt = stmt.order_by(Product.published_at.desc().nulls_last(), Product.id.desc())
    if not items_filter:
        return paginate(session, stmt, args["page"], args["per_page"])
    # JSON list membership ("empty = everyone") is checked here, portable across backends.
    rows = [p for p in session.scalars(stmt)
            if all(not getattr(p, attr) or value in getattr(p, attr) for attr, value in items_filter)]
    start = (args["page"] - 1) * args["per_page"]
    return Page(rows[start:start + args["per_page"]], args["page"], args["per_page"], len(rows))


# --- matching --------------------------------------------------------------------------------

def facts_of(session: Session, enterprise_ids: list[int], today: dt.date | None = None) -> dict[int, FirmFacts]:
    """Eligibility facts of many firms with a fixed number of queries (no N+1): the same
    loader serves a firm's own matches and a bank's list of eligible firms."""
    today = today or today_cn()
    if not enterprise_ids:
        return {}
    firms = session.execute(
        sa.select(Enterprise.id, Enterprise.uscc, Enterprise.name, sa.type_coerce(Enterprise.segment, sa.String()),
                  Enterprise.province_code, Enterprise.founded_on, Evaluation.grade, Evaluation.score)
        .outerjoin(Evaluation, sa.and_(Evaluation.enterprise_id == Enterprise.id, Evaluation.current.is_(True)))
        .where(Enterprise.id.in_(enterprise_ids))
    ).all()
    live = sa.and_(CreditRecord.enterprise_id.in_(enterprise_ids), CreditRecord.status.in_(list(LIVE_STATUSES)),
                   sa.or_(CreditRecord.expires_on.is_(None), CreditRecord.expires_on > today))
    tax: dict[int, str | None] = {}
    for ent_id, payload in session.execute(
            sa.select(CreditRecord.enterprise_id, CreditRecord.payload).where(live, CreditRecord.category == Category.tax)
            .order_by(CreditRecord.enterprise_id, CreditRecord.occurred_on)):
        tax[ent_id] = (payload or {}).get("grade")  # ordered by date: the latest wins
    dishonest = {ent_id for ent_id, payload in session.execute(
        sa.select(CreditRecord.enterprise_id, CreditRecord.payload).where(live, CreditRecord.category == Category.judicial))
        if (payload or {}).get("dishonest_conduct")}
    since = utcnow() - dt.timedelta(days=91)
    queries = {row[0]: row[1] for row in session.execute(
        sa.select(QueryLog.enterprise_id, sa.func.count()).where(QueryLog.enterprise_id.in_(enterprise_ids),
                                                                 QueryLog.at >= since)
        .group_by(QueryLog.enterprise_id))}
    return {
        ent_id: FirmFacts(enterprise_id=ent_id, uscc=uscc, name=name, segment=segment, province_code=province,
                          founded_on=founded, grade=grade, score=score, tax_grade=tax.get(ent_id),
                          dishonest=ent_id in dishonest, queries_3m=int(queries.get(ent_id, 0)))
        for ent_id, uscc, name, segment, province, founded, grade, score in firms
    }


def firm_facts(session: Session, ent: Enterprise, today: dt.date | None = None) -> FirmFacts:
    return facts_of(session, [ent.id], today)[ent.id]


@dataclass
class Match:
    product: Product
    outcomes: list[Outcome]
    my_terms: dict[str, Any] | None = None
    failed: list[Outcome] = field(default_factory=list)


def _match(product: Product, facts: FirmFacts, today: dt.date) -> Match:
    outcomes = assess(product, facts, today)
    terms = (product.grade_terms or {}).get(facts.grade) if facts.grade else None
    return Match(product, outcomes, terms, [o for o in outcomes if not o.ok])


def assess_for_firm(session: Session, ent: Enterprise, product: Product) -> tuple[FirmFacts, Match]:
    """One product against one firm: each condition met or failed, and the firm's terms."""
    facts = firm_facts(session, ent)
    return facts, _match(product, facts, today_cn())


def products_for_firm(session: Session, ent: Enterprise, near_miss_rules: int = 1) -> tuple[FirmFacts, list[Match],
                                                                                         list[Match]]:
    """The live products a firm is eligible for (with why), and the near misses: products
    failing at most ``near_miss_rules`` rules (with the rule they fail)."""
    facts = firm_facts(session, ent)
    today = today_cn()
    products = session.scalars(
        sa.select(Product).where(Product.status == ProductStatus.live,
                                 sa.or_(Product.deadline.is_(None), Product.deadline >= today))
        .order_by(Product.rate_min, Product.id)
    ).all()
    matches, near = [], []
    for product in products:
        match = _match(product, facts, today)
        if not match.failed:
            matches.append(match)
        elif len(match.failed) <= near_miss_rules:
            near.append(match)
    return facts, matches, near


# --- firms' settings and the bank's side ------------------------------------------------------

def set_discoverable(session: Session, user: User, discoverable: bool) -> MarketplaceProfile:
    if user.role != Role.firm or user.enterprise_id is None:
        raise Forbidden("只有企业用户可以设置", code="not_a_firm")
    profile = session.scalar(sa.select(MarketplaceProfile).where(MarketplaceProfile.enterprise_id == user.enterprise_id))
    if profile is None:
        profile = MarketplaceProfile(enterprise_id=user.enterprise_id)
        session.add(profile)
    profile.discoverable = discoverable
    session.flush()
    audit.record(session, f"user:{user.username}", "marketplace.discoverable", subject_type="enterprise",
                 subject_id=str(user.enterprise_id), detail={"discoverable": discoverable})
    return profile


def discoverable_firm(session: Session, uscc: str) -> FirmFacts | None:
    """A firm a bank may address (it opted in), with its facts; any other is ``None`` — a
    firm that did not opt in is not disclosed."""
    ent_id = session.scalar(sa.select(Enterprise.id).join(
        MarketplaceProfile, sa.and_(MarketplaceProfile.enterprise_id == Enterprise.id,
                                    MarketplaceProfile.discoverable.is_(True))).where(Enterprise.uscc == uscc))
    return facts_of(session, [ent_id])[ent_id] if ent_id is not None else None


def is_discoverable(session: Session, enterprise_id: int) -> bool:
    return bool(session.scalar(sa.select(MarketplaceProfile.discoverable)
                               .where(MarketplaceProfile.enterprise_id == enterprise_id)))


@dataclass
class Candidate:
    facts: FirmFacts
    outcomes: list[Outcome]


def firms_for_product(session: Session, user: User, product_no: str, page: int, per_page: int) -> Page[Candidate]:
    """主动授信: the discoverable firms eligible for one of the bank's products, best grade
    first, then highest score — checked with the same rules as a firm's own matches.  Only
    firms that opted in appear; the grade, segment and province conditions narrow the
    candidates in SQL first."""
    product = own_product(session, user, product_no)
    today = today_cn()
    stmt = (
        sa.select(Enterprise.id)
        .join(MarketplaceProfile, sa.and_(MarketplaceProfile.enterprise_id == Enterprise.id,
                                          MarketplaceProfile.discoverable.is_(True)))
        .join(Evaluation, sa.and_(Evaluation.enterprise_id == Enterprise.id, Evaluation.current.is_(True)))
        .where(Evaluation.grade.in_(GRADES[: GRADES.index(product.min_grade) + 1]))
    )
    if product.segments:
        stmt = stmt.where(Enterprise.segment.in_(product.segments))
    if product.provinces:
        stmt = stmt.where(Enterprise.province_code.in_(product.provinces))
    ids = list(session.scalars(stmt))
    found = []
    for start in range(0, len(ids), 1000):
        for facts in facts_of(session, ids[start:start + 1000], today).values():
            outcomes = assess(product, facts, today)
            if eligible(outcomes):
                found.append(Candidate(facts, outcomes))
    found.sort(key=lambda c: (GRADES.index(c.facts.grade or "C"), -(c.facts.score or 0), c.facts.uscc))
    first = (page - 1) * per_page
    return Page(found[first:first + per_page], page, per_page, len(found))
