"""The credit archive (信用档案): enterprises, data providers, credit records, ingestion runs."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core import clock
from app.core.db import Base, JSONType, UTCDateTime, intpk, str_enum


class Segment(enum.StrEnum):
    generation = "generation"
    grid = "grid"
    construction = "construction"
    supplier = "supplier"
    retail = "retail"
    consumer = "consumer"
    integrated = "integrated"


SEGMENT_LABELS = {
    Segment.generation: "发电", Segment.grid: "电网", Segment.construction: "电力建设",
    Segment.supplier: "供应商", Segment.retail: "售电", Segment.consumer: "电力用户",
    Segment.integrated: "综合能源服务",
}


def segment_label(code: str) -> str:
    """A segment's Chinese name (an unknown code as it is)."""
    return SEGMENT_LABELS.get(Segment(code), code) if code in set(Segment) else code


class Category(enum.StrEnum):
    tax = "tax"
    contract = "contract"
    quality = "quality"
    safety = "safety"
    environment = "environment"
    licence = "licence"
    penalty = "penalty"
    judicial = "judicial"
    bidding = "bidding"
    commitment = "commitment"
    loan = "loan"
    honour = "honour"
    utility = "utility"


CATEGORY_LABELS = {
    Category.tax: "纳税", Category.contract: "合同履约", Category.quality: "产品质量",
    Category.safety: "安全生产", Category.environment: "环保", Category.licence: "行政许可",
    Category.penalty: "行政处罚", Category.judicial: "司法", Category.bidding: "招投标",
    Category.commitment: "信用承诺", Category.loan: "信贷", Category.honour: "荣誉",
    Category.utility: "电费缴纳",
}


class Polarity(enum.StrEnum):
    good = "good"
    bad = "bad"
    neutral = "neutral"


class RecordStatus(enum.StrEnum):
    active = "active"
    disputed = "disputed"
    corrected = "corrected"  # active, and its content is a correction of an earlier version
    revoked = "revoked"
    expired = "expired"


# Statuses whose records count in evaluations and appear on reports.
LIVE_STATUSES = (RecordStatus.active, RecordStatus.disputed, RecordStatus.corrected)


class EnterpriseStatus(enum.StrEnum):
    active = "active"  # 存续
    cancelled = "cancelled"  # 注销
    revoked = "revoked"  # 吊销


class ProviderKind(enum.StrEnum):
    tax_authority = "tax_authority"
    court = "court"
    market_regulator = "market_regulator"
    procurement_platform = "procurement_platform"
    grid_company = "grid_company"
    industry_body = "industry_body"
    financial_institution = "financial_institution"
    other = "other"


PROVIDER_KIND_LABELS = {
    ProviderKind.tax_authority: "税务机关", ProviderKind.court: "人民法院", ProviderKind.market_regulator: "市场监管部门",
    ProviderKind.procurement_platform: "电子采购平台", ProviderKind.grid_company: "电网企业",
    ProviderKind.industry_body: "行业组织", ProviderKind.financial_institution: "金融机构", ProviderKind.other: "其他",
}

class Coverage(enum.StrEnum):
    """Which firms a provider reports on, for the categories it sends.  ``region``: every firm
    registered in its provinces (a tax authority, a court, a grid company: a firm with no bad
    record from it has none); ``reported``: only the firms it has sent a record about (a bank,
    a procurement platform: silence says nothing about the others)."""

    region = "region"
    reported = "reported"


COVERAGE_LABELS = {Coverage.region: "覆盖辖区内全部企业", Coverage.reported: "仅覆盖已报送记录的企业"}
REGIONAL_KINDS = {"tax_authority", "court", "market_regulator", "grid_company", "industry_body"}


def default_coverage(kind: str) -> Coverage:
    return Coverage.region if kind in REGIONAL_KINDS else Coverage.reported


class DataProvider(Base):
    __tablename__ = "data_provider"

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[ProviderKind] = mapped_column(str_enum("provider_kind", list(ProviderKind)))
    categories: Mapped[list[str]] = mapped_column(JSONType)
    # a Coverage value, checked where providers are registered (no CHECK: see migration 0014)
    coverage: Mapped[str] = mapped_column(sa.String(16), server_default=Coverage.reported.value)
    # region coverage: the two-digit province codes it covers; null: the whole country
    provinces: Mapped[list[str] | None] = mapped_column(JSONType)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)

    def may_submit(self, category: str) -> bool:
        return self.active and category in self.categories


class Enterprise(Base):
    __tablename__ = "enterprise"
    __table_args__ = (
        sa.CheckConstraint("length(uscc) = 18", name="uscc_length"),
        sa.CheckConstraint("registered_capital >= 0", name="capital_not_negative"),
        sa.Index("ix_enterprise_name", "name"),
        sa.Index("ix_enterprise_segment_province", "segment", "province_code"),
    )

    id: Mapped[intpk]
    uscc: Mapped[str] = mapped_column(sa.String(18), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    segment: Mapped[Segment] = mapped_column(str_enum("segment", list(Segment)))
    region_code: Mapped[str] = mapped_column(sa.String(6))
    province_code: Mapped[str] = mapped_column(sa.String(2))
    registered_capital: Mapped[Decimal | None]  # 认缴 (subscribed), yuan
    paid_in_capital: Mapped[Decimal | None]  # 实缴, yuan, where the registry knows it
    founded_on: Mapped[dt.date | None]
    status: Mapped[EnterpriseStatus] = mapped_column(
        str_enum("enterprise_status", list(EnterpriseStatus)), default=EnterpriseStatus.active
    )
    address: Mapped[str | None] = mapped_column(sa.String(300))
    legacy_uscc: Mapped[bool] = mapped_column(default=False)
    # Personal data, AES-GCM encrypted (app.core.crypto); never read these columns directly.
    legal_rep_name_enc: Mapped[str | None] = mapped_column(sa.Text)
    legal_rep_id_enc: Mapped[str | None] = mapped_column(sa.Text)
    contact_phone_enc: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)


ENCRYPTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "enterprise": ("legal_rep_name_enc", "legal_rep_id_enc", "contact_phone_enc"),
}


class IngestionRun(Base):
    """One batch from a provider (API call or file import) and its per-row outcome."""

    __tablename__ = "ingestion_run"

    id: Mapped[intpk]
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("data_provider.id"), index=True)
    source: Mapped[str] = mapped_column(str_enum("ingestion_source", ["api", "file"]))
    filename: Mapped[str | None] = mapped_column(sa.String(500))
    mode: Mapped[str] = mapped_column(
        str_enum("ingestion_mode", ["partial", "all_or_nothing"]), default="partial"
    )
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    total: Mapped[int] = mapped_column(default=0)
    accepted: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    corrected: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)
    committed: Mapped[bool] = mapped_column(default=False)

    provider: Mapped[DataProvider] = relationship(lazy="joined")
    refusals: Mapped[list[IngestionRefusal]] = relationship(
        back_populates="run", order_by="IngestionRefusal.row_index"
    )


class IngestionRefusal(Base):
    __tablename__ = "ingestion_refusal"

    id: Mapped[intpk]
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("ingestion_run.id"), index=True)
    row_index: Mapped[int]
    provider_ref: Mapped[str | None] = mapped_column(sa.String(128))
    errors: Mapped[dict[str, Any]] = mapped_column(JSONType)

    run: Mapped[IngestionRun] = relationship(back_populates="refusals")


class CreditRecord(Base):
    """The current version of one fact about one enterprise from one provider."""

    __tablename__ = "credit_record"
    __table_args__ = (
        sa.UniqueConstraint("provider_id", "provider_ref"),
        sa.CheckConstraint("severity BETWEEN 0 AND 3", name="severity_range"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.Index("ix_credit_record_enterprise_category", "enterprise_id", "category"),
        sa.Index("ix_credit_record_status_expires", "status", "expires_on"),
    )

    id: Mapped[intpk]
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"))
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("data_provider.id"))
    provider_ref: Mapped[str] = mapped_column(sa.String(128))
    category: Mapped[Category] = mapped_column(str_enum("record_category", list(Category)))
    polarity: Mapped[Polarity] = mapped_column(str_enum("record_polarity", list(Polarity)))
    # 0 none, 1 轻微 minor, 2 一般 general, 3 严重 serious
    severity: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    occurred_on: Mapped[dt.date]
    ended_on: Mapped[dt.date | None]
    # Negative records stop counting on this date (征信业管理条例 art. 16: 5 years after end).
    expires_on: Mapped[dt.date | None]
    status: Mapped[RecordStatus] = mapped_column(
        str_enum("record_status", list(RecordStatus)), default=RecordStatus.active
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    content_digest: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[int] = mapped_column(default=1)
    # Public disclosure (双公示) ended early by credit repair (信用修复), from this day.
    disclosure_ended_on: Mapped[dt.date | None]
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ingestion_run.id"))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)

    enterprise: Mapped[Enterprise] = relationship()
    provider: Mapped[DataProvider] = relationship()


class CreditRecordVersion(Base):
    """A superseded version of a credit record (kept when a provider sends a correction)."""

    __tablename__ = "credit_record_version"
    __table_args__ = (sa.UniqueConstraint("record_id", "version"),)

    id: Mapped[intpk]
    record_id: Mapped[int] = mapped_column(sa.ForeignKey("credit_record.id"))
    version: Mapped[int]
    polarity: Mapped[Polarity] = mapped_column(str_enum("record_polarity", list(Polarity)))
    severity: Mapped[int] = mapped_column(sa.SmallInteger)
    occurred_on: Mapped[dt.date]
    ended_on: Mapped[dt.date | None]
    expires_on: Mapped[dt.date | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    content_digest: Mapped[str] = mapped_column(sa.String(64))
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ingestion_run.id"))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    superseded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    superseded_by_run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ingestion_run.id"))


class RelationKind(enum.StrEnum):
    """How a parent holds a child: 全资 (100%), 控股 (control) or 参股 (a minority stake)."""

    wholly_owned = "wholly_owned"
    controlling = "controlling"
    minority = "minority"


RELATION_KIND_LABELS = {RelationKind.wholly_owned: "全资", RelationKind.controlling: "控股",
                        RelationKind.minority: "参股"}


class EnterpriseRelation(Base):
    """One enterprise holding another (集团与子公司), over a span of days.  History is kept:
    a change ends the open row (``valid_to``, the first day it no longer holds) and adds a
    new one; nothing is deleted or rewritten.  No firm holds itself and no chain of holdings
    comes back to where it began (checked when a relation is written,
    ``app.archive.relations``)."""

    __tablename__ = "enterprise_relation"
    __table_args__ = (
        sa.CheckConstraint("parent_id <> child_id", name="not_self"),
        sa.CheckConstraint("share > 0 AND share <= 100", name="share_range"),
        sa.CheckConstraint("kind <> 'wholly_owned' OR share = 100", name="wholly_owned_is_100"),
        sa.CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="valid_span"),
        sa.CheckConstraint("(provider_id IS NULL) <> (operator IS NULL)", name="one_filer"),
        # at most one open relation between two firms
        sa.Index("uq_enterprise_relation_open", "parent_id", "child_id", unique=True,
                 sqlite_where=sa.text("valid_to IS NULL"), postgresql_where=sa.text("valid_to IS NULL")),
        sa.Index("ix_enterprise_relation_parent", "parent_id", "valid_from"),
        sa.Index("ix_enterprise_relation_child", "child_id", "valid_from"),
    )

    id: Mapped[intpk]
    parent_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"))
    child_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"))
    kind: Mapped[RelationKind] = mapped_column(str_enum("relation_kind", list(RelationKind)))
    share: Mapped[Decimal] = mapped_column(sa.Numeric(7, 4))  # per cent, 0 < share <= 100
    valid_from: Mapped[dt.date]
    valid_to: Mapped[dt.date | None]
    # who filed it: a data provider (its batch) or an operator (their username, or "cli")
    provider_id: Mapped[int | None] = mapped_column(sa.ForeignKey("data_provider.id"))
    operator: Mapped[str | None] = mapped_column(sa.String(64))
    provider_ref: Mapped[str | None] = mapped_column(sa.String(64))  # the provider's own id of the row
    ended_by: Mapped[str | None] = mapped_column(sa.String(80))  # "provider:<code>" or "operator:<name>"
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)

    parent: Mapped[Enterprise] = relationship(foreign_keys=[parent_id])
    child: Mapped[Enterprise] = relationship(foreign_keys=[child_id])
    provider: Mapped[DataProvider | None] = relationship()
