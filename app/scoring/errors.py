"""Errors the scoring services raise."""

from __future__ import annotations

from app.core.errors import NotFound


class NotEvaluated(NotFound):
    code = "not_evaluated"


class ScorecardNotFound(NotFound):
    code = "scorecard_not_found"
