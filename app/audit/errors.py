"""The audit log's refusals: an unknown event or tree head, an event not yet in a signed tree."""

from __future__ import annotations

from app.core.errors import Conflict, NotFound


class AuditEventNotFound(NotFound):
    code = "audit_event_not_found"


class TreeHeadNotFound(NotFound):
    code = "tree_head_not_found"


class NotYetInTree(Conflict):
    code = "audit_event_not_yet_in_tree"
