"""The gate every access to a firm's data passes: the consent checked (firm, institution,
purpose, sections, validity), the pull counted against its allowance in one conditional
UPDATE, and the access written to the query log and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.accounts.models import Role, User
from app.audit import services as audit
from app.core import clock
from app.core.db import Prepared
from app.core.errors import Forbidden
from app.oauth.models import OAuthToken
from app.oauth.scopes import REPORT_SECTIONS, SECTION_SCOPE_PREFIX
from consent.errors import Refused
from consent.models import (
    FINAL_STATUSES,
    PURPOSE_LABELS,
    UNIT_LABELS,
    Consent,
    ConsentStatus,
    FetchType,
    QueryLog,
    counterpart_label,
    purpose_fits,
)

STATUS_REFUSALS = {
    ConsentStatus.pending: ("consent_pending", "授权尚未经企业确认"),
    ConsentStatus.rejected: ("consent_rejected", "企业已拒绝该授权"),
    ConsentStatus.paused: ("consent_paused", "企业已暂停该授权"),
    ConsentStatus.revoked: ("consent_revoked", "企业已撤销该授权"),
    ConsentStatus.expired: ("consent_expired", "授权已过期"),
}


_LOG_COLUMNS = ("at", "enterprise_id", "institution_id", "consent_pk", "client_pk", "user_id", "purpose", "sections",
                "resource", "request_id")
_CONSENT_TABLE = cast(sa.Table, Consent.__table__)


def _count_use(*, periodic: bool) -> Prepared:
    """The gate's one conditional UPDATE taking a pull from a consent's allowance; it
    returns the new counts (no row: nothing left, or the consent changed under us)."""
    c = _CONSENT_TABLE.c
    live = sa.and_(c.id == sa.bindparam("p_id"), c.status == ConsentStatus.active, c.valid_until > sa.bindparam("p_now"))
    if not periodic:
        stmt = sa.update(_CONSENT_TABLE).where(live, c.use_count < 1).values(
            use_count=c.use_count + 1, last_used_at=sa.bindparam("p_now"))
    else:
        same = sa.and_(c.window_start.is_not(None), c.window_start == sa.bindparam("p_start"))
        stmt = sa.update(_CONSENT_TABLE).where(
            live, sa.or_(sa.not_(same), c.window_count < sa.bindparam("p_limit"))
        ).values(use_count=c.use_count + 1, last_used_at=sa.bindparam("p_now"), window_start=sa.bindparam("p_start"),
                 window_count=sa.case((same, c.window_count + 1), else_=1))
    return Prepared(stmt.returning(c.use_count, c.window_count))


# Every pull runs these: straight on the cursor (app.core.db.Prepared), in the request's transaction.
_COUNT_ONE_TIME = _count_use(periodic=False)
_COUNT_PERIODIC = _count_use(periodic=True)
_LOG_INSERT = Prepared.insert_returning_id(QueryLog, _LOG_COLUMNS)


@dataclass(frozen=True)
class Access:
    consent: Consent
    log: QueryLog
    audit: audit.Pending


@dataclass(frozen=True)
class Caller:
    """Who reaches a firm's data through the gate: a bank's system (an OAuth token bound to
    a consent) or a signed-in bank officer acting under one of its institution's consents
    (reviewing a loan application).  ``sections`` is what the credential itself allows, on
    top of the consent's scopes."""

    consent: Consent | None
    institution_id: int | None
    sections: frozenset[str]
    actor: str
    client_pk: int | None = None
    user_id: int | None = None

    @classmethod
    def of_token(cls, token: OAuthToken) -> Caller:
        client = token.client
        return cls(consent=token.consent, institution_id=client.institution_id,
                   sections=frozenset(s.removeprefix(SECTION_SCOPE_PREFIX) for s in token.scope.split()
                                      if s.startswith(SECTION_SCOPE_PREFIX)),
                   actor=f"client:{client.client_id}", client_pk=client.id)

    @classmethod
    def of_officer(cls, user: User, consent: Consent) -> Caller:
        if user.role != Role.bank or user.institution_id is None:
            raise Forbidden("只有金融机构的工作人员可以查询", code="not_a_bank_officer")
        return cls(consent=consent, institution_id=user.institution_id, sections=frozenset(consent.scopes),
                   actor=f"user:{user.username}", user_id=user.id)

    @classmethod
    def of_group_user(cls, user: User, consent: Consent | None) -> Caller:
        """A power group's credit manager reading a subsidiary beyond its public facts, under
        the 集团信用管理 consent the subsidiary granted the group (``None``: there is none,
        and the gate refuses with ``consent_required``)."""
        if user.role != Role.group or user.institution_id is None:
            raise Forbidden("只有电力集团的信用管理人员可以查询", code="not_a_group_user")
        return cls(consent=consent, institution_id=user.institution_id,
                   sections=frozenset(consent.scopes) if consent is not None else frozenset(),
                   actor=f"user:{user.username}", user_id=user.id)


def authorize_access(session: Session, caller: Caller, uscc: str, purpose: str, sections: set[str], *,
                     resource: str, request_id: str | None = None, audit_now: bool = True) -> Access:
    """The one gate every institution access to a firm's data passes.

    Checks that the caller acts under a consent (a token bound to one, or an officer's
    chosen consent); the consent is the caller's bank's, for this firm and this purpose,
    covers the sections, is active and within its window; then takes one pull from the
    allowance with a single conditional UPDATE (concurrent pulls cannot both take the last
    one) and writes the ``QueryLog`` entry in the same transaction.  Refusals are
    :class:`Refused` with a machine code and the audit event to record.  With
    ``audit_now=False`` the granted access's audit event is left to the caller
    (``Access.audit``), to be written last: the audit chain's lock is then held only for the
    end of the transaction, not while a report is assembled."""
    now = clock.now()

    def refuse(code: str, detail: str, status: int = 403, headers: dict[str, str] | None = None,
               consent: Consent | None = None) -> Refused:
        return Refused(detail, code=code, status=status, headers=headers, audit=audit.Pending(
            actor=caller.actor, action="gate.access", code=code,
            subject_type="consent" if consent else "enterprise",
            subject_id=consent.consent_id if consent else uscc,
            detail={"uscc": uscc, "purpose": purpose, "sections": sorted(sections), "resource": resource},
            request_id=request_id))

    consent = caller.consent
    if consent is None:
        if caller.user_id is not None:
            raise refuse("consent_required", "该企业尚未给予授权")
        raise refuse("consent_required", "访问令牌未绑定任何授权：请通过授权流程获取令牌")
    if consent.institution_id != caller.institution_id:
        raise refuse("consent_not_yours", "该授权不属于本机构", consent=consent)
    if consent.enterprise.uscc != uscc:
        raise refuse("consent_subject_mismatch", "该授权针对的是另一家企业", consent=consent)
    if purpose != str(consent.purpose):
        raise refuse("purpose_mismatch",
                     f"授权用途为「{PURPOSE_LABELS[consent.purpose]}」，不能用于其他用途", consent=consent)
    if not purpose_fits(consent.institution.kind, consent.purpose):
        raise refuse("purpose_not_permitted",
                     f"「{PURPOSE_LABELS[consent.purpose]}」授权不能给予{counterpart_label(consent.institution.kind)}",
                     consent=consent)
    beyond = sections - (set(consent.scopes) & caller.sections)
    if beyond:
        raise refuse("scope_insufficient",
                     f"授权未包含以下部分：{'、'.join(REPORT_SECTIONS.get(s, s) for s in sorted(beyond))}",
                     consent=consent)
    if consent.valid_until <= now and consent.status not in FINAL_STATUSES:
        raise refuse("consent_expired", "授权已过期", consent=consent)
    if consent.status != ConsentStatus.active:
        code, text = STATUS_REFUSALS[consent.status]
        raise refuse(code, text, consent=consent)
    if consent.valid_from > now:
        raise refuse("consent_not_yet_valid", "授权尚未生效", consent=consent)

    if consent.fetch_type == FetchType.one_time:
        counted = _COUNT_ONE_TIME.rows(session, {"p_id": consent.id, "p_now": now})
    else:
        assert consent.frequency_unit is not None and consent.frequency_value is not None
        start = clock.period_start(consent.frequency_unit, now)
        counted = _COUNT_PERIODIC.rows(session, {"p_id": consent.id, "p_now": now, "p_start": start,
                                                 "p_limit": consent.frequency_value})
    if not counted:
        session.refresh(consent)
        if consent.status != ConsentStatus.active:  # changed under us
            code, text = STATUS_REFUSALS[consent.status]
            raise refuse(code, text, consent=consent)
        if consent.fetch_type == FetchType.one_time:
            raise refuse("allowance_exhausted", "一次性授权已使用，不能再次查询", consent=consent)
        assert consent.frequency_unit is not None
        retry = max(1, int((clock.next_period_start(consent.frequency_unit, now) - now).total_seconds()))
        raise refuse("frequency_exceeded",
                     f"已达授权的查询频率上限（每{UNIT_LABELS[consent.frequency_unit]} {consent.frequency_value} 次）",
                     status=429, headers={"Retry-After": str(retry)}, consent=consent)
    # What the UPDATE wrote, without reading the consent back.
    set_committed_value(consent, "use_count", counted[0][0])
    set_committed_value(consent, "last_used_at", now)
    if consent.fetch_type != FetchType.one_time:
        set_committed_value(consent, "window_start", start)
        set_committed_value(consent, "window_count", counted[0][1])
    log = QueryLog(at=now, enterprise_id=consent.enterprise_id, institution_id=consent.institution_id,
                   consent_pk=consent.id, client_pk=caller.client_pk, user_id=caller.user_id,
                   purpose=consent.purpose, sections=sorted(sections), resource=resource, request_id=request_id)
    # A plain INSERT (one per access, append-only: no unit of work needed); ``log`` carries its id.
    log.id = _LOG_INSERT.scalar(session, {
        "at": now, "enterprise_id": log.enterprise_id, "institution_id": log.institution_id,
        "consent_pk": log.consent_pk, "client_pk": log.client_pk, "user_id": log.user_id, "purpose": log.purpose,
        "sections": log.sections, "resource": resource, "request_id": request_id})
    event = audit.Pending(actor=caller.actor, action="gate.access", code=None, outcome="ok",
                          subject_type="consent", subject_id=consent.consent_id, request_id=request_id,
                          detail={"uscc": uscc, "purpose": purpose, "sections": sorted(sections),
                                  "resource": resource, "query_log_id": log.id})
    if audit_now:
        audit.write(session, event)
    return Access(consent, log, event)
