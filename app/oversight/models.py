"""Oversight: red/black/watch lists, objections (异议), credit repair (信用修复), signed
credit commitments (信用承诺), evidence files and the notices firms are sent."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.archive.models import CreditRecord, Enterprise
from app.core import clock
from app.core.db import Base, JSONType, UTCDateTime, intpk, str_enum


class ListName(enum.StrEnum):
    red = "red"  # 守信激励（红名单）
    black = "black"  # 失信联合惩戒（黑名单）
    watch = "watch"  # 重点关注名单


LIST_LABELS = {ListName.red: "红名单（守信激励）", ListName.black: "黑名单（失信联合惩戒）",
               ListName.watch: "重点关注名单"}


class EntryStatus(enum.StrEnum):
    pending = "pending"  # found by a refresh, awaiting the operator's publication
    active = "active"  # published: on the list (public, on reports, in scoring caps)
    exited = "exited"  # left the list (repair, record expired, period ended, criteria no longer met)
    cancelled = "cancelled"  # no longer met before it was published


class ExitReason(enum.StrEnum):
    repaired = "repaired"  # 信用修复
    record_expired = "record_expired"  # the records it rested on expired or were removed
    period_ended = "period_ended"  # the fixed listing period ended
    criteria_unmet = "criteria_unmet"  # the entry criteria no longer hold


EXIT_LABELS = {ExitReason.repaired: "信用修复", ExitReason.record_expired: "所依据的记录已到期或被删除",
               ExitReason.period_ended: "列入期限届满", ExitReason.criteria_unmet: "不再符合列入条件"}


class ListEntry(Base):
    """One firm's time on one list: its basis (the criteria met and the records or
    evaluations that met them), entry, publication and exit."""

    __tablename__ = "list_entry"
    __table_args__ = (
        sa.Index("ix_list_entry_list_status", "list_name", "status"),
        sa.Index("ix_list_entry_enterprise_status", "enterprise_id", "status"),
    )

    id: Mapped[intpk]
    list_name: Mapped[ListName] = mapped_column(str_enum("list_name", list(ListName)))
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"))
    status: Mapped[EntryStatus] = mapped_column(str_enum("list_entry_status", list(EntryStatus)))
    criteria_version: Mapped[str] = mapped_column(sa.String(16))
    basis: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    entered_on: Mapped[dt.date]
    published_on: Mapped[dt.date | None]
    ends_on: Mapped[dt.date | None]  # end of a fixed listing period, from publication
    exited_on: Mapped[dt.date | None]
    exit_reason: Mapped[ExitReason | None] = mapped_column(str_enum("list_exit_reason", list(ExitReason)))
    published_by: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)

    enterprise: Mapped[Enterprise] = relationship(lazy="joined")


class ListEvent(Base):
    """Every change of a list entry (entered, published, exited, cancelled), with why."""

    __tablename__ = "list_event"

    id: Mapped[intpk]
    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("list_entry.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    kind: Mapped[str] = mapped_column(str_enum("list_event_kind", ["entered", "published", "exited", "cancelled"]))
    actor: Mapped[str] = mapped_column(sa.String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class ObjectionStatus(enum.StrEnum):
    open = "open"  # received; the record is marked disputed
    resolved = "resolved"


class ObjectionOutcome(enum.StrEnum):
    corrected = "corrected"  # the provider's record superseded by a corrected version
    removed = "removed"  # the record was wrong: revoked
    upheld = "upheld"  # no error found (or undeterminable): the record stands, with the explanation


OUTCOME_LABELS = {ObjectionOutcome.corrected: "已更正", ObjectionOutcome.removed: "已删除",
                  ObjectionOutcome.upheld: "维持原记录"}


class Objection(Base):
    """A firm's objection (异议) to one record: answered within the legal deadline
    (征信业管理条例 art. 25: 20 days from receipt)."""

    __tablename__ = "objection"
    __table_args__ = (sa.Index("ix_objection_status_due", "status", "due_on"),)

    id: Mapped[intpk]
    objection_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"), index=True)
    record_id: Mapped[int] = mapped_column(sa.ForeignKey("credit_record.id"), index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[ObjectionStatus] = mapped_column(str_enum("objection_status", list(ObjectionStatus)))
    record_status_before: Mapped[str] = mapped_column(sa.String(16))  # restored when the record is upheld
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    due_on: Mapped[dt.date]
    submitted_by: Mapped[str] = mapped_column(sa.String(100))
    outcome: Mapped[ObjectionOutcome | None] = mapped_column(str_enum("objection_outcome", list(ObjectionOutcome)))
    explanation: Mapped[str | None] = mapped_column(sa.Text)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(sa.String(100))

    enterprise: Mapped[Enterprise] = relationship(lazy="joined")
    record: Mapped[CreditRecord] = relationship(lazy="joined")


class RepairStatus(enum.StrEnum):
    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"


REPAIR_STATUS_LABELS = {RepairStatus.submitted: "待审核", RepairStatus.approved: "已批准", RepairStatus.rejected: "未批准"}


class RepairRequest(Base):
    """A firm on the black or watch list asks for credit repair (信用修复) with evidence of
    rectification; the operator approves (the firm leaves the list from that day) or rejects."""

    __tablename__ = "repair_request"

    id: Mapped[intpk]
    request_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"), index=True)
    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("list_entry.id"), index=True)
    rectification: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[RepairStatus] = mapped_column(str_enum("repair_status", list(RepairStatus)), index=True)
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    submitted_by: Mapped[str] = mapped_column(sa.String(100))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(sa.String(100))
    decision_reason: Mapped[str | None] = mapped_column(sa.Text)

    enterprise: Mapped[Enterprise] = relationship(lazy="joined")
    entry: Mapped[ListEntry] = relationship(lazy="joined")


class EvidenceFile(Base):
    """A file a firm attached to an objection or a repair request (type and size checked;
    kept in the database with its SHA-256)."""

    __tablename__ = "evidence_file"
    __table_args__ = (
        sa.CheckConstraint("(objection_id IS NULL) <> (repair_id IS NULL)", name="one_owner"),
    )

    id: Mapped[intpk]
    objection_id: Mapped[int | None] = mapped_column(sa.ForeignKey("objection.id"), index=True)
    repair_id: Mapped[int | None] = mapped_column(sa.ForeignKey("repair_request.id"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class CommitmentText(Base):
    """A versioned commitment text (信用电力自律公约, 市场准入信用承诺…); a version never changes."""

    __tablename__ = "commitment_text"
    __table_args__ = (sa.UniqueConstraint("code", "version"),)

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[str] = mapped_column(sa.String(16))
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    published_on: Mapped[dt.date]
    current: Mapped[bool] = mapped_column(default=True)


class Commitment(Base):
    """A firm's signed commitment: who signed which version when, as a platform-signed
    statement (Ed25519 JWS, like consents), and the archive record that makes it count."""

    __tablename__ = "signed_commitment"

    id: Mapped[intpk]
    commitment_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"), index=True)
    text_id: Mapped[int] = mapped_column(sa.ForeignKey("commitment_text.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"))
    signatory: Mapped[str] = mapped_column(sa.String(100))
    signatory_title: Mapped[str] = mapped_column(sa.String(100))
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    statement: Mapped[str] = mapped_column(sa.Text)  # compact JWS over the signed terms
    kid: Mapped[str] = mapped_column(sa.String(32))
    record_id: Mapped[int | None] = mapped_column(sa.ForeignKey("credit_record.id"))

    enterprise: Mapped[Enterprise] = relationship(lazy="joined")
    text: Mapped[CommitmentText] = relationship(lazy="joined")


class Notice(Base):
    """A message to a firm (an objection's outcome, a repair decision, a list change)."""

    __tablename__ = "notice"
    __table_args__ = (sa.Index("ix_notice_enterprise_at", "enterprise_id", "created_at"),)

    id: Mapped[intpk]
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    subject_type: Mapped[str | None] = mapped_column(sa.String(32))
    subject_id: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
