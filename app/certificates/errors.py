"""The certificates' refusals (each a problem with its own ``code``)."""

from __future__ import annotations

from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound


class CertificateNotFound(NotFound):
    code = "certificate_not_found"


class CertificateObjectionNotFound(NotFound):
    code = "certificate_objection_not_found"


class StatusConflict(Conflict):
    """The certificate is not in a state that allows this (or another change came first)."""

    code = "certificate_status"


class NotEligible(InvalidInput):
    """The firm may not be certified now: not evaluated, not rated, below the minimum grade."""

    code = "not_eligible"


class NoticeClosed(Conflict):
    code = "notice_period_closed"


class NoticeRunning(Conflict):
    code = "notice_period_running"


class ObjectionsOpen(Conflict):
    code = "objections_open"


class OwnCertificate(Forbidden):
    code = "own_certificate"
