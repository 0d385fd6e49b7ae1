"""OAuth2 clients and tokens.  Secrets and tokens are stored only as SHA-256 hashes."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Institution
from app.archive.models import Enterprise
from app.core import clock
from app.core.db import Base, JSONType, UTCDateTime, intpk, str_enum


def hash_secret(value: str) -> str:
    """Client secrets and tokens are 256-bit random strings: SHA-256 is the right hash."""
    return hashlib.sha256(value.encode()).hexdigest()


class OAuthClient(Base):
    __tablename__ = "oauth_client"
    __table_args__ = (
        sa.CheckConstraint(
            "NOT (provider_id IS NOT NULL AND institution_id IS NOT NULL)", name="one_owner"
        ),
    )

    id: Mapped[intpk]
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    client_secret_hash: Mapped[str | None] = mapped_column(sa.String(128))
    name: Mapped[str] = mapped_column(sa.String(200))
    grant_types: Mapped[list[str]] = mapped_column(JSONType)
    scope: Mapped[str] = mapped_column(sa.String(500))
    token_endpoint_auth_method: Mapped[str] = mapped_column(sa.String(40))
    redirect_uris: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # private_key_jwt clients: their public keys (a JWKS document).
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    provider_id: Mapped[int | None] = mapped_column(sa.ForeignKey("data_provider.id"), index=True)
    institution_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("institution.id"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    tokens: Mapped[list[OAuthToken]] = relationship(back_populates="client")

    # --- authlib ClientMixin ------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return self.scope  # no scope asked for: everything the client is registered for
        allowed = set(self.scope.split())
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact match only

    def check_client_secret(self, client_secret: str) -> bool:
        if self.client_secret_hash is None or self.disabled_at is not None:
            return False
        return hmac.compare_digest(self.client_secret_hash, hash_secret(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # Every endpoint (token, revocation, introspection) takes only the registered method.
        return self.disabled_at is None and method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class OAuthToken(Base):
    __tablename__ = "oauth_token"

    id: Mapped[intpk]
    client_pk: Mapped[int] = mapped_column(sa.ForeignKey("oauth_client.id"), index=True)
    access_token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    token_type: Mapped[str] = mapped_column(sa.String(20), default="Bearer")
    scope: Mapped[str] = mapped_column(sa.String(500))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    refresh_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A bank's token is bound to one consent; every use checks that consent.
    consent_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("consent.id"), index=True)
    auth_code_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("oauth_authorization_code.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))

    client: Mapped[OAuthClient] = relationship(back_populates="tokens", lazy="joined")
    consent: Mapped[Consent | None] = relationship(lazy="joined")

    # --- authlib TokenMixin -------------------------------------------------------------
    def check_client(self, client: Any) -> bool:
        return bool(client.client_id == self.client.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.expires_at <= clock.now()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class Purpose(enum.StrEnum):
    loan_application = "loan_application"
    credit_line_review = "credit_line_review"
    post_loan_monitoring = "post_loan_monitoring"
    supply_chain_finance = "supply_chain_finance"
    bid_qualification = "bid_qualification"


PURPOSE_LABELS = {
    Purpose.loan_application: "贷款申请审查",
    Purpose.credit_line_review: "授信额度审查",
    Purpose.post_loan_monitoring: "贷后管理",
    Purpose.supply_chain_finance: "供应链融资审查",
    Purpose.bid_qualification: "投标资格审查",
}

# Report sections a consent may cover; the OAuth scope of a section is "report:<section>".
REPORT_SECTIONS = {
    "identity": "身份与登记信息",
    "evaluation": "信用评价（等级、得分、三维度、分类监管）",
    "summary": "良好与不良记录概要",
    "tax": "纳税信息",
    "contract": "合同履约",
    "quality": "产品质量",
    "safety": "安全生产",
    "environment": "生态环境",
    "licence_penalty": "行政许可与行政处罚（双公示）",
    "judicial": "司法信息",
    "bidding": "招标投标",
    "loan": "信贷记录",
    "honour": "荣誉表彰",
    "commitment": "信用承诺",
    "utility": "电费缴纳与用电",
    "lists": "红黑名单与重点关注名单",
    "objections": "异议处理中的记录",
    "query_records": "查询记录",
}
SECTION_SCOPE_PREFIX = "report:"


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


class FetchType(enum.StrEnum):
    one_time = "one_time"
    periodic = "periodic"


class PeriodUnit(enum.StrEnum):
    day = "day"
    week = "week"
    month = "month"
    year = "year"


UNIT_LABELS = {PeriodUnit.day: "天", PeriodUnit.week: "周", PeriodUnit.month: "个月", PeriodUnit.year: "年"}


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


class AuthorizationCode(Base):
    """An authorization code: single use (redeemed by one atomic UPDATE), 60 s, PKCE S256."""

    __tablename__ = "oauth_authorization_code"

    id: Mapped[intpk]
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    client_pk: Mapped[int] = mapped_column(sa.ForeignKey("oauth_client.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"))
    consent_pk: Mapped[int] = mapped_column(sa.ForeignKey("consent.id"), index=True)
    redirect_uri: Mapped[str] = mapped_column(sa.String(500))
    scope: Mapped[str] = mapped_column(sa.String(1000))
    code_challenge: Mapped[str] = mapped_column(sa.String(128))
    code_challenge_method: Mapped[str] = mapped_column(sa.String(10))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    # --- authlib AuthorizationCodeMixin ---------------------------------------------------
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_auth_time(self) -> int:
        return int(self.issued_at.timestamp())

    def get_nonce(self) -> None:
        return None


class UsedAssertion(Base):
    """``jti`` of client assertions already seen (private_key_jwt replay protection)."""

    __tablename__ = "oauth_used_assertion"
    __table_args__ = (sa.UniqueConstraint("client_pk", "jti"),)

    id: Mapped[intpk]
    client_pk: Mapped[int] = mapped_column(sa.ForeignKey("oauth_client.id"))
    jti: Mapped[str] = mapped_column(sa.String(200))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


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
    consent_pk: Mapped[int] = mapped_column(sa.ForeignKey("consent.id"), index=True)
    client_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("oauth_client.id"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    purpose: Mapped[Purpose] = mapped_column(str_enum("query_purpose", list(Purpose)))
    sections: Mapped[list[str]] = mapped_column(JSONType)
    resource: Mapped[str] = mapped_column(sa.String(200))  # what was served, e.g. "report:PC2026…"
    request_id: Mapped[str | None] = mapped_column(sa.String(64))

    institution: Mapped[Institution] = relationship(lazy="joined")
    consent: Mapped[Consent] = relationship()
