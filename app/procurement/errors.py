"""Refusals of the screening service."""

from __future__ import annotations

from app.core.errors import Forbidden, NotFound


class ScreeningNotFound(NotFound):
    """A screening number never issued, or another tenderer's (numbers cannot be probed)."""

    code = "screening_not_found"


class NotATenderer(Forbidden):
    """A credential that is not a procurement institution's (a bank's client given the scope)."""

    code = "not_a_tenderer"
