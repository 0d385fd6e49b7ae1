"""Consents: their lifecycle, the signed artefact, who sees what (and the query log), and the
gate every access to a firm's data passes."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, defer, joinedload, selectinload

from app.accounts.models import Institution, InstitutionKind, Role, User
from app.accounts.services import list_institutions
from app.archive.models import Enterprise
from app.archive.services import group_parents
from app.audit import services as audit
from app.core import clock
from app.core.db import Page, paginate
from app.core.errors import Forbidden, InvalidInput
from app.core.signing import SigningKeys
from app.oauth.models import AuthorizationCode, OAuthClient, OAuthToken, UsedAssertion, hash_secret
from app.oauth.scopes import REPORT_SECTIONS
from app.oversight.notices import SubjectState
from consent.errors import ConsentConflict, ConsentNotFound, FirmMismatch
from consent.models import (
    FINAL_STATUSES,
    PURPOSE_LABELS,
    STATUS_LABELS,
    Consent,
    ConsentEvent,
    ConsentStatus,
    FetchType,
    PeriodUnit,
    Purpose,
    QueryLog,
    counterpart_label,
    purpose_fits,
    purposes_for,
    terms_for,
)

# --- consents -------------------------------------------------------------------------------

MAX_VALIDITY_MONTHS = 12
# How long a bank may keep what it obtained: the longest loan term the marketplace allows
# (360 months), beyond which a "data life" is not a term anyone could mean.
MAX_DATA_LIFE_YEARS = 30


@dataclass(frozen=True)
class Terms:
    """What a consent authorises (validated by ``consent.schemas.ConsentTermsSchema``)."""

    purpose: Purpose
    scopes: list[str]
    data_from: dt.date
    data_to: dt.date
    valid_until: dt.datetime
    fetch_type: FetchType
    frequency_unit: PeriodUnit | None
    frequency_value: int | None
    data_life_unit: PeriodUnit
    data_life_value: int


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in user or an OAuth client (a bank's system)."""

    user: User | None = None
    client: OAuthClient | None = None

    @property
    def label(self) -> str:
        if self.user is not None:
            return f"user:{self.user.id}"
        if self.client is not None:
            return f"client:{self.client.client_id}"
        return "system"

    @property
    def institution_id(self) -> int | None:
        if self.user is not None:
            return self.user.institution_id
        return self.client.institution_id if self.client is not None else None

    @property
    def enterprise_id(self) -> int | None:
        """The firm acting for itself (a group user's parent enterprise is not it: a group
        sees its institution's consents, as a bank does)."""
        return self.user.enterprise_id if self.user is not None and self.user.role == Role.firm else None

    @property
    def is_operator(self) -> bool:
        return self.user is not None and self.user.role == Role.operator


SYSTEM = Actor()


def terms_errors(now: dt.datetime, *, data_from: dt.date | None = None, data_to: dt.date | None = None,
                 valid_until: dt.datetime | None = None, fetch_type: str | None = None,
                 has_frequency: bool | None = None,
                 data_life: tuple[PeriodUnit, int] | None = None) -> dict[str, list[str]]:
    """The rules across a consent's fields (each checked when its inputs are known): the
    schema shows them with the field errors, the services enforce them again."""
    errors: dict[str, list[str]] = {}
    if data_from is not None and data_to is not None and data_from > data_to:
        errors["data_range.to"] = ["数据范围的结束日期早于开始日期。"]
    if data_life is not None and clock.add_period(now, *data_life) > clock.add_years(now, MAX_DATA_LIFE_YEARS):
        errors["data_life"] = [f"数据保存期限最长 {MAX_DATA_LIFE_YEARS} 年。"]
    if valid_until is not None:
        if valid_until <= now:
            errors["valid_until"] = ["有效期必须晚于当前时间。"]
        elif valid_until > clock.add_months(now, MAX_VALIDITY_MONTHS):
            errors["valid_until"] = [f"授权有效期最长 {MAX_VALIDITY_MONTHS} 个月。"]
    if fetch_type == FetchType.periodic and has_frequency is False:
        errors["frequency"] = ["定期查询必须给出频率上限（单位与次数）。"]
    if fetch_type == FetchType.one_time and has_frequency:
        errors["frequency"] = ["一次性查询不设频率。"]
    return errors


def check_terms(terms: Terms, now: dt.datetime) -> None:
    errors = terms_errors(now, data_from=terms.data_from, data_to=terms.data_to, valid_until=terms.valid_until,
                          fetch_type=terms.fetch_type,
                          has_frequency=terms.frequency_unit is not None and bool(terms.frequency_value),
                          data_life=(terms.data_life_unit, terms.data_life_value))
    unknown = sorted(set(terms.scopes) - set(REPORT_SECTIONS))
    if unknown:
        errors["scopes"] = [f"未知的报告部分：{', '.join(unknown)}"]
    elif not terms.scopes:
        errors["scopes"] = ["至少选择一个报告部分。"]
    if errors:
        raise InvalidInput("授权条款有误", errors=errors)


def check_sections(terms: Terms) -> None:
    """Minimum necessary data (征信业务管理办法): a consent covers only the report sections
    its purpose may (``terms_for``) — 投标资格审查 司法信息 and 行政许可与行政处罚.  A 422
    ``scope_not_permitted`` naming ``scopes``."""
    usual = terms_for(terms.purpose)
    refused = usual.refused(terms.scopes)
    if refused:
        label = PURPOSE_LABELS[terms.purpose]
        allowed = "、".join(f"「{REPORT_SECTIONS[s]}」" for s in usual.offered)
        raise InvalidInput(f"「{label}」授权不能包含{'、'.join(REPORT_SECTIONS[s] for s in refused)}",
                           code="scope_not_permitted",
                           errors={"scopes": [f"「{label}」授权只能包含{allowed}，"
                                              f"不能包含{'、'.join(f'「{REPORT_SECTIONS[s]}」' for s in refused)}。"]})


def _new_consent_id() -> str:
    return "cst_" + base64.b32encode(secrets.token_bytes(15)).decode().lower()


def _event(session: Session, consent: Consent, old: ConsentStatus | None, actor: Actor, reason: str | None = None,
           request_id: str | None = None) -> None:
    session.add(ConsentEvent(consent_pk=consent.id, from_status=str(old) if old else None,
                             to_status=str(consent.status), actor=actor.label, reason=reason))
    audit.record(session, actor.label, f"consent.{str(consent.status).lower()}", subject_type="consent",
                 subject_id=consent.consent_id, request_id=request_id,
                 detail={"from": str(old) if old else None, "to": str(consent.status), "reason": reason})


def _consent_from_terms(terms: Terms, enterprise: Enterprise, institution: Institution, status: ConsentStatus,
                        via: str, client: OAuthClient | None, now: dt.datetime) -> Consent:
    return Consent(
        consent_id=_new_consent_id(), enterprise_id=enterprise.id, institution_id=institution.id,
        client_pk=client.id if client else None, purpose=terms.purpose, scopes=sorted(set(terms.scopes)),
        data_from=terms.data_from, data_to=terms.data_to, valid_from=now, valid_until=terms.valid_until,
        fetch_type=terms.fetch_type, frequency_unit=terms.frequency_unit, frequency_value=terms.frequency_value,
        data_life_unit=terms.data_life_unit, data_life_value=terms.data_life_value, status=status,
        created_via=via, created_at=now, status_changed_at=now, use_count=0, window_count=0, version=1,
    )


def check_purpose_fits(institution: Institution, purpose: Purpose) -> None:
    """The purpose must be one an institution of this kind may hold (``purposes_for``): a
    lender the lending purposes, a power group 集团信用管理, a tenderer 投标资格审查.  A 422
    naming ``purpose``."""
    if not purpose_fits(institution.kind, purpose):
        who = counterpart_label(institution.kind)
        allowed = "、".join(f"「{PURPOSE_LABELS[p]}」（{p}）" for p in purposes_for(institution.kind))
        raise InvalidInput(f"「{PURPOSE_LABELS[purpose]}」授权不能给予{who}",
                           code="purpose_not_permitted",
                           errors={"purpose": [f"{institution.name}为{who}，只能获得{allowed}授权。"]})


def parent_codes(session: Session, enterprise_id: int) -> set[str]:
    """The codes (uscc) of every firm holding ``enterprise_id`` today, at any level: the power
    groups it belongs to are the group institutions bearing one of them."""
    parents = group_parents(session, enterprise_id)
    return set(session.scalars(sa.select(Enterprise.uscc).where(Enterprise.id.in_(parents)))) if parents else set()


def check_recipient(session: Session, institution: Institution, enterprise: Enterprise, purpose: Purpose, *,
                    party: str = "institution") -> None:
    """Who may receive a consent for which purpose: the purpose must fit the institution's
    kind (``check_purpose_fits``), and 集团信用管理 goes to a power group only from one of
    its subsidiaries (at any level).  ``party`` names the field that chose the other side
    (the firm's ``institution``, the group's ``uscc``)."""
    check_purpose_fits(institution, purpose)
    if purpose == Purpose.group_credit_management and institution.uscc not in parent_codes(session, enterprise.id):
        raise InvalidInput(f"{enterprise.name}不是{institution.name}的子公司",
                           errors={party: [f"{enterprise.name}不在{institution.name}的子公司之中。"]})


def grantable_institutions(session: Session, enterprise_id: int) -> list[Institution]:
    """The active institutions a firm may grant a consent to, by name: every lender and
    tenderer, and of the power groups only those it belongs to (``check_recipient`` refuses
    the others)."""
    own = parent_codes(session, enterprise_id)
    return [i for i in list_institutions(session, active_only=True)
            if i.kind != InstitutionKind.group or i.uscc in own]


def request_consent(session: Session, requester: OAuthClient | User, enterprise: Enterprise, terms: Terms,
                    request_id: str | None = None, *, offered_only: bool = False) -> Consent:
    """A bank asks for a consent — its system (an OAuth client) or one of its officers
    signed in to the site: created ``PENDING``; the firm decides on the consent screen
    (``/oauth/authorize?…&consent_id=``) or on its consents page.  ``offered_only``: the
    sections must be among those the purpose may cover (``check_sections``) — so for terms
    a party sent (the API, the forms)."""
    if isinstance(requester, User):
        actor, client, via = Actor(user=requester), None, "officer"
    else:
        actor, client, via = Actor(client=requester), requester, "api"
    if actor.institution_id is None or (actor.user is not None and actor.user.role not in (Role.bank, Role.group)):
        raise Forbidden("只有金融机构（其系统或工作人员）或电力集团可以申请授权", code="not_an_institution")
    now = clock.now()
    check_terms(terms, now)
    institution = session.get(Institution, actor.institution_id)
    assert institution is not None
    if not institution.active:
        raise Forbidden(f"该{counterpart_label(institution.kind)}已停用", code="institution_inactive")
    check_recipient(session, institution, enterprise, terms.purpose, party="uscc")
    if offered_only:
        check_sections(terms)
    consent = _consent_from_terms(terms, enterprise, institution, ConsentStatus.pending, via, client, now)
    session.add(consent)
    session.flush()
    _event(session, consent, None, actor, request_id=request_id)
    from app.oversight.notices import notify

    notify(session, enterprise.id, "consent_request", f"{institution.name}申请查询本企业信用信息",
           f"用途：{PURPOSE_LABELS[terms.purpose]}；内容：{'、'.join(REPORT_SECTIONS[s] for s in sorted(set(terms.scopes)))}；"
           f"授权截止：{terms.valid_until.astimezone(clock.BEIJING):%Y-%m-%d}。请在「授权与查询记录」中同意或拒绝（授权编号 {consent.consent_id}）。",
           "consent", consent.consent_id)
    return consent


def _require_firm_user(user: User, enterprise_id: int) -> None:
    if user.role != Role.firm or user.enterprise_id != enterprise_id:
        raise FirmMismatch("只有该企业的管理员可以决定对本企业信息的授权")


def grant_consent(session: Session, signer: SigningKeys, user: User, *, consent: Consent | None = None,
                  institution: Institution | None = None, terms: Terms | None = None, via: str = "firm",
                  request_id: str | None = None, offered_only: bool = False) -> Consent:
    """The firm's administrator grants a consent: one service for the consent screen (a
    ``PENDING`` consent the bank asked for), the firm's own page (a bank that asked offline)
    and the marketplace (applying grants the bank a consent).  The consent becomes
    ``ACTIVE`` and gets its platform-signed artefact.  ``offered_only``: new terms may cover
    only the sections their purpose may (``check_sections``) — so for terms the firm sent
    (the API, the page); the platform's own grants (the demo's, the marketplace's fixed
    sections) do not ask it yet."""
    now = clock.now()
    if consent is None:
        if institution is None or terms is None or user.enterprise_id is None:
            raise InvalidInput("授权缺少机构或条款", errors={"institution": ["必填。"]})
        _require_firm_user(user, user.enterprise_id)
        check_terms(terms, now)
        if not institution.active:
            who = counterpart_label(institution.kind)
            raise InvalidInput(f"该{who}已停用", errors={"institution": [f"该{who}已停用。"]})
        enterprise = session.get(Enterprise, user.enterprise_id)
        assert enterprise is not None
        check_recipient(session, institution, enterprise, terms.purpose)
        if offered_only:
            check_sections(terms)
        consent = _consent_from_terms(terms, enterprise, institution, ConsentStatus.active, via, None, now)
        consent.decided_at, consent.decided_by = now, user.id
        session.add(consent)
        session.flush()
        old = None
    else:
        _require_firm_user(user, consent.enterprise_id)
        if consent.status != ConsentStatus.pending:
            raise ConsentConflict(f"授权请求当前为「{STATUS_LABELS[consent.status]}」，不能再确认")
        if consent.valid_until <= now:
            _set_status(session, consent, ConsentStatus.expired, SYSTEM, "待确认期间已到期")
            raise ConsentConflict("授权请求已过有效期")
        # A request made before the purposes were tied to the kind of institution is not approved.
        check_purpose_fits(consent.institution, consent.purpose)
        old = consent.status
        # Compare-and-set: an approval racing a rejection (or a second approval) loses.
        won = session.execute(
            sa.update(Consent).where(Consent.id == consent.id, Consent.status == ConsentStatus.pending)
            .values(status=ConsentStatus.active, valid_from=now, decided_at=now, decided_by=user.id,
                    status_changed_at=now, version=Consent.version + 1)
            .execution_options(synchronize_session=False))
        session.refresh(consent)
        if won.rowcount != 1:  # type: ignore[attr-defined]
            raise ConsentConflict(f"授权请求已被处理（{STATUS_LABELS[consent.status]}）")
    consent.artefact = signer.sign(artefact_payload(consent, now), ARTEFACT_TYP)
    session.flush()
    _event(session, consent, old, Actor(user=user), request_id=request_id)
    return consent


def reject_consent(session: Session, consent: Consent, user: User, reason: str | None = None,
                   request_id: str | None = None) -> Consent:
    _require_firm_user(user, consent.enterprise_id)
    if consent.status != ConsentStatus.pending:
        raise ConsentConflict(f"授权请求当前为「{STATUS_LABELS[consent.status]}」，不能拒绝")
    consent.decided_at, consent.decided_by = clock.now(), user.id
    return _set_status(session, consent, ConsentStatus.rejected, Actor(user=user), reason, request_id)


# Transitions a firm may make (PENDING → ACTIVE/REJECTED go through grant/reject).
FIRM_TRANSITIONS = {
    "pause": ({ConsentStatus.active}, ConsentStatus.paused),
    "resume": ({ConsentStatus.paused}, ConsentStatus.active),
    "revoke": ({ConsentStatus.active, ConsentStatus.paused}, ConsentStatus.revoked),
}


def change_consent(session: Session, consent: Consent, user: User, action: str, reason: str | None = None,
                   request_id: str | None = None) -> Consent:
    """Pause, resume or revoke (the firm).  Revoking revokes every token issued under the
    consent in the same transaction; revoked and expired consents never come back."""
    _require_firm_user(user, consent.enterprise_id)
    allowed_from, target = FIRM_TRANSITIONS[action]
    _expire_if_due(session, consent)
    if consent.status not in allowed_from:
        raise ConsentConflict(f"授权当前为「{STATUS_LABELS[consent.status]}」，不能{ACTION_LABELS[action]}")
    return _set_status(session, consent, target, Actor(user=user), reason, request_id)


def firm_decides(session: Session, signer: SigningKeys, user: User, consent: Consent, action: str,
                 reason: str | None = None, request_id: str | None = None) -> Consent:
    """One entry for the firm's decisions (API and page): approve or reject a pending
    request, pause, resume or revoke."""
    if action == "approve":
        return grant_consent(session, signer, user, consent=consent, request_id=request_id)
    if action == "reject":
        return reject_consent(session, consent, user, reason, request_id)
    if action not in FIRM_TRANSITIONS:
        raise InvalidInput("不支持的操作", errors={"action": ["应为 approve、reject、pause、resume、revoke 之一。"]})
    return change_consent(session, consent, user, action, reason, request_id)


# A bearer token with what a request under it reads (client, consent, the consent's firm and
# institution) in one statement; columns only other paths read (secrets, key sets, the
# signed artefact, encrypted personal fields) are left to load on first access.
_ACCESS_TOKEN = (
    sa.select(OAuthToken).where(OAuthToken.access_token_hash == sa.bindparam("digest"))
    .options(
        defer(OAuthToken.refresh_token_hash),
        joinedload(OAuthToken.client).defer(OAuthClient.client_secret_hash).defer(OAuthClient.jwks)
        .defer(OAuthClient.redirect_uris),
        joinedload(OAuthToken.consent).defer(Consent.artefact).defer(Consent.status_reason)
        .defer(Consent.decided_by),
        joinedload(OAuthToken.consent).joinedload(Consent.enterprise)
        .defer(Enterprise.legal_rep_name_enc).defer(Enterprise.legal_rep_id_enc)
        .defer(Enterprise.contact_phone_enc).defer(Enterprise.address),
    )
)


def access_token(session: Session, token: str) -> OAuthToken | None:
    """The stored token for a bearer string, read once per session (request): the rate
    limiter's key and the resource check ask for the same token."""
    cache: dict[str, OAuthToken | None] = session.info.setdefault("pc_access_tokens", {})
    digest = hash_secret(token)
    if digest not in cache:
        cache[digest] = session.scalar(_ACCESS_TOKEN, {"digest": digest})
    return cache[digest]


ACTION_LABELS = {"pause": "暂停", "resume": "恢复", "revoke": "撤销", "approve": "同意", "reject": "拒绝"}


def _set_status(session: Session, consent: Consent, status: ConsentStatus, actor: Actor,
                reason: str | None = None, request_id: str | None = None) -> Consent:
    old = consent.status
    now = clock.now()
    # Compare-and-set: a concurrent change of the same consent makes this one a conflict.
    res = session.execute(
        sa.update(Consent).where(Consent.id == consent.id, Consent.status == old)
        .values(status=status, status_changed_at=now, status_reason=reason, version=Consent.version + 1)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(consent)
        raise ConsentConflict(f"授权状态已被并发修改为「{STATUS_LABELS[consent.status]}」")
    session.refresh(consent)
    if status in FINAL_STATUSES:
        revoke_consent_tokens(session, consent)
    _event(session, consent, old, actor, reason, request_id)
    return consent


def end_consent(session: Session, consent: Consent, user: User, reason: str,
                request_id: str | None = None) -> Consent:
    """A consent whose purpose has ended (the loan application it was granted for was
    rejected, declined or withdrawn): revoked, its tokens with it, the reason recorded.
    A consent already ended stays as it is."""
    if consent.status in FINAL_STATUSES:
        return consent
    return _set_status(session, consent, ConsentStatus.revoked, Actor(user=user), reason, request_id)


def revoke_consent_tokens(session: Session, consent: Consent) -> int:
    res = session.execute(
        sa.update(OAuthToken).where(OAuthToken.consent_pk == consent.id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=clock.now()).execution_options(synchronize_session=False)
    )
    return int(res.rowcount or 0)  # type: ignore[attr-defined]


def _expire_if_due(session: Session, consent: Consent) -> None:
    if consent.status not in FINAL_STATUSES and consent.valid_until <= clock.now():
        _set_status(session, consent, ConsentStatus.expired, SYSTEM, "已到授权有效期")


def expire_due(session: Session, now: dt.datetime | None = None) -> int:
    """Every consent past its end becomes ``EXPIRED`` (its tokens revoked); idempotent.
    Run by ``powercredit consents expire``; the gate refuses expired consents regardless."""
    now = now or clock.now()
    due = list(session.scalars(
        sa.select(Consent).where(Consent.status.in_([s for s in ConsentStatus if s not in FINAL_STATUSES]),
                                 Consent.valid_until <= now)
    ))
    for consent in due:
        _set_status(session, consent, ConsentStatus.expired, SYSTEM, "已到授权有效期")
    session.execute(sa.delete(UsedAssertion).where(UsedAssertion.expires_at < now))
    session.execute(sa.delete(AuthorizationCode).where(AuthorizationCode.expires_at < now - dt.timedelta(days=1)))
    return len(due)


# --- the signed artefact --------------------------------------------------------------------

ARTEFACT_TYP = "consent+jws"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def artefact_payload(consent: Consent, granted_at: dt.datetime) -> dict[str, Any]:
    return {
        "iss": "PowerCredit 电力征信",
        "consent_id": consent.consent_id,
        "subject": {"uscc": consent.enterprise.uscc, "name": consent.enterprise.name},
        "recipient": {"name": consent.institution.name, "licence_no": consent.institution.licence_no},
        "purpose": str(consent.purpose),
        "sections": list(consent.scopes),
        "data_range": {"from": consent.data_from.isoformat(), "to": consent.data_to.isoformat()},
        "valid_from": _iso(consent.valid_from),
        "valid_until": _iso(consent.valid_until),
        "fetch": {"type": str(consent.fetch_type),
                  "frequency": ({"unit": str(consent.frequency_unit), "value": consent.frequency_value}
                                if consent.frequency_unit else None)},
        "data_life": {"unit": str(consent.data_life_unit), "value": consent.data_life_value},
        "granted_at": _iso(granted_at),
        "created_via": consent.created_via,
    }


# --- who sees what --------------------------------------------------------------------------

def _visible(stmt: Any, actor: Actor) -> Any:
    if actor.is_operator:
        return stmt
    if actor.enterprise_id is not None:
        return stmt.where(Consent.enterprise_id == actor.enterprise_id)
    if actor.institution_id is not None:
        return stmt.where(Consent.institution_id == actor.institution_id)
    return stmt.where(sa.false())


def get_consent(session: Session, consent_id: str, actor: Actor) -> Consent:
    """A consent the actor may see: the firm's own, the bank's own, any for operators.
    Anyone else's is "not found" (not "forbidden": its existence is not disclosed)."""
    consent = session.scalar(_visible(sa.select(Consent).where(Consent.consent_id == consent_id), actor))
    if consent is None:
        raise ConsentNotFound(f"没有编号为 {consent_id} 的授权")
    return consent


def waiting_request(session: Session, client_id: str | None, consent_id: str | None) -> Consent | None:
    """The consent ``consent_id`` if the OAuth client ``client_id`` asked for it and it awaits
    the firm's answer; None otherwise (what a bank's authorization link names, unchecked)."""
    if not client_id or not consent_id:
        return None
    return session.scalar(sa.select(Consent).join(OAuthClient, OAuthClient.id == Consent.client_pk).where(
        OAuthClient.client_id == client_id[:64], Consent.consent_id == consent_id[:64],
        Consent.status == ConsentStatus.pending))


def list_consents(session: Session, actor: Actor, status: str | None, page: int, per_page: int,
                  *, waiting_first: bool = False) -> Page[Any]:
    """Newest first; ``waiting_first``: requests awaiting the firm's answer before the rest
    (the firm's page, where they are what it has to act on)."""
    order = [Consent.created_at.desc(), Consent.id.desc()]
    if waiting_first:
        order.insert(0, sa.case((Consent.status == ConsentStatus.pending, 0), else_=1))
    stmt = _visible(sa.select(Consent), actor).order_by(*order)
    if status:
        stmt = stmt.where(Consent.status == status)
    return paginate(session, stmt, page, per_page)


def consent_events(session: Session, consent: Consent) -> list[ConsentEvent]:
    return list(session.scalars(
        sa.select(ConsentEvent).where(ConsentEvent.consent_pk == consent.id).order_by(ConsentEvent.id)
    ))


def query_log(session: Session, actor: Actor, page: int, per_page: int,
              enterprise_id: int | None = None, *, consent_pk: int | None = None) -> Page[Any]:
    """Accesses to firms' data: a firm sees every access to its own, an institution its
    own, operators all (institutions and operators optionally to one firm); ``consent_pk``
    narrows to the accesses made under one consent (its uses)."""
    # The consent only for its handle, the firm for its name: one statement each per page.
    stmt = sa.select(QueryLog).order_by(QueryLog.at.desc(), QueryLog.id.desc()).options(
        selectinload(QueryLog.consent).load_only(Consent.consent_id).lazyload("*"),
        selectinload(QueryLog.enterprise).load_only(Enterprise.uscc, Enterprise.name))
    if enterprise_id is not None:
        stmt = stmt.where(QueryLog.enterprise_id == enterprise_id)
    if consent_pk is not None:
        stmt = stmt.where(QueryLog.consent_pk == consent_pk)
    if actor.is_operator:
        pass
    elif actor.enterprise_id is not None:
        stmt = stmt.where(QueryLog.enterprise_id == actor.enterprise_id)
    elif actor.institution_id is not None:
        stmt = stmt.where(QueryLog.institution_id == actor.institution_id)
    else:
        stmt = stmt.where(sa.false())
    return paginate(session, stmt, page, per_page)


def recent_uses(session: Session, consent_pks: list[int], per_consent: int = 3) -> dict[int, list[QueryLog]]:
    """The latest ``per_consent`` accesses under each of ``consent_pks``, newest first, in one
    statement (a consents page shows what each consent was used for)."""
    if not consent_pks:
        return {}
    rank = sa.func.row_number().over(partition_by=QueryLog.consent_pk,
                                     order_by=(QueryLog.at.desc(), QueryLog.id.desc())).label("rank")
    ranked = sa.select(QueryLog.id, rank).where(QueryLog.consent_pk.in_(consent_pks)).subquery()
    rows = session.scalars(sa.select(QueryLog).join(ranked, ranked.c.id == QueryLog.id)
                           .where(ranked.c.rank <= per_consent).order_by(QueryLog.at.desc(), QueryLog.id.desc()))
    out: dict[int, list[QueryLog]] = {}
    for log in rows:
        assert log.consent_pk is not None
        out.setdefault(log.consent_pk, []).append(log)
    return out


def notice_states(session: Session, consent_ids: list[str]) -> dict[str, SubjectState]:
    """How a firm's notices state the consents they name, now: a request still waiting asks
    the firm to decide; one decided, revoked or lapsed says so and links to the consent."""
    from flask import url_for

    now = clock.now()
    rows = session.execute(sa.select(Consent.consent_id, Consent.status, Consent.valid_until)
                           .where(Consent.consent_id.in_(consent_ids))).all()
    out: dict[str, SubjectState] = {}
    for consent_id, status, valid_until in rows:
        shown = ConsentStatus.expired if status not in FINAL_STATUSES and valid_until <= now else ConsentStatus(status)
        url = url_for("consent_web.consent_detail", consent_id=consent_id)
        if shown == ConsentStatus.pending:
            out[consent_id] = SubjectState("待您同意或拒绝", url, "去同意或拒绝", pending=True)
        else:
            out[consent_id] = SubjectState(f"当前状态：{STATUS_LABELS[shown]}", url, "查看授权")
    return out
