"""Errors of consents and of the access gate.  Every refusal of the gate carries the audit
event to record (written even though the refused request is rolled back)."""

from __future__ import annotations

from typing import Any

from app.audit.services import Pending
from app.core.errors import Conflict, DomainError, Forbidden, NotFound


class ConsentNotFound(NotFound):
    code = "consent_not_found"


class ConsentConflict(Conflict):
    """An illegal lifecycle transition (e.g. resuming a revoked consent)."""

    code = "consent_state_conflict"


class Refused(DomainError):
    """The gate (or the consent screen) refused an access; ``audit`` says what to record."""

    status = 403
    code = "access_refused"

    def __init__(self, detail: str, *, code: str, status: int = 403, audit: Pending | None = None,
                 headers: dict[str, str] | None = None, **kw: Any) -> None:
        super().__init__(detail, code=code, headers=headers, audit=audit, **kw)
        self.status = status


class FirmMismatch(Forbidden):
    code = "tenancy_denied"
