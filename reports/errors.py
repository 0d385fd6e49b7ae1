"""Reports' refusals: an unknown report, a used-up allowance, a report past its data life."""

from __future__ import annotations

from app.core.errors import DomainError, NotFound


class ReportNotFound(NotFound):
    code = "report_not_found"


class AllowanceExhausted(DomainError):
    status = 403
    code = "self_report_allowance_exhausted"


class ReportExpired(DomainError):
    status = 410
    code = "report_data_life_ended"
