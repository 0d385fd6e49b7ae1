"""Loan products (a bank publishes and manages its own) and matching them to firms with the
one rule set in ``marketplace.rules``."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Institution, Role, User
from app.archive.models import LIVE_STATUSES, Category, CreditRecord, Enterprise
from app.audit import services as audit
from app.core import clock
from app.core.db import Page, paginate
from app.core.errors import Conflict, Forbidden, InvalidInput
from app.scoring.models import Evaluation
from app.scoring.scorecard import GRADES
from consent.models import CREDIT_INQUIRY_PURPOSES, QueryLog
from marketplace.errors import ProductNotFound
from marketplace.models import (
    PRODUCT_STATUS_LABELS,
    PRODUCT_TRANSITIONS,
    MarketplaceProfile,
    Product,
    ProductStatus,
)
from marketplace.rules import (
    EXTRA_FACTS,
    FirmFacts,
    Outcome,
    Rule,
    applicable,
    assess,
    facts_needed,
    failures,
)
from marketplace.schemas import RANGES, range_errors


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
                key: [f"年利率不能超过上限 {cap}%（一年期 LPR 的规定倍数）。"]})


def _check_terms(merged: dict[str, Any], given: dict[str, Any]) -> None:
    """What the product's own fields allow: a deadline (when given) not already past, and
    every grade's rate discount leaving a positive rate at the product's lowest one."""
    errors: dict[str, list[str]] = {}
    deadline = given.get("deadline")
    if deadline is not None and deadline < clock.today():
        errors["deadline"] = [f"申请截止日不能早于今天（{clock.today().isoformat()}）。"]
    rate_min = merged.get("rate_min")
    for grade, terms in (merged.get("grade_terms") or {}).items():
        discount = terms.get("rate_discount")
        if rate_min is not None and discount is not None and Decimal(discount) >= Decimal(rate_min):
            errors.setdefault(f"grade_terms.{grade}.rate_discount", []).append(
                f"利率优惠应小于产品最低年利率 {Decimal(rate_min):.3f}%（优惠后年利率须大于 0）。")
    if errors:
        raise InvalidInput("产品参数有误", errors=errors)


def deadline_passed(product: Product, today: dt.date | None = None) -> bool:
    return product.deadline is not None and product.deadline < (today or clock.today())


def _stored(data: dict[str, Any]) -> dict[str, Any]:
    """JSON columns hold the grade terms' decimals as strings ("0.300")."""
    if "grade_terms" in data:
        data = {**data, "grade_terms": {g: {k: f"{v:.3f}" for k, v in terms.items()}
                                        for g, terms in data["grade_terms"].items()}}
    return data


def create_product(session: Session, user: User, data: dict[str, Any], cap: Decimal) -> Product:
    institution_id = _bank_of(user)
    _check_rate(data, cap)
    _check_terms(data, data)
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
    merged = {k: getattr(product, k) for pair in RANGES for k in pair[:2]} | {"grade_terms": product.grade_terms} | data
    errors = range_errors(merged, data)
    if errors:
        raise InvalidInput("产品参数有误", errors=errors)
    _check_rate(data, cap)
    _check_terms(merged, data)
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
    if target == ProductStatus.live and deadline_passed(product):
        raise Conflict(f"产品的申请截止日（{product.deadline}）已过，不能上架；请先修改截止日", code="product_deadline_passed")
    old = product.status
    now = clock.now()
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
        today = clock.today()
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

ALL_FACTS = EXTRA_FACTS


@dataclass(frozen=True)
class FactColumns:
    """A firm's eligibility facts as SQL expressions (over ``enterprise`` joined to its
    current ``evaluation``): what the rules' SQL forms (``Rule.where``) are written against."""

    grade: Any
    score: Any
    segment: Any
    province_code: Any
    founded_on: Any
    tax_grade: Any  # the latest live tax grade
    dishonest: Any  # a live 失信被执行人 record
    queries_3m: Any  # institution queries in the last three months


def fact_columns(today: dt.date, ent_id: Any = Enterprise.id, *, grade: Any = Evaluation.grade,
                 score: Any = Evaluation.score, segment: Any = Enterprise.segment,
                 province_code: Any = Enterprise.province_code, founded_on: Any = Enterprise.founded_on) -> FactColumns:
    """The facts over the given columns (the enterprise and its current evaluation, or a
    query's columns standing for them); the extras are correlated subqueries on ``ent_id``
    over indexed columns (one row per firm, no IN lists of ids)."""
    live = sa.and_(CreditRecord.enterprise_id == ent_id, CreditRecord.status.in_(list(LIVE_STATUSES)),
                   sa.or_(CreditRecord.expires_on.is_(None), CreditRecord.expires_on > today))
    return FactColumns(
        grade=grade, score=score, segment=segment, province_code=province_code, founded_on=founded_on,
        tax_grade=sa.select(CreditRecord.payload["grade"].as_string())
        .where(live, CreditRecord.category == Category.tax)
        .order_by(CreditRecord.occurred_on.desc(), CreditRecord.id.desc()).limit(1).scalar_subquery(),
        dishonest=sa.exists().where(live, CreditRecord.category == Category.judicial,
                                    CreditRecord.payload["dishonest_conduct"].as_string().is_not(None)),
        queries_3m=sa.select(sa.func.count()).select_from(QueryLog)
        .where(QueryLog.enterprise_id == ent_id, QueryLog.at >= clock.now() - dt.timedelta(days=91),
               QueryLog.purpose.in_(sorted(CREDIT_INQUIRY_PURPOSES)))
        .scalar_subquery(),
    )


def facts_query(today: dt.date, needed: frozenset[str] = ALL_FACTS) -> sa.Select[Any]:
    """One SELECT of firms' eligibility facts (registration, current grade and score, and of
    the others only those ``needed``: tax grade, dishonest record, recent queries)."""
    c = fact_columns(today)
    return (
        # Enum and date columns read raw (strings, parsed below with the C parser): tens of
        # thousands of rows through SQLAlchemy's per-value processors cost a tenth of a second.
        sa.select(Enterprise.id, Enterprise.uscc, Enterprise.name, sa.type_coerce(Enterprise.segment, sa.String()),
                  Enterprise.province_code, sa.type_coerce(Enterprise.founded_on, sa.String()),
                  sa.type_coerce(Evaluation.grade, sa.String()), Evaluation.score,
                  c.tax_grade if "tax_grade" in needed else sa.null(),
                  c.dishonest if "dishonest" in needed else sa.false(),
                  c.queries_3m if "queries_3m" in needed else sa.literal(0))
        .outerjoin(Evaluation, sa.and_(Evaluation.enterprise_id == Enterprise.id, Evaluation.current.is_(True)))
    )


def load_facts(session: Session, stmt: sa.Select[Any]) -> list[FirmFacts]:
    """The rows of a :func:`facts_query` (narrowed by the caller) as facts (Core rows: no
    ORM objects)."""
    day = dt.date.fromisoformat
    return [FirmFacts(ent_id, uscc, name, segment, province,
                      day(founded) if founded.__class__ is str else founded,  # text from SQLite, a date from psycopg
                      grade, score, tax, bool(dishonest), int(queries or 0))
            for ent_id, uscc, name, segment, province, founded, grade, score, tax, dishonest, queries
            in session.connection().execute(stmt)]


def facts_of(session: Session, enterprise_ids: list[int], today: dt.date | None = None,
             needed: frozenset[str] = ALL_FACTS) -> dict[int, FirmFacts]:
    """Eligibility facts of the given firms in one statement (no N+1)."""
    if not enterprise_ids:
        return {}
    stmt = facts_query(today or clock.today(), needed).where(Enterprise.id.in_(enterprise_ids))
    return {f.enterprise_id: f for f in load_facts(session, stmt)}


def firm_facts(session: Session, ent: Enterprise, today: dt.date | None = None) -> FirmFacts:
    return facts_of(session, [ent.id], today)[ent.id]


@dataclass(frozen=True)
class InstitutionRef:
    name: str
    licence_no: str


@dataclass(frozen=True)
class ProductView:
    """A live product as matching reads and shows it: the same attributes as
    :class:`Product` (``ProductOutSchema`` serialises either), loaded in one Core query —
    hundreds of products per request without building ORM objects."""

    id: int
    product_no: str
    institution_id: int
    name: str
    type: str
    description: str | None
    min_grade: str
    amount_min: Decimal
    amount_max: Decimal
    rate_min: Decimal
    rate_max: Decimal
    term_min: int
    term_max: int
    repayment_methods: list[str]
    segments: list[str]
    provinces: list[str]
    min_years_in_business: int
    requirements: dict[str, Any]
    collateral: str
    grade_terms: dict[str, Any]
    deadline: dt.date | None
    status: str
    published_at: dt.datetime | None
    updated_at: dt.datetime
    institution: InstitutionRef


_VIEW_COLUMNS = tuple(f.name for f in fields(ProductView) if f.name != "institution")


def product_view(product: Product) -> ProductView:
    return ProductView(**{c: getattr(product, c) for c in _VIEW_COLUMNS},
                       institution=InstitutionRef(product.institution.name, product.institution.licence_no))


_products = Product.__table__.c
_LIVE_PRODUCTS = (  # built once: Core rows, no ORM loading per product
    sa.select(*(_products[c] for c in _VIEW_COLUMNS), Institution.__table__.c.name, Institution.__table__.c.licence_no)
    .join(Institution.__table__, Institution.__table__.c.id == _products.institution_id)
    .where(_products.status == ProductStatus.live)
    .order_by(_products.rate_min, _products.id)
)


# The live catalogue, per database: hundreds of products are read on every firm's page, and
# they change rarely.  Every product change sets ``updated_at`` (edits through the ORM,
# status changes by compare-and-set), so the product count and the latest ``updated_at``
# say whether what is held is still what is stored: one small query per request instead of
# loading and converting every product.
_STAMP = sa.select(sa.func.count(), sa.func.max(sa.type_coerce(_products.updated_at, sa.String())))
_catalogues: dict[str, tuple[tuple[Any, ...], list[tuple[ProductView, tuple[Rule, ...]]]]] = {}


def live_catalogue(session: Session, today: dt.date | None = None) -> list[tuple[ProductView, tuple[Rule, ...]]]:
    """Every live product open for applications (cheapest first), with the rules it uses."""
    today = today or clock.today()
    conn = session.connection()
    key = conn.engine.url.render_as_string(hide_password=True)
    stamp = tuple(conn.execute(_STAMP).one())
    held = _catalogues.get(key)
    if held is None or held[0] != stamp:
        n = len(_VIEW_COLUMNS)
        views = [ProductView(**dict(zip(_VIEW_COLUMNS, row[:n], strict=True)),
                             institution=InstitutionRef(row[n], row[n + 1])) for row in conn.execute(_LIVE_PRODUCTS)]
        held = _catalogues[key] = (stamp, [(view, applicable(view)) for view in views])
    return [(view, rules) for view, rules in held[1] if view.deadline is None or view.deadline >= today]


@dataclass
class Match:
    product: Product | ProductView
    outcomes: list[Outcome]
    my_terms: dict[str, Any] | None = None
    failed: list[Outcome] = field(default_factory=list)


def _match(product: Product | ProductView, facts: FirmFacts, today: dt.date,
           rules: tuple[Rule, ...] | None = None) -> Match:
    outcomes = assess(product, facts, today, rules)
    terms = (product.grade_terms or {}).get(facts.grade) if facts.grade else None
    return Match(product, outcomes, terms, [o for o in outcomes if not o.ok])


def assess_for_firm(session: Session, ent: Enterprise, product: Product) -> tuple[FirmFacts, Match]:
    """One product against one firm: each condition met or failed, and the firm's terms."""
    facts = firm_facts(session, ent)
    return facts, _match(product, facts, clock.today())


def products_for_firm(session: Session, ent: Enterprise, near_miss_rules: int = 1) -> tuple[FirmFacts, list[Match],
                                                                                         list[Match]]:
    """The live products a firm is eligible for (with why), and the near misses: products
    failing at most ``near_miss_rules`` rules (with the rule they fail).  Every product is
    tested; only those shown get their reasons worded."""
    facts = firm_facts(session, ent)
    today = clock.today()
    matches: list[Match] = []
    near: list[Match] = []
    for product, rules in live_catalogue(session, today):
        failed = failures(product, rules, facts, today, near_miss_rules)
        if failed <= near_miss_rules:
            (near if failed else matches).append(_match(product, facts, today, rules))
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
    first, then highest score (then code).  The product's rules are applied in the database
    through their SQL forms (the same rule set as a firm's own matches; tests check the two
    forms agree at every rule's edge), so ranking, counting and paging happen there and only
    the page shown is loaded — with its facts and worded reasons — in Python."""
    product = own_product(session, user, product_no)
    view = product_view(product)
    rules = applicable(view)
    today = clock.today()
    # Two steps, so that no planner misjudges how many firms a fact's subquery keeps: the
    # candidates (opted in; grade, segment, province, years — the rules on plain columns)
    # are materialised first, then the rules on the other facts filter them.
    plain = [rule for rule in rules if not rule.facts]
    candidates = (
        sa.select(Enterprise.id.label("id"), Enterprise.uscc.label("uscc"), Evaluation.grade.label("grade"),
                  Evaluation.score.label("score"))
        .join(Evaluation, sa.and_(Evaluation.enterprise_id == Enterprise.id, Evaluation.current.is_(True)))
        .join(MarketplaceProfile, sa.and_(MarketplaceProfile.enterprise_id == Enterprise.id,
                                          MarketplaceProfile.discoverable.is_(True)))
        .where(*(rule.where(view, fact_columns(today), today) for rule in plain))
        .cte("candidates").prefix_with("MATERIALIZED")
    )
    cols = fact_columns(today, candidates.c.id, grade=candidates.c.grade, score=candidates.c.score)
    rank = sa.case({g: i for i, g in enumerate(GRADES)}, value=candidates.c.grade)
    stmt = (sa.select(candidates.c.id, sa.func.count().over().label("total"))
            .where(*(rule.where(view, cols, today) for rule in rules if rule.facts)))
    conn = session.connection()
    rows = conn.execute(stmt.order_by(rank, candidates.c.score.desc(), candidates.c.uscc)
                        .limit(per_page).offset((page - 1) * per_page)).all()
    if rows:
        total = int(rows[0].total)
    else:  # past the last page: the count alone
        total = int(conn.execute(sa.select(sa.func.count()).select_from(
            stmt.with_only_columns(candidates.c.id).subquery())).scalar_one())
    facts = facts_of(session, [row.id for row in rows], today, facts_needed(rules))
    shown = [Candidate(facts[row.id], assess(view, facts[row.id], today, rules)) for row in rows]
    return Page(shown, page, per_page, total)
