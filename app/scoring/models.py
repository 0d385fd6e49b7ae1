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
from app.scoring.scorecard import GRADES, NOT_RATED, NOT_RATED_LABEL, SUPERVISION_CLASSES

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
    """A firm's evaluation.  ``grade`` NR (不予评级，信息不足) when the evidence is too thin
    for the scorecard's evidence rule: then ``score``, ``uncapped_grade`` and
    ``supervision_class`` are null, and a dimension is null when none of its factors is known.
    ``coverage`` is the share of the scorecard's weight whose factors were known (null for
    scorecards without coverage, such as power-v1)."""

    __tablename__ = "evaluation"
    __table_args__ = (
        sa.Index("ix_evaluation_enterprise_current", "enterprise_id", "current"),
        sa.Index("ix_evaluation_current_grade", "current", "grade"),
        sa.Index("ix_evaluation_as_of", "as_of"),  # the index by month; the newest base date
        sa.CheckConstraint("score BETWEEN 0 AND 100", name="score_range"),
        sa.CheckConstraint("(grade = 'NR') = (score IS NULL)", name="not_rated_has_no_score"),
    )

    id: Mapped[intpk]
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"))
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("evaluation_run.id"))
    scorecard_id: Mapped[str] = mapped_column(sa.String(64))
    scorecard_version: Mapped[str] = mapped_column(sa.String(32))
    as_of: Mapped[dt.date]
    score: Mapped[Decimal | None] = mapped_column(Score)
    grade: Mapped[str] = mapped_column(str_enum("grade", (*GRADES, NOT_RATED)))
    uncapped_grade: Mapped[str | None] = mapped_column(str_enum("uncapped_grade", GRADES))
    supervision_class: Mapped[str | None] = mapped_column(str_enum("supervision_class", SUPERVISION_CLASSES))
    willingness: Mapped[Decimal | None] = mapped_column(Score)
    capability: Mapped[Decimal | None] = mapped_column(Score)
    performance: Mapped[Decimal | None] = mapped_column(Score)
    coverage: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 4))
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONType)
    inputs_digest: Mapped[str] = mapped_column(sa.String(64))
    record_count: Mapped[int]
    current: Mapped[bool] = mapped_column(default=True)
    evaluated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)

    enterprise: Mapped[Enterprise] = relationship()

    @property
    def not_rated(self) -> bool:
        return self.grade == NOT_RATED

    @property
    def reason(self) -> str | None:
        """Why the firm is not rated (NR), in Chinese; None for a grade."""
        if self.grade != NOT_RATED:
            return None
        return str((self.explanation or {}).get("evidence", {}).get("reason") or NOT_RATED_LABEL)
