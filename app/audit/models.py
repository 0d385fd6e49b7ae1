"""The audit log: append-only, each event hash-chained to the one before it, and the
Merkle tree over the events (RFC 9162) with its signed tree heads."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core import clock
from app.core.db import Base, JSONType, UTCDateTime, intpk


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (sa.Index("ix_audit_event_subject", "subject_type", "subject_id"),)

    id: Mapped[intpk]
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    actor: Mapped[str] = mapped_column(sa.String(100))  # "user:12", "client:pc_…", "system"
    action: Mapped[str] = mapped_column(sa.String(64), index=True)  # "consent.revoke", "oauth.token"
    outcome: Mapped[str] = mapped_column(sa.String(16))  # "ok" | "refused"
    code: Mapped[str | None] = mapped_column(sa.String(64))  # the refusal code
    subject_type: Mapped[str | None] = mapped_column(sa.String(32))
    subject_id: Mapped[str | None] = mapped_column(sa.String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # The firm the event is about (``detail["uscc"]``, copied where it is a code of 18
    # characters): what a firm may list and prove.  An index, not part of the hashed content.
    uscc: Mapped[str | None] = mapped_column(sa.String(18), index=True)


class AuditLeaf(Base):
    """Level 0 of the Merkle tree: the ``idx``-th event in id order and its leaf hash, as
    they were when a tree head was signed.  No foreign key: a leaf outlives a deleted event,
    so the deletion shows (``powercredit audit verify``) and the other proofs still work."""

    __tablename__ = "audit_leaf"

    idx: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    hash: Mapped[bytes] = mapped_column(sa.LargeBinary)


class AuditNode(Base):
    """Every perfect subtree above the leaves: level ``L``, the ``idx``-th run of ``2**L``
    leaves.  Any proof is then O(log n) rows read, never a recomputation."""

    __tablename__ = "audit_node"

    level: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(sa.LargeBinary)


class TreeHead(Base):
    """A signed tree head (STH): the tree's size and root, signed with the platform's
    Ed25519 key as a compact JWS over ``{kid, root_hash, timestamp, tree_size}``.  Also
    appended to ``instance/audit/tree-heads.jsonl``, outside the database."""

    __tablename__ = "audit_tree_head"

    id: Mapped[intpk]
    tree_size: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    root_hash: Mapped[str] = mapped_column(sa.String(64))  # hex
    timestamp: Mapped[int] = mapped_column(sa.BigInteger)  # milliseconds since the epoch (RFC 9162)
    kid: Mapped[str] = mapped_column(sa.String(32))
    signature: Mapped[str] = mapped_column(sa.Text)  # compact JWS

    @property
    def signed_at(self) -> dt.datetime:
        return from_ms(self.timestamp)


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_ms(at: dt.datetime) -> int:
    """Milliseconds since the epoch, as RFC 9162 times a tree head."""
    return (at - EPOCH) // dt.timedelta(milliseconds=1)


def from_ms(ms: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=ms)
