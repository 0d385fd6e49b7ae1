"""Evaluations: one row per (firm, scorecard version, inputs); history kept as a timeline."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.archive.models import Enterprise
from app.core import clock
from app.core.db import Base, JSONType, UTCDateTime, intpk, str_enum
from app.scoring.scorecard import GRADES, SUPERVISION_CLASSES

Score = sa.Numeric(5, 2)


class EvaluationRun(Base):
    """One batch (``powercredit evaluate``), for the operator's record of what ran."""

    __tablename__ = "evaluation_run"

    id: Mapped[intpk]
    mode: Mapped[str] = mapped_column(str_enum("evaluation_mode", ["all", "changed", "single", "ingestion"]))
    scorecard_id: Mapped[str] = mapped_column(sa.String(64))
    scorecard_version: Mapped[str] = mapped_column(sa.String(32))
    as_of: Mapped[dt.date]
    firms: Mapped[int] = mapped_column(default=0)
    evaluated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Evaluation(Base):
    __tablename__ = "evaluation"
    __table_args__ = (
        sa.Index("ix_evaluation_enterprise_current", "enterprise_id", "current"),
        sa.Index("ix_evaluation_current_grade", "current", "grade"),
        sa.Index("ix_evaluation_as_of", "as_of"),  # the index by month; the newest base date
        sa.CheckConstraint("score BETWEEN 0 AND 100", name="score_range"),
    )

    id: Mapped[intpk]
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"))
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("evaluation_run.id"))
    scorecard_id: Mapped[str] = mapped_column(sa.String(64))
    scorecard_version: Mapped[str] = mapped_column(sa.String(32))
    as_of: Mapped[dt.date]
    score: Mapped[Decimal] = mapped_column(Score)
    grade: Mapped[str] = mapped_column(str_enum("grade", GRADES))
    uncapped_grade: Mapped[str] = mapped_column(str_enum("uncapped_grade", GRADES))
    supervision_class: Mapped[str] = mapped_column(str_enum("supervision_class", SUPERVISION_CLASSES))
    willingness: Mapped[Decimal] = mapped_column(Score)
    capability: Mapped[Decimal] = mapped_column(Score)
    performance: Mapped[Decimal] = mapped_column(Score)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONType)
    inputs_digest: Mapped[str] = mapped_column(sa.String(64))
    record_count: Mapped[int]
    current: Mapped[bool] = mapped_column(default=True)
    evaluated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)

    enterprise: Mapped[Enterprise] = relationship()
