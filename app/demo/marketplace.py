"""Marketplace demo data (run by ``powercredit seed`` after the firms are graded): the demo
banks' live products at several minimum grades, discoverable firms, applications in every
state and offers — made through the same services users go through, so every rule holds.
Runs once: a database that already has products is left as it is."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Institution, User
from app.archive.models import Enterprise
from app.core import clock
from app.core.errors import DomainError
from app.core.signing import SigningKeys
from app.demo.firms import bank_officer, demo_firm_user
from app.scoring.models import Evaluation
from marketplace import applications, offers, services
from marketplace.models import (
    ApplicationStatus,
    MarketplaceProfile,
    OfferStatus,
    Product,
)
from marketplace.rules import assess, eligible

# (name, type, min grade, amount range ¥, rate range %, term range months, repayment, collateral, requirements)
PRODUCTS: list[tuple[str, str, str, tuple[int, int], tuple[str, str], tuple[int, int], list[str], str, dict[str, Any]]] = [
    ("电e贷（信用）", "credit_loan", "AA", (500_000, 10_000_000), ("3.200", "4.800"), (1, 36),
     ["on_demand", "equal_instalment"], "none", {"min_tax_grade": "B", "no_dishonest": True}),
    ("绿电融（新能源）", "credit_loan", "AAA", (1_000_000, 30_000_000), ("3.000", "4.200"), (6, 60),
     ["equal_principal", "interest_first"], "none", {"no_dishonest": True}),
    ("供电链（应收账款）", "supply_chain", "A", (100_000, 5_000_000), ("3.800", "5.800"), (1, 12),
     ["bullet"], "pledge", {"max_queries_3m": 6}),
    ("普惠电费贷", "credit_loan", "BBB", (50_000, 1_000_000), ("4.350", "7.200"), (3, 24),
     ["equal_instalment"], "none", {"no_dishonest": True}),
    ("工程保函贷", "guarantee_loan", "A", (200_000, 8_000_000), ("3.900", "6.000"), (6, 36),
     ["interest_first"], "guarantee", {}),
]
# The states the demo's applications and offers are taken to (app.demo.CLAIMED_STATES).
# The first (the demo firm's first) is under review with its report pulled, so its query log,
# its consent's use count and the bank's pulled reports have something to show.
APPLICATION_PLAN = [ApplicationStatus.under_review, ApplicationStatus.submitted, ApplicationStatus.approved,
                    ApplicationStatus.rejected, ApplicationStatus.accepted, ApplicationStatus.declined,
                    ApplicationStatus.disbursed, ApplicationStatus.withdrawn]
OFFER_PLAN = [OfferStatus.sent, OfferStatus.accepted, OfferStatus.declined, OfferStatus.withdrawn, OfferStatus.expired]
GRADE_TERMS = {"AAA": {"rate_discount": Decimal("0.300"), "deposit_ratio": Decimal("0.000")},
               "AA": {"rate_discount": Decimal("0.150"), "deposit_ratio": Decimal("0.050")},
               "A": {"rate_discount": Decimal("0.000"), "deposit_ratio": Decimal("0.100")}}


@dataclass
class MarketplaceSeed:
    products: int = 0
    discoverable: int = 0
    applications: Counter[str] = field(default_factory=Counter)
    offers: Counter[str] = field(default_factory=Counter)


def seed_marketplace(session: Session, signer: SigningKeys, bank_licences: list[str], seed: int,
                     demo_firm_id: int | None, cap: Decimal) -> MarketplaceSeed:
    out = MarketplaceSeed()
    if session.scalar(sa.select(Product.id).limit(1)) is not None:
        return out
    rng = random.Random(seed)
    banks = [b for b in (session.scalar(sa.select(Institution).where(Institution.licence_no == lic))
                         for lic in bank_licences) if b is not None]
    products: list[tuple[Product, User]] = []
    for i, spec in enumerate(PRODUCTS * 2):
        name, kind, grade, amounts, rates, terms, repayment, collateral, requirements = spec
        bank = banks[(i + i // len(PRODUCTS)) % len(banks)]  # the second round goes to other banks
        officer = bank_officer(session, bank)
        product = services.create_product(session, officer, {
            "name": name if i < len(PRODUCTS) else f"{name}·{bank.name[:4]}", "type": kind, "min_grade": grade,
            "description": f"{bank.name}面向涉电力领域市场主体的{name}。", "amount_min": Decimal(amounts[0]),
            "amount_max": Decimal(amounts[1]), "rate_min": Decimal(rates[0]), "rate_max": Decimal(rates[1]),
            "term_min": terms[0], "term_max": terms[1], "repayment_methods": repayment, "collateral": collateral,
            "requirements": requirements, "grade_terms": GRADE_TERMS if kind == "credit_loan" else {},
            "segments": [], "provinces": [], "min_years_in_business": 1 if grade in ("AA", "AAA") else 0,
            "deadline": None}, cap)
        if i == len(PRODUCTS) * 2 - 1:
            continue  # one draft
        services.change_status(session, officer, product.product_no, "live")
        if i == len(PRODUCTS) * 2 - 2:
            services.change_status(session, officer, product.product_no, "paused")
            continue
        products.append((product, officer))
    out.products = len(products)

    graded = session.execute(
        sa.select(Enterprise, Evaluation.grade).join(Evaluation, sa.and_(Evaluation.enterprise_id == Enterprise.id,
                                                                         Evaluation.current.is_(True)))
        .order_by(Enterprise.id)).all()
    discoverable = [ent for ent, grade in graded
                    if ent.id == demo_firm_id or (grade in ("AAA", "AA", "A") and rng.random() < 0.5)]
    for ent in discoverable:
        session.add(MarketplaceProfile(enterprise_id=ent.id, discoverable=True))
    session.flush()
    out.discoverable = len(discoverable)

    # Applications: eligible firms apply; the banks move them to every state. Until every state
    # has one application, the next one goes to the first state still missing; after that each
    # bank's applications walk the states in turn.
    plan = [str(st) for st in APPLICATION_PLAN]
    ordered = sorted(discoverable, key=lambda e: (e.id != demo_firm_id, e.id))
    k = 0
    per_bank: dict[int, int] = {}
    for ent in ordered:
        user = demo_firm_user(session, ent)
        _, matches, _ = services.products_for_firm(session, ent)
        for match in matches[:2]:
            product = session.get_one(Product, match.product.id)
            officer = next(o for p, o in products if p.id == product.id)
            missing = [st for st in plan if not out.applications[st]]
            if missing:
                target = missing[0]
            else:
                target = plan[per_bank.get(product.institution_id, 0) % len(plan)]
                per_bank[product.institution_id] = per_bank.get(product.institution_id, 0) + 1
            k += 1
            amount = (product.amount_min + (product.amount_max - product.amount_min) * Decimal(rng.randint(5, 40)) / 100
                      ).quantize(Decimal("1000"))
            app = applications.apply(session, signer, user, product.product_no, amount, product.term_min,
                                     rng.choice(["采购设备", "支付电费与原材料款", "项目建设周转", "履约保证金"]))
            _advance(session, signer, app.application_no, target, officer, user, product, amount)
            out.applications[target] += 1
        if k >= 3 * len(plan):
            break

    # Offers to AA+ discoverable firms, two rounds of every state (OFFER_PLAN). A
    # firm that cannot take an offer in the planned state (an application for the product
    # already open, say) is passed over for the next one: the state is reached all the same.
    now = clock.now()
    offer_plan = [str(st) for st in OFFER_PLAN] * 2
    candidates = [(ent, product, officer) for ent in ordered
                  if services.facts_of(session, [ent.id])[ent.id].grade in offers.OFFER_GRADES
                  for product, officer in products]
    offered: set[int] = set()
    for state in offer_plan:
        while candidates:
            ent, product, officer = candidates.pop(0)
            if ent.id in offered or not eligible(assess(product, services.facts_of(session, [ent.id])[ent.id],
                                                        clock.today())):
                continue
            if _offer(session, signer, officer, demo_firm_user(session, ent), ent, product, state,
                      now + dt.timedelta(days=rng.randint(7, 30)), now):
                offered.add(ent.id)
                out.offers[state] += 1
                break
    return out


def _offer(session: Session, signer: SigningKeys, officer: User, user: User, ent: Enterprise, product: Product,
           state: str, valid_until: dt.datetime, now: dt.datetime) -> bool:
    """Send ``ent`` an offer for ``product`` and take it to ``state``; nothing is left behind
    when a step is refused."""
    savepoint = session.begin_nested()
    try:
        offer = offers.send_offer(session, officer, {
            "product_no": product.product_no, "uscc": ent.uscc, "credit_limit": product.amount_min * 2,
            "rate": product.rate_min, "term_months": product.term_max, "valid_until": valid_until})
        if state == "accepted":
            offers.respond(session, signer, user, offer.offer_no, "accept", "接受主动授信")
        elif state == "declined":
            offers.respond(session, signer, user, offer.offer_no, "decline")
        elif state == "withdrawn":
            offers.respond(session, signer, officer, offer.offer_no, "withdraw")
        elif state == "expired":
            offer.valid_until = now - dt.timedelta(days=1)
            session.flush()
            offers.expire_due(session)
    except DomainError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def _advance(session: Session, signer: SigningKeys, no: str, target: str, officer: User, firm: User,
             product: Product, amount: Decimal) -> None:
    plan: dict[str, list[tuple[str, User, dict[str, Any]]]] = {
        "submitted": [], "under_review": [("review", officer, {})],
        "approved": [("review", officer, {}), ("approve", officer, {})],
        "rejected": [("review", officer, {}), ("reject", officer, {"reason": "近期经营数据不足，暂不符合审批要求"})],
        "accepted": [("review", officer, {}), ("approve", officer, {}), ("accept", firm, {})],
        "declined": [("review", officer, {}), ("approve", officer, {}), ("decline", firm, {"reason": "利率高于预期"})],
        "disbursed": [("review", officer, {}), ("approve", officer, {}), ("accept", firm, {}),
                      ("disburse", officer, {})],
        "withdrawn": [("withdraw", firm, {"reason": "资金需求已满足"})],
    }
    steps = plan[target]
    offer = {"offered_amount": amount, "offered_rate": product.rate_min + Decimal("0.200")
             if product.rate_min + Decimal("0.200") <= product.rate_max else product.rate_min,
             "offered_term_months": product.term_min}
    for action, who, data in steps:
        if action == "approve":
            data = offer
        elif action == "disburse":
            data = {"disbursed_amount": amount, "disbursed_on": clock.today()}
        applications.take_step(session, who, no, action, data)
        if action == "review":  # the officer reviews with a report pulled under the application's consent
            applications.pull_report_for(session, signer, officer, no)
