"""信易贷 marketplace: banks' credit-loan products."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Institution
from app.archive.models import Enterprise
from app.core import clock
from app.core.db import Base, JSONType, UTCDateTime, intpk, str_enum
from consent.models import Consent


class ProductType(enum.StrEnum):
    credit_loan = "credit_loan"  # 信用贷款
    guarantee_loan = "guarantee_loan"  # 保证贷款
    pledge_loan = "pledge_loan"  # 质押贷款
    mortgage_loan = "mortgage_loan"  # 抵押贷款
    supply_chain = "supply_chain"  # 供应链融资
    bill_discount = "bill_discount"  # 票据贴现


PRODUCT_TYPE_LABELS = {
    ProductType.credit_loan: "信用贷款", ProductType.guarantee_loan: "保证贷款", ProductType.pledge_loan: "质押贷款",
    ProductType.mortgage_loan: "抵押贷款", ProductType.supply_chain: "供应链融资",
    ProductType.bill_discount: "票据贴现",
}


class Repayment(enum.StrEnum):
    on_demand = "on_demand"  # 随借随还
    equal_instalment = "equal_instalment"  # 等额本息
    equal_principal = "equal_principal"  # 等额本金
    interest_first = "interest_first"  # 先息后本
    bullet = "bullet"  # 到期一次还本付息


REPAYMENT_LABELS = {
    Repayment.on_demand: "随借随还", Repayment.equal_instalment: "等额本息", Repayment.equal_principal: "等额本金",
    Repayment.interest_first: "先息后本", Repayment.bullet: "到期一次还本付息",
}


class Collateral(enum.StrEnum):
    none = "none"  # 无需担保（信用）
    guarantee = "guarantee"  # 第三方保证
    pledge = "pledge"  # 质押
    mortgage = "mortgage"  # 抵押


COLLATERAL_LABELS = {Collateral.none: "无需担保", Collateral.guarantee: "第三方保证", Collateral.pledge: "质押",
                     Collateral.mortgage: "抵押"}


class ProductStatus(enum.StrEnum):
    draft = "draft"
    live = "live"
    paused = "paused"
    closed = "closed"


PRODUCT_STATUS_LABELS = {ProductStatus.draft: "草稿", ProductStatus.live: "已上架", ProductStatus.paused: "已暂停",
                         ProductStatus.closed: "已下架"}
# Who may move a product where: the bank that owns it, along these edges only.
PRODUCT_TRANSITIONS = {
    ProductStatus.draft: {ProductStatus.live, ProductStatus.closed},
    ProductStatus.live: {ProductStatus.paused, ProductStatus.closed},
    ProductStatus.paused: {ProductStatus.live, ProductStatus.closed},
    ProductStatus.closed: set(),
}


class Product(Base):
    __tablename__ = "loan_product"
    __table_args__ = (
        sa.CheckConstraint("amount_min > 0 AND amount_min <= amount_max", name="amount_range"),
        sa.CheckConstraint("rate_min > 0 AND rate_min <= rate_max", name="rate_range"),
        sa.CheckConstraint("term_min >= 1 AND term_min <= term_max", name="term_range"),
        sa.Index("ix_loan_product_status_grade", "status", "min_grade"),
    )

    id: Mapped[intpk]
    product_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    institution_id: Mapped[int] = mapped_column(sa.ForeignKey("institution.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    type: Mapped[ProductType] = mapped_column(str_enum("product_type", list(ProductType)))
    description: Mapped[str | None] = mapped_column(sa.Text)
    min_grade: Mapped[str] = mapped_column(sa.String(3), default="AA")
    amount_min: Mapped[Decimal]
    amount_max: Mapped[Decimal]
    rate_min: Mapped[Decimal] = mapped_column(sa.Numeric(6, 3))  # annual %, e.g. 3.450
    rate_max: Mapped[Decimal] = mapped_column(sa.Numeric(6, 3))
    term_min: Mapped[int]  # months
    term_max: Mapped[int]
    repayment_methods: Mapped[list[str]] = mapped_column(JSONType)
    segments: Mapped[list[str]] = mapped_column(JSONType, default=list)  # empty: every segment
    provinces: Mapped[list[str]] = mapped_column(JSONType, default=list)  # 2-digit codes; empty: everywhere
    min_years_in_business: Mapped[int] = mapped_column(default=0)
    requirements: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    collateral: Mapped[Collateral] = mapped_column(str_enum("product_collateral", list(Collateral)))
    grade_terms: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    deadline: Mapped[dt.date | None]
    status: Mapped[ProductStatus] = mapped_column(str_enum("product_status", list(ProductStatus)), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    institution: Mapped[Institution] = relationship(lazy="joined")


class MarketplaceProfile(Base):
    """A firm's marketplace settings: whether banks may find it for proactive credit
    (主动授信).  Off until the firm turns it on."""

    __tablename__ = "marketplace_profile"

    id: Mapped[intpk]
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"), unique=True)
    discoverable: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)


class ApplicationStatus(enum.StrEnum):
    submitted = "submitted"
    under_review = "under_review"
    approved = "approved"
    rejected = "rejected"
    accepted = "accepted"
    declined = "declined"
    disbursed = "disbursed"
    withdrawn = "withdrawn"


APPLICATION_STATUS_LABELS = {
    ApplicationStatus.submitted: "已提交", ApplicationStatus.under_review: "审核中", ApplicationStatus.approved: "已批准",
    ApplicationStatus.rejected: "已拒绝", ApplicationStatus.accepted: "企业已接受", ApplicationStatus.declined: "企业已放弃",
    ApplicationStatus.disbursed: "已放款", ApplicationStatus.withdrawn: "企业已撤回",
}


class Application(Base):
    """A firm's loan application for a product; applying grants the bank a consent."""

    __tablename__ = "loan_application"
    __table_args__ = (sa.Index("ix_loan_application_product_status", "product_id", "status"),)

    id: Mapped[intpk]
    application_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    product_id: Mapped[int] = mapped_column(sa.ForeignKey("loan_product.id"))
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"), index=True)
    institution_id: Mapped[int] = mapped_column(sa.ForeignKey("institution.id"), index=True)
    consent_pk: Mapped[int] = mapped_column(sa.ForeignKey("consent.id"))
    amount: Mapped[Decimal]
    term_months: Mapped[int]
    purpose: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[ApplicationStatus] = mapped_column(str_enum("application_status", list(ApplicationStatus)))
    grade_at_application: Mapped[str | None] = mapped_column(sa.String(3))
    offered_amount: Mapped[Decimal | None]
    offered_rate: Mapped[Decimal | None] = mapped_column(sa.Numeric(6, 3))
    offered_term_months: Mapped[int | None]
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    disbursed_amount: Mapped[Decimal | None]
    disbursed_on: Mapped[dt.date | None]
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)

    product: Mapped[Product] = relationship(lazy="joined")
    enterprise: Mapped[Enterprise] = relationship()
    consent: Mapped[Consent] = relationship()


class ApplicationEvent(Base):
    """One step of an application's timeline: who moved it, from what to what, when."""

    __tablename__ = "loan_application_event"

    id: Mapped[intpk]
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("loan_application.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    actor: Mapped[str] = mapped_column(sa.String(100))
    from_status: Mapped[str | None] = mapped_column(sa.String(20))
    to_status: Mapped[str] = mapped_column(sa.String(20))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class LoanRepayment(Base):
    """One instalment of a disbursed loan as the lending bank reports it: due, paid (or not yet),
    and how many days past due — the outcome the scorecard is validated against."""

    __tablename__ = "loan_repayment"
    __table_args__ = (sa.UniqueConstraint("application_id", "due_on"),)

    id: Mapped[intpk]
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("loan_application.id"), index=True)
    due_on: Mapped[dt.date]
    amount_due: Mapped[Decimal]
    paid_on: Mapped[dt.date | None]
    amount_paid: Mapped[Decimal | None]
    days_past_due: Mapped[int]
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    recorded_by: Mapped[str] = mapped_column(sa.String(100))


class OfferStatus(enum.StrEnum):
    sent = "sent"
    accepted = "accepted"
    declined = "declined"
    withdrawn = "withdrawn"
    expired = "expired"


OFFER_STATUS_LABELS = {OfferStatus.sent: "待企业答复", OfferStatus.accepted: "企业已接受", OfferStatus.declined: "企业已谢绝",
                       OfferStatus.withdrawn: "机构已撤回", OfferStatus.expired: "已过期"}


class Offer(Base):
    """A pre-approved credit offer (主动授信) a bank sends a discoverable AA+ firm."""

    __tablename__ = "credit_offer"
    __table_args__ = (sa.Index("ix_credit_offer_enterprise_status", "enterprise_id", "status"),)

    id: Mapped[intpk]
    offer_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    product_id: Mapped[int] = mapped_column(sa.ForeignKey("loan_product.id"))
    institution_id: Mapped[int] = mapped_column(sa.ForeignKey("institution.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"))
    credit_limit: Mapped[Decimal]
    rate: Mapped[Decimal] = mapped_column(sa.Numeric(6, 3))
    term_months: Mapped[int]
    valid_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[OfferStatus] = mapped_column(str_enum("offer_status", list(OfferStatus)))
    grade_at_offer: Mapped[str] = mapped_column(sa.String(3))
    application_id: Mapped[int | None] = mapped_column(sa.ForeignKey("loan_application.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    product: Mapped[Product] = relationship(lazy="joined")
    enterprise: Mapped[Enterprise] = relationship()
    application: Mapped[Application | None] = relationship()
