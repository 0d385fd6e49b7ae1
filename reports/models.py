"""Issued credit reports.  A report is frozen when issued: its canonical JSON is stored as
text (the exact bytes that were digested and signed), never updated; PDFs are rendered
from it."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Institution
from app.archive.models import Enterprise
from app.core import clock
from app.core.db import Base, JSONType, UTCDateTime, intpk, str_enum


class ReportKind(enum.StrEnum):
    self_report = "self"  # 自主查询版: the firm's own report
    institution = "institution"  # 授信机构版: pulled by a bank under a consent
    bidding = "bidding"  # 招投标专用版: public sections, grade and certificate, issued by the firm for a bid


KIND_LABELS = {ReportKind.self_report: "自主查询版", ReportKind.institution: "授信机构版",
               ReportKind.bidding: "招投标专用版"}
# The editions a firm issues itself, counted together against its yearly free allowance.
SELF_ISSUED_KINDS = (ReportKind.self_report, ReportKind.bidding)


class Report(Base):
    __tablename__ = "report"
    __table_args__ = (
        sa.Index("ix_report_enterprise_kind_issued", "enterprise_id", "kind", "issued_at"),
        sa.Index("ix_report_institution_available", "institution_id", "available_until"),
        sa.CheckConstraint("(kind = 'institution') = (institution_id IS NOT NULL)", name="recipient_matches_kind"),
    )

    id: Mapped[intpk]
    report_no: Mapped[str] = mapped_column(sa.String(22), unique=True)
    kind: Mapped[ReportKind] = mapped_column(str_enum("report_kind", [k.value for k in ReportKind]))
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"))
    institution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("institution.id"), index=True)
    consent_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("consent.id"), index=True)
    client_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("oauth_client.id"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    query_log_id: Mapped[int | None] = mapped_column(sa.ForeignKey("query_log.id"))
    purpose: Mapped[str | None] = mapped_column(sa.String(32))
    sections: Mapped[list[str]] = mapped_column(JSONType)
    schema_version: Mapped[str] = mapped_column(sa.String(16))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    recipient_name: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)  # canonical JSON, exactly the digested bytes
    digest: Mapped[str] = mapped_column(sa.String(64))  # SHA-256 of body, hex
    signature: Mapped[str] = mapped_column(sa.Text)  # compact JWS (Ed25519) over the statement
    kid: Mapped[str] = mapped_column(sa.String(32))
    # An institution report: the end of its consent's data life (数据保存期限) counted from
    # the issue; from then on its bank no longer sees it.  Self-reports: none.
    available_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    enterprise: Mapped[Enterprise] = relationship()
    institution: Mapped[Institution | None] = relationship()
