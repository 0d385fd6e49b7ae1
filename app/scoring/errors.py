"""Errors the scoring services raise."""

from __future__ import annotations

from app.core.errors import Conflict, NotFound


class NotEvaluated(NotFound):
    code = "not_evaluated"


class ScorecardNotFound(NotFound):
    code = "scorecard_not_found"


class ScorecardNotApplicable(Conflict):
    """The scorecard does not serve the firm's segment (a regional scorecard for 售电, say)."""

    code = "scorecard_not_applicable"
