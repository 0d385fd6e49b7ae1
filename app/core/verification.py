"""Public verification of the platform's signed documents at one address, ``/verify/{no}``:
reports (``reports``) and the documents of higher layers — screenings, certificates — whose
packages the page cannot import.  The roof registers each kind by the prefix of its numbers
(:func:`app.wiring.wire`); ``reports.web`` looks the number up here first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.core.signing import SigningKeys

# (session, keys, number, digest or None) -> the public facts (issued, when, to whom, digest,
# signature valid…), never the content; an unknown or malformed number raises a DomainError.
Check = Callable[[Session, SigningKeys, str, "str | None"], dict[str, Any]]


@dataclass(frozen=True)
class Kind:
    prefix: str  # the numbers' prefix, e.g. "PS" (checked longest first)
    label: str  # what the page calls it: 投标人信用筛查结果, 信用等级证书
    check: Check
    template: str  # the page that shows the result (rendered with result, number, digest, error)


_kinds: dict[str, Kind] = {}


def register(kind: Kind) -> None:
    _kinds[kind.prefix] = kind


def kind_of(number: str) -> Kind | None:
    """The registered kind whose prefix the number carries (None: a report's, or unknown)."""
    for prefix in sorted(_kinds, key=len, reverse=True):
        if number.startswith(prefix):
            return _kinds[prefix]
    return None


def kinds() -> list[Kind]:
    return list(_kinds.values())
