"""Consents (征信授权), their events and the query log."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Institution, InstitutionKind
from app.archive.models import Enterprise
from app.core import clock
from app.core.db import Base, JSONType, UTCDateTime, intpk, str_enum
from app.oauth.scopes import REPORT_SECTIONS, SECTION_SCOPE_PREFIX


class Purpose(enum.StrEnum):
    loan_application = "loan_application"
    credit_line_review = "credit_line_review"
    post_loan_monitoring = "post_loan_monitoring"
    supply_chain_finance = "supply_chain_finance"
    bid_qualification = "bid_qualification"
    group_credit_management = "group_credit_management"  # a subsidiary to its power group


# The purposes whose accesses are credit inquiries (贷款审批等授信查询): what a lender's
# "queries in the last 3 months" counts.  Monitoring an existing loan, a group watching its
# subsidiaries and a tenderer screening bidders are accesses the firm sees in its query log,
# not inquiries for new credit.
CREDIT_INQUIRY_PURPOSES = frozenset({"loan_application", "credit_line_review", "supply_chain_finance"})

class FetchType(enum.StrEnum):
    one_time = "one_time"
    periodic = "periodic"


class PeriodUnit(enum.StrEnum):
    day = "day"
    week = "week"
    month = "month"
    year = "year"


UNIT_LABELS = {PeriodUnit.day: "天", PeriodUnit.week: "周", PeriodUnit.month: "个月", PeriodUnit.year: "年"}


PURPOSE_LABELS = {
    Purpose.loan_application: "贷款申请审查",
    Purpose.credit_line_review: "授信额度审查",
    Purpose.post_loan_monitoring: "贷后管理",
    Purpose.supply_chain_finance: "供应链融资审查",
    Purpose.bid_qualification: "投标资格审查",
    Purpose.group_credit_management: "集团信用管理",
}

# Which purposes each kind of institution may hold a consent for: a lender (any financial
# institution, 其他 included: institutions were all financial before groups and tenderers)
# the lending ones; a power group only 集团信用管理, from its subsidiaries; a tenderer (a
# procurement platform) only 投标资格审查.  Requests, grants, approvals, token binding and the
# gate all ask this one table.
LENDING_PURPOSES = (Purpose.loan_application, Purpose.credit_line_review, Purpose.supply_chain_finance,
                    Purpose.post_loan_monitoring)
_PURPOSES_OF_KIND = {InstitutionKind.group: (Purpose.group_credit_management,),
                     InstitutionKind.procurement: (Purpose.bid_qualification,)}


def purposes_for(kind: InstitutionKind | str) -> tuple[Purpose, ...]:
    """The purposes an institution of ``kind`` may receive a consent for, in display order."""
    return _PURPOSES_OF_KIND.get(InstitutionKind(kind), LENDING_PURPOSES)


def purpose_fits(kind: InstitutionKind | str, purpose: Purpose | str) -> bool:
    return str(purpose) in {str(p) for p in purposes_for(kind)}


@dataclass(frozen=True)
class PurposeTerms:
    """How a consent for one purpose is drawn up: the report sections it may cover (``only``;
    None: any), those the purpose's use reads (ticked on the form), why, and the fetching
    that suits how often the institution uses it (the form's default), with why."""

    only: tuple[str, ...] | None
    needed: tuple[str, ...]
    why: str
    fetch_type: FetchType
    frequency: tuple[PeriodUnit, int] | None
    fetch_why: str

    @property
    def offered(self) -> tuple[str, ...]:
        """The sections a form offers, in the report's order."""
        return tuple(s for s in REPORT_SECTIONS if self.only is None or s in self.only)

    def refused(self, sections: Iterable[str]) -> list[str]:
        """Those of ``sections`` a consent for this purpose may not cover, in the report's order."""
        chosen = set(sections)
        return [s for s in REPORT_SECTIONS if s in chosen and s not in self.offered]


_LENDING_WHY = "请按金融机构线下申请所列的内容勾选，只授予其审查确实需要的部分。"
_ONCE = (FetchType.one_time, None, "一次审查通常只查询一次；机构在审批期间需要多次查询时，可改为定期。")

# Per purpose: the sections it may cover and those it reads, and its usual fetching.  A
# tenderer's screening reads a bidder's consent only for 司法信息 (its 失信被执行人 records
# beyond the published lists) and 行政许可与行政处罚 (its serious penalties beyond their
# publication period) — ``app.procurement.rules.Rules.consent_sections``; grades and lists
# are public and need none — so minimum necessary data (征信业务管理办法) leaves it those two.
# A group's dashboard reads 信用评价 under the consent (its alerts follow whatever else is
# covered); a lender asks for what its review needs.  A screening, a dashboard view or a
# post-loan look each uses the consent once: a one-time consent would be spent on the first.
_TERMS_OF_PURPOSE = {
    Purpose.loan_application: PurposeTerms(None, (), _LENDING_WHY, *_ONCE),
    Purpose.credit_line_review: PurposeTerms(None, (), _LENDING_WHY, *_ONCE),
    Purpose.supply_chain_finance: PurposeTerms(None, (), _LENDING_WHY, *_ONCE),
    Purpose.post_loan_monitoring: PurposeTerms(
        None, (), _LENDING_WHY, FetchType.periodic, (PeriodUnit.month, 4),
        "在授权有效期内持续查看（预警推送只涉及所授权部分的变动），一次性授权第一次查看后即用完："
        "默认每月至多 4 次。"),
    Purpose.group_credit_management: PurposeTerms(
        None, ("evaluation",),
        "集团看板上的得分、三个维度与百分位只用到「信用评价」；等级、名单等公开信息无需授权。"
        "其他部分只用于集团的预警推送（所授权部分的变动）。",
        FetchType.periodic, (PeriodUnit.day, 50), "集团人员每次查看看板都会使用一次授权：默认每天至多 50 次。"),
    Purpose.bid_qualification: PurposeTerms(
        ("judicial", "licence_penalty"), ("judicial", "licence_penalty"),
        "投标资格审查只用到「司法信息」（未列入公开名单的失信被执行人记录）和「行政许可与行政处罚（双公示）」"
        "（不在公示期内的严重行政处罚）；信用等级、红黑名单是公开信息，筛查无需授权。"
        "纳税、信贷记录、电费等其他部分与投标资格无关，不能授予招标采购单位。",
        FetchType.periodic, (PeriodUnit.month, 10),
        "招标采购单位每筛查一次投标人就使用一次授权：默认每月至多 10 次，有效期内的多次招标都可使用；"
        "选「一次性」则第一次筛查后即用完。"),
}


def terms_for(purpose: Purpose | str) -> PurposeTerms:
    """How a consent for ``purpose`` is drawn up (sections, fetching); the API's schema and
    the forms ask this one table."""
    return _TERMS_OF_PURPOSE[Purpose(purpose)]


FETCH_TYPE_LABELS = {FetchType.one_time: "一次性", FetchType.periodic: "定期（限频）"}
FETCH_TYPE_MEANINGS = {
    FetchType.one_time: "机构只能使用一次，用后即失效。",
    FetchType.periodic: "有效期内可多次使用，每个周期不超过所设次数。",
}


# What a firm calls the other side of a consent, by the institution's kind: every financial
# kind is a 金融机构; a list mixing kinds says 机构.
COUNTERPART_FINANCIAL, COUNTERPART_ANY = "金融机构", "机构"
_COUNTERPART_OF_KIND = {InstitutionKind.group: "电力集团", InstitutionKind.procurement: "招标采购单位"}


def counterpart_label(kind: InstitutionKind | str) -> str:
    return _COUNTERPART_OF_KIND.get(InstitutionKind(kind), COUNTERPART_FINANCIAL)


def counterparts_label(kinds: Iterable[InstitutionKind | str]) -> str:
    """One label for institutions of ``kinds``: theirs if they share one, else 机构 (none: 机构)."""
    labels = {counterpart_label(k) for k in kinds}
    return labels.pop() if len(labels) == 1 else COUNTERPART_ANY


def licence_label(kind: InstitutionKind | str) -> str:
    """What an institution's ``licence_no`` is: a financial institution's 金融许可证号, else the
    number the platform gave it (机构编号)."""
    return "金融许可证号" if counterpart_label(kind) == COUNTERPART_FINANCIAL else "机构编号"

class ConsentStatus(enum.StrEnum):
    pending = "PENDING"
    active = "ACTIVE"
    rejected = "REJECTED"
    paused = "PAUSED"
    revoked = "REVOKED"
    expired = "EXPIRED"


STATUS_LABELS = {
    ConsentStatus.pending: "待企业确认",
    ConsentStatus.active: "生效中",
    ConsentStatus.rejected: "已拒绝",
    ConsentStatus.paused: "已暂停",
    ConsentStatus.revoked: "已撤销",
    ConsentStatus.expired: "已过期",
}
FINAL_STATUSES = {ConsentStatus.rejected, ConsentStatus.revoked, ConsentStatus.expired}


class Consent(Base):
    """A firm's authorisation for one institution to obtain named report sections, for one
    purpose, within a window, under a fetch limit (征信业管理条例 art. 18, 20)."""

    __tablename__ = "consent"
    __table_args__ = (
        sa.CheckConstraint("valid_until > valid_from", name="window_ordered"),
        sa.CheckConstraint("fetch_type = 'one_time' OR frequency_value IS NOT NULL", name="periodic_has_frequency"),
        sa.Index("ix_consent_institution_status", "institution_id", "status"),
        sa.Index("ix_consent_enterprise_status", "enterprise_id", "status"),
    )

    id: Mapped[intpk]
    consent_id: Mapped[str] = mapped_column(sa.String(40), unique=True)  # public handle
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"))
    institution_id: Mapped[int] = mapped_column(sa.ForeignKey("institution.id"))
    client_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("oauth_client.id"), index=True)
    purpose: Mapped[Purpose] = mapped_column(str_enum("consent_purpose", list(Purpose)))
    scopes: Mapped[list[str]] = mapped_column(JSONType)  # report sections
    data_from: Mapped[dt.date] = mapped_column(sa.Date)
    data_to: Mapped[dt.date] = mapped_column(sa.Date)
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    fetch_type: Mapped[FetchType] = mapped_column(str_enum("consent_fetch_type", list(FetchType)))
    frequency_unit: Mapped[PeriodUnit | None] = mapped_column(str_enum("consent_frequency_unit", list(PeriodUnit)))
    frequency_value: Mapped[int | None]
    data_life_unit: Mapped[PeriodUnit] = mapped_column(str_enum("consent_data_life_unit", list(PeriodUnit)))
    data_life_value: Mapped[int]
    status: Mapped[ConsentStatus] = mapped_column(str_enum("consent_status", list(ConsentStatus)), index=True)
    created_via: Mapped[str] = mapped_column(sa.String(20))  # api | officer | firm | marketplace
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    status_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    status_reason: Mapped[str | None] = mapped_column(sa.String(500))
    use_count: Mapped[int] = mapped_column(default=0)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Fetch-frequency window: the start of the current period and the pulls in it.
    window_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    window_count: Mapped[int] = mapped_column(default=0)
    artefact: Mapped[str | None] = mapped_column(sa.Text)  # the platform-signed JWS
    version: Mapped[int] = mapped_column(default=1)

    enterprise: Mapped[Enterprise] = relationship(lazy="joined")
    institution: Mapped[Institution] = relationship(lazy="joined")

    def allows(self, sections: set[str]) -> bool:
        return sections <= set(self.scopes)

    @property
    def oauth_scope(self) -> str:
        return " ".join(SECTION_SCOPE_PREFIX + s for s in self.scopes)


class ConsentEvent(Base):
    """Every status change of a consent, with who made it."""

    __tablename__ = "consent_event"

    id: Mapped[intpk]
    consent_pk: Mapped[int] = mapped_column(sa.ForeignKey("consent.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    from_status: Mapped[str | None] = mapped_column(sa.String(16))
    to_status: Mapped[str] = mapped_column(sa.String(16))
    actor: Mapped[str] = mapped_column(sa.String(100))
    reason: Mapped[str | None] = mapped_column(sa.String(500))


# What a query-log entry served, as the firm reads it: the resource's prefix names the kind
# of access and the rest its number (a screening, a report, an alert).
RESOURCE_KINDS = {"screening": "筛查", "report": "信用报告", "alert": "预警推送"}
_RESOURCE_TEXTS = {"data:fetch": "通过接口获取报告数据"}


def resource_reference(resource: str) -> str | None:
    """The number in ``resource`` (``screening:PS2026…`` → ``PS2026…``), if it names one."""
    kind, sep, ref = resource.partition(":")
    return ref if sep and kind in RESOURCE_KINDS and ref else None


def describe_resource(resource: str, purpose: Purpose | str) -> str:
    """A query-log entry in Chinese: ``screening:PS2026…`` under 投标资格审查 reads
    「投标资格审查（筛查 PS2026…）」, ``report:PC…`` 「贷款申请审查（信用报告 PC…）」,
    ``alert:alt_…`` 「贷后管理（预警推送 alt_…）」; a page or API path says how it was viewed."""
    try:
        label = PURPOSE_LABELS[Purpose(purpose)]
    except ValueError:
        label = str(purpose)
    ref = resource_reference(resource)
    if ref is not None:
        what = f"{RESOURCE_KINDS[resource.partition(':')[0]]} {ref}"
    elif resource in _RESOURCE_TEXTS:
        what = _RESOURCE_TEXTS[resource]
    elif resource.startswith("/api/"):
        what = "通过接口查看"
    elif resource.startswith("/"):
        what = "在网页上查看"
    else:
        what = resource
    return f"{label}（{what}）" if what else label


class QueryLog(Base):
    """Every access by an institution to a firm's data (征信业管理条例 art. 22): who, when,
    under which consent, for which purpose and which sections.  Written in the same
    transaction as the access; never updated."""

    __tablename__ = "query_log"
    __table_args__ = (sa.Index("ix_query_log_enterprise_at", "enterprise_id", "at"),)

    id: Mapped[intpk]
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"))
    institution_id: Mapped[int] = mapped_column(sa.ForeignKey("institution.id"), index=True)
    # None: an access to public facts that needs no consent (a tenderer's screening of bidders)
    consent_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("consent.id"), index=True)
    client_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("oauth_client.id"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    purpose: Mapped[Purpose] = mapped_column(str_enum("query_purpose", list(Purpose)))
    sections: Mapped[list[str]] = mapped_column(JSONType)
    resource: Mapped[str] = mapped_column(sa.String(200))  # what was served, e.g. "report:PC2026…"
    request_id: Mapped[str | None] = mapped_column(sa.String(64))

    institution: Mapped[Institution] = relationship(lazy="joined")
    consent: Mapped[Consent | None] = relationship()
    enterprise: Mapped[Enterprise] = relationship()

    @property
    def reference(self) -> str | None:
        return resource_reference(self.resource)

    @property
    def resource_label(self) -> str:
        return describe_resource(self.resource, self.purpose)

    @property
    def public_only(self) -> bool:
        """An access to public facts only, under no consent (a tenderer's screening)."""
        return self.consent_pk is None
