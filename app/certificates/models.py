"""Certificates, their status history and the objections raised during the notice period."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.archive.models import Enterprise
from app.core import clock
from app.core.db import Base, JSONType, UTCDateTime, intpk, str_enum


class CertificateStatus(enum.StrEnum):
    applied = "applied"  # 已申报: waiting for the evaluation
    publicized = "publicized"  # 公示中: the result is public for the notice period; objections open
    issued = "issued"  # 有效: issued and in force
    suspended = "suspended"  # 暂停: the rule says so (a grade fall, a failed annual review); may be restored
    revoked = "revoked"  # 撤销: the black list, a grade far below, an upheld objection after issue — final
    rejected = "rejected"  # 未通过: not rated, below the minimum grade, or an objection upheld in the notice period
    expired = "expired"  # 已过期: past its validity
    withdrawn = "withdrawn"  # 已撤回: withdrawn by the firm before issue


CERTIFICATE_STATUS_LABELS = {
    CertificateStatus.applied: "已申报", CertificateStatus.publicized: "公示中", CertificateStatus.issued: "有效",
    CertificateStatus.suspended: "暂停", CertificateStatus.revoked: "已撤销", CertificateStatus.rejected: "未通过",
    CertificateStatus.expired: "已过期", CertificateStatus.withdrawn: "已撤回",
}
FINAL_CERTIFICATE_STATUSES = frozenset({CertificateStatus.revoked, CertificateStatus.rejected,
                                        CertificateStatus.expired, CertificateStatus.withdrawn})


class Certificate(Base):
    """One application and, once issued, the certificate it became (one row through its life)."""

    __tablename__ = "certificate"
    __table_args__ = (
        sa.Index("ix_certificate_enterprise_status", "enterprise_id", "status"),
        sa.Index("ix_certificate_status_notice", "status", "notice_until"),
    )

    id: Mapped[intpk]
    certificate_no: Mapped[str] = mapped_column(sa.String(32), unique=True)  # public: PCC…
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"))
    status: Mapped[CertificateStatus] = mapped_column(str_enum("certificate_status", list(CertificateStatus)))
    applied_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    applied_by: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    # The evaluation the certificate rests on, and what it said.
    evaluation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("evaluation.id"))
    grade: Mapped[str | None] = mapped_column(sa.String(4))
    score: Mapped[str | None] = mapped_column(sa.String(16))  # decimal as text, as evaluated
    scorecard_version: Mapped[str | None] = mapped_column(sa.String(16))
    grade_as_of: Mapped[dt.date | None] = mapped_column(sa.Date)
    evaluated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    notice_from: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    notice_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    issued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    valid_from: Mapped[dt.date | None] = mapped_column(sa.Date)
    valid_until: Mapped[dt.date | None] = mapped_column(sa.Date)
    next_review_on: Mapped[dt.date | None] = mapped_column(sa.Date)  # the annual review
    status_reason: Mapped[str | None] = mapped_column(sa.String(500))
    status_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    # The issued certificate, frozen: canonical JSON (the bytes digested and signed).
    body: Mapped[str | None] = mapped_column(sa.Text)
    digest: Mapped[str | None] = mapped_column(sa.String(64))
    signature: Mapped[str | None] = mapped_column(sa.Text)  # compact JWS (Ed25519)
    kid: Mapped[str | None] = mapped_column(sa.String(32))

    enterprise: Mapped[Enterprise] = relationship()


class CertificateEvent(Base):
    """Each change of a certificate's status, who made it and why (never updated)."""

    __tablename__ = "certificate_event"

    id: Mapped[intpk]
    certificate_pk: Mapped[int] = mapped_column(sa.ForeignKey("certificate.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    from_status: Mapped[str | None] = mapped_column(sa.String(32))
    to_status: Mapped[str] = mapped_column(sa.String(32))
    actor: Mapped[str] = mapped_column(sa.String(100))  # user:…, system:…, job:…
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    detail: Mapped[dict[str, object]] = mapped_column(JSONType, default=dict)


class CertificateObjectionStatus(enum.StrEnum):
    open = "open"
    upheld = "upheld"  # 异议成立: the certificate is not issued (or is revoked)
    dismissed = "dismissed"  # 异议不成立
    closed = "closed"  # 已终结: the firm withdrew its application; nobody judged the objection


class CertificateObjection(Base):
    """An objection to a publicized result, by anyone signed in, during the notice period."""

    __tablename__ = "certificate_objection"

    id: Mapped[intpk]
    objection_no: Mapped[str] = mapped_column(sa.String(32), unique=True)  # public: cob_…
    certificate_pk: Mapped[int] = mapped_column(sa.ForeignKey("certificate.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"))
    text: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[CertificateObjectionStatus] = mapped_column(
        str_enum("certificate_objection_status", list(CertificateObjectionStatus)),
        default=CertificateObjectionStatus.open)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    resolution: Mapped[str | None] = mapped_column(sa.Text)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
