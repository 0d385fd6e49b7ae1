"""Screenings of bidders: the rules, the signed result document and its bidders."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Institution
from app.core import clock
from app.core.db import Base, JSONType, UTCDateTime, intpk


class Screening(Base):
    """One batch screening, frozen when made: its canonical JSON is stored as text (the exact
    bytes digested and signed), never updated."""

    __tablename__ = "screening"
    __table_args__ = (sa.Index("ix_screening_institution_created", "institution_id", "created_at"),)

    id: Mapped[intpk]
    screening_no: Mapped[str] = mapped_column(sa.String(32), unique=True)  # public: PS + date + random
    institution_id: Mapped[int] = mapped_column(sa.ForeignKey("institution.id"))  # the tenderer
    client_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("oauth_client.id"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    tender_no: Mapped[str | None] = mapped_column(sa.String(100))
    tender_name: Mapped[str | None] = mapped_column(sa.String(300))
    rules: Mapped[dict[str, object]] = mapped_column(JSONType)
    total: Mapped[int] = mapped_column(default=0)
    passed: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    not_found: Mapped[int] = mapped_column(default=0)  # unknown codes and bad check characters
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    body: Mapped[str] = mapped_column(sa.Text)  # canonical JSON, exactly the digested bytes
    digest: Mapped[str] = mapped_column(sa.String(64))  # SHA-256 of body, hex
    signature: Mapped[str] = mapped_column(sa.Text)  # compact JWS (Ed25519) over the statement
    kid: Mapped[str] = mapped_column(sa.String(32))

    institution: Mapped[Institution] = relationship()


class ScreeningBidder(Base):
    """A screened firm found in the archive (unknown codes live only in the document): what
    lets a firm list the screenings of it, beside the query-log entry."""

    __tablename__ = "screening_bidder"
    __table_args__ = (sa.UniqueConstraint("screening_pk", "enterprise_id"),)

    id: Mapped[intpk]
    screening_pk: Mapped[int] = mapped_column(sa.ForeignKey("screening.id"))
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"), index=True)
    outcome: Mapped[str] = mapped_column(sa.String(16))  # pass / fail
    consent_pk: Mapped[int | None] = mapped_column(sa.ForeignKey("consent.id"))  # a bid_qualification consent used
    query_log_id: Mapped[int | None] = mapped_column(sa.ForeignKey("query_log.id"))
