"""Helpers for tests that read a page's HTML."""

from __future__ import annotations

import re

from app.core.typography import WRAP_OPEN

_NOWRAP = re.compile(re.escape(WRAP_OPEN) + r"([^<]*)</span>")


def unwrapped(html: str) -> str:
    """``html`` without the spans that keep a code, number or date in a table cell on one line
    (``app/core/typography.py``): the page's content, as the tests compare it."""
    return _NOWRAP.sub(r"\1", html)
