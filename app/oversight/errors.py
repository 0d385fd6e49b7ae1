"""Oversight's refusals: unknown list entries, objections, repair requests and commitments,
a repair asked for too early."""

from __future__ import annotations

from app.core.errors import DomainError, NotFound


class EntryNotFound(NotFound):
    code = "list_entry_not_found"


class RepairNotFound(NotFound):
    code = "repair_not_found"


class RepairTooEarly(DomainError):
    status = 422
    code = "repair_too_early"


class ObjectionNotFound(NotFound):
    code = "objection_not_found"


class CommitmentNotFound(NotFound):
    code = "commitment_not_found"
