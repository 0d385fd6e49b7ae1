"""信用等级证书 (grade certificates): the evaluation procedure and the certificate's life.

A firm's administrator applies (申报); an operator runs the evaluation, which takes the firm's
current evaluation (the grade the public profile shows) and either rejects the application,
saying why, or publishes the result for the notice period (公示, ``notice_days`` calendar days
from the day of publication, that day included, to 23:59:59 Beijing time of the last). Anyone
signed in — but the firm itself — may object during it; an operator upholds an objection (the
result is rejected) or dismisses it. Once the period has ended with no objection open, the
certificate is issued (by the daily job, or an operator): a number, a validity, an annual
review, a frozen document signed like a report (canonical JSON, SHA-256, Ed25519 JWS). It is
suspended, revoked or restored by the configured rule (:mod:`app.certificates.rules`) when the
firm's grade changes or it enters the black list, by the annual review, or by an operator; it
expires after its validity. Every change is a :class:`CertificateEvent` and an audit event, and
the firm is told.

Concurrency: every change is a conditional UPDATE on the status it expects (and, for issuing,
on the notice period having ended with no objection open), made after locking the row (``FOR
UPDATE`` on PostgreSQL; SQLite's write lock serialises writers): of two racing changes one
applies and the other is refused (409) or, for the automatic ones, skipped.

What other packages read: :func:`current_certificate` (a firm's certificate in force or
suspended on a day: the bidding edition of the report shows it) and
:func:`valid_certificate_firms` (which firms hold a certificate in force on a day: the
tenderers' screening rule "certificate required")."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import ROLE_LABELS, Role, User
from app.archive.models import Enterprise
from app.audit import services as audit
from app.certificates.errors import (
    CertificateNotFound,
    CertificateObjectionNotFound,
    NotEligible,
    NoticeClosed,
    NoticeRunning,
    ObjectionsOpen,
    OwnCertificate,
    StatusConflict,
)
from app.certificates.models import (
    CERTIFICATE_STATUS_LABELS,
    Certificate,
    CertificateEvent,
    CertificateObjection,
    CertificateObjectionStatus,
    CertificateStatus,
)
from app.certificates.rules import Action, Rules
from app.certificates.rules import current as current_rules
from app.core import clock
from app.core.db import Page, paginate
from app.core.errors import Conflict, Forbidden, InvalidInput
from app.core.signing import SignatureInvalid, SigningKeys, verify_jws
from app.oversight.models import EntryStatus, ListEntry, ListName
from app.oversight.notices import notify
from app.scoring.models import Evaluation
from app.scoring.scorecard import GRADE_LABELS, NOT_RATED

S = CertificateStatus
# An application under way (one at a time per firm).
OPEN = (S.applied, S.publicized)
# A certificate that stands (in force, or suspended pending recovery): what a firm "holds".
HELD = (S.issued, S.suspended)
# Numbers anyone may look up: results in their notice period and certificates once issued.
PUBLIC = (S.publicized, S.issued, S.suspended, S.revoked, S.expired)
RENEWAL_DAYS = 90  # a firm holding a certificate in force may apply again this close to its end
STATEMENT_TYP = "pc-certificate+jws"
SCHEMA_VERSION = "1.0"
ISSUER = "PowerCredit 电力征信"
TITLE = "电力行业企业信用等级证书"
NUMBER_RE = re.compile(r"^PCC(\d{4})([A-Z2-7]{12})$")
AUTOMATIC_CAUSES = ("grade", "review")  # suspensions the rule may lift (not an operator's)
NOTICE_KIND = "certificate"
WITHDRAWN_OBJECTION = "企业已撤回申报，异议终结"  # an objection closed by the withdrawal (migration 0022 reads it)


# --- numbers, canonical form ----------------------------------------------------------------

def new_certificate_no(at: dt.datetime) -> str:
    """``PCC`` + the year of application (Beijing) + 12 random base32 characters (60 bits):
    never sequential, not guessable, and never a report's number (``PC`` + eight digits)."""
    tail = base64.b32encode(secrets.token_bytes(10)).decode()[:12]
    return f"PCC{clock.to_cn(at):%Y}{tail}"


def canonical(doc: dict[str, Any]) -> bytes:
    """UTF-8, keys sorted, no insignificant whitespace (as reports are frozen)."""
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def check_number(number: str) -> None:
    if not NUMBER_RE.match(number):
        raise InvalidInput("证书编号格式不正确", errors={
            "certificate_no": ["证书编号应为 PCC + 4 位年份 + 12 位字符（A–Z、2–7），共 19 位"]})


def check_digest(digest: str | None) -> str | None:
    if digest is None or digest.strip() == "":
        return None
    value = digest.strip().lower().removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise InvalidInput("证书摘要格式不正确", errors={"digest": ["摘要应为 64 位十六进制 SHA-256 值"]})
    return value


# --- what other packages read ------------------------------------------------------------------

def current_certificate(session: Session, enterprise_id: int, day: dt.date) -> Certificate | None:
    """The firm's certificate on ``day``: issued or suspended, its validity covering the day
    (``valid_from <= day <= valid_until``); the most recently issued if there were several.
    ``None`` when the firm holds none (never applied, rejected, revoked, expired)."""
    return session.scalars(
        sa.select(Certificate)
        .where(Certificate.enterprise_id == enterprise_id, Certificate.status.in_(HELD),
               Certificate.valid_from <= day, Certificate.valid_until >= day)
        .order_by(Certificate.issued_at.desc(), Certificate.id.desc()).limit(1)
    ).first()


def valid_certificate_firms(session: Session, enterprise_ids: Iterable[int], day: dt.date) -> set[int]:
    """Those of ``enterprise_ids`` holding a certificate in force on ``day``: status issued
    (not suspended) and ``valid_from <= day <= valid_until``."""
    ids = sorted(set(enterprise_ids))
    if not ids:
        return set()
    return set(session.scalars(
        sa.select(Certificate.enterprise_id).distinct()
        .where(Certificate.enterprise_id.in_(ids), Certificate.status == CertificateStatus.issued,
               Certificate.valid_from <= day, Certificate.valid_until >= day)))


# --- the firm's standing -------------------------------------------------------------------------

def evaluation_in_force(session: Session, enterprise_id: int, day: dt.date) -> Evaluation | None:
    """The firm's current evaluation (what its public profile shows); never one dated after
    ``day`` — then the latest of the same scorecard as of ``day`` (an evaluation run in the past,
    as the demo's history is)."""
    current = session.scalars(sa.select(Evaluation).where(Evaluation.enterprise_id == enterprise_id,
                                                          Evaluation.current.is_(True))).one_or_none()
    if current is None or current.as_of <= day:
        return current
    return session.scalars(
        sa.select(Evaluation).where(Evaluation.enterprise_id == enterprise_id,
                                    Evaluation.scorecard_id == current.scorecard_id, Evaluation.as_of <= day)
        .order_by(Evaluation.as_of.desc(), Evaluation.evaluated_at.desc(), Evaluation.id.desc()).limit(1)).first()


def current_grades(session: Session, enterprise_ids: Sequence[int]) -> dict[int, str]:
    if not enterprise_ids:
        return {}
    rows = session.execute(sa.select(Evaluation.enterprise_id, Evaluation.grade)
                           .where(Evaluation.enterprise_id.in_(list(enterprise_ids)), Evaluation.current.is_(True)))
    return {int(ent): str(grade) for ent, grade in rows}


def black_listed(session: Session, enterprise_ids: Sequence[int], day: dt.date) -> set[int]:
    """Those of the firms on the black list (失信联合惩戒) on ``day``: a published entry whose
    publication day has come and which had not exited by then."""
    if not enterprise_ids:
        return set()
    on_list = sa.or_(ListEntry.status == EntryStatus.active,
                     sa.and_(ListEntry.status == EntryStatus.exited, ListEntry.exited_on > day))
    return set(session.scalars(
        sa.select(ListEntry.enterprise_id).distinct()
        .where(ListEntry.enterprise_id.in_(list(enterprise_ids)), ListEntry.list_name == ListName.black,
               ListEntry.published_on <= day, on_list)))


# --- reading -------------------------------------------------------------------------------------

def get_certificate(session: Session, number: str, *, lock: bool = False) -> Certificate:
    number = number.strip().upper()
    stmt = sa.select(Certificate).where(Certificate.certificate_no == number)
    if lock:
        stmt = stmt.with_for_update(of=Certificate)
    cert = session.scalars(stmt.execution_options(populate_existing=True)).one_or_none()
    if cert is None:
        raise CertificateNotFound(f"没有编号为 {number} 的证书或申报")
    return cert


def may_see(user: User, cert: Certificate) -> bool:
    """The firm's own users and operators see a certificate in full (history, objections)."""
    return user.role == Role.operator or (user.role == Role.firm and user.enterprise_id == cert.enterprise_id)


def certificate_for(session: Session, user: User, number: str) -> Certificate:
    """A certificate in full for its firm or an operator; anyone else is told it does not exist."""
    cert = get_certificate(session, number)
    if not may_see(user, cert):
        raise CertificateNotFound(f"没有编号为 {number} 的证书或申报")
    return cert


def objected(session: Session, user: User, cert: Certificate) -> bool:
    """Whether ``user`` raised an objection to the result (whatever became of it)."""
    return session.scalar(sa.select(sa.exists().where(CertificateObjection.certificate_pk == cert.id,
                                                      CertificateObjection.user_id == user.id))) or False


def notice_for(session: Session, user: User | None, number: str) -> Certificate:
    """A published result's page (公示页). Anyone sees it while the result is public: in its
    notice period, or a certificate since (as verification shows it). Once it is rejected —
    an objection upheld, the grade or the black list — or withdrawn, it is no longer public
    (verification answers 404 too), but those it concerns still see how it ended: the firm,
    operators, and whoever objected to it. Never published, or anyone else: 404."""
    cert = get_certificate(session, number)
    if cert.notice_from is not None and (
            cert.status in PUBLIC or (user is not None and (may_see(user, cert) or objected(session, user, cert)))):
        return cert
    raise CertificateNotFound(f"没有编号为 {cert.certificate_no} 的公示结果")


def list_certificates(session: Session, *, page: int, per_page: int, status: str | None = None,
                      q: str | None = None, enterprise_id: int | None = None) -> Page[Certificate]:
    """Newest change first; applications waiting and results in their notice period are the
    operators' queue (``status``)."""
    stmt = sa.select(Certificate).join(Enterprise, Enterprise.id == Certificate.enterprise_id)
    if status:
        stmt = stmt.where(Certificate.status == status)
    if enterprise_id is not None:
        stmt = stmt.where(Certificate.enterprise_id == enterprise_id)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(sa.or_(Enterprise.name.like(like), Enterprise.uscc == q.strip().upper(),
                                 Certificate.certificate_no == q.strip().upper()))
    if status == S.publicized:
        stmt = stmt.order_by(Certificate.notice_until, Certificate.id)
    elif status == S.applied:
        stmt = stmt.order_by(Certificate.applied_at, Certificate.id)
    else:
        stmt = stmt.order_by(Certificate.status_changed_at.desc(), Certificate.id.desc())
    return paginate(session, stmt, page, per_page)


def counts_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(sa.select(sa.type_coerce(Certificate.status, sa.String()), sa.func.count())
                           .group_by(Certificate.status))
    return {str(status): int(n) for status, n in rows}


def events_of(session: Session, cert: Certificate) -> list[CertificateEvent]:
    return list(session.scalars(sa.select(CertificateEvent).where(CertificateEvent.certificate_pk == cert.id)
                                .order_by(CertificateEvent.at, CertificateEvent.id)))


def objections_of(session: Session, cert: Certificate) -> list[CertificateObjection]:
    return list(session.scalars(sa.select(CertificateObjection).where(CertificateObjection.certificate_pk == cert.id)
                                .order_by(CertificateObjection.created_at, CertificateObjection.id)))


def open_objection_count(session: Session, cert: Certificate) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(CertificateObjection).where(
        CertificateObjection.certificate_pk == cert.id,
        CertificateObjection.status == CertificateObjectionStatus.open)) or 0)


def in_notice(session: Session, *, page: int, per_page: int, q: str | None = None) -> Page[Certificate]:
    """Results in their notice period now (公示中), the soonest to end first."""
    return list_certificates(session, page=page, per_page=per_page, status=S.publicized, q=q)


def public_certificates(session: Session, enterprise_id: int) -> list[Certificate]:
    """A firm's certificates as its public profile lists them: in force, suspended, revoked and
    expired ones, and a result in its notice period; the newest first."""
    return list(session.scalars(
        sa.select(Certificate).where(Certificate.enterprise_id == enterprise_id, Certificate.status.in_(PUBLIC))
        .order_by(sa.func.coalesce(Certificate.issued_at, Certificate.evaluated_at).desc(), Certificate.id.desc())))


def get_objection(session: Session, objection_no: str) -> CertificateObjection:
    found = session.scalars(sa.select(CertificateObjection).where(CertificateObjection.objection_no == objection_no)
                            .execution_options(populate_existing=True)).one_or_none()
    if found is None:
        raise CertificateObjectionNotFound(f"没有编号为 {objection_no} 的异议")
    return found


def objection_for(session: Session, user: User, objection_no: str) -> CertificateObjection:
    """An objection, for the one who raised it and operators."""
    found = get_objection(session, objection_no)
    if user.role != Role.operator and found.user_id != user.id:
        raise CertificateObjectionNotFound(f"没有编号为 {objection_no} 的异议")
    return found


def list_objections(session: Session, user: User, *, status: str | None, page: int,
                    per_page: int) -> Page[CertificateObjection]:
    """Operators: every objection (open ones first, oldest first); anyone else: their own."""
    stmt = sa.select(CertificateObjection)
    if user.role != Role.operator:
        stmt = stmt.where(CertificateObjection.user_id == user.id)
    if status:
        stmt = stmt.where(CertificateObjection.status == status)
    stmt = stmt.order_by(sa.case((CertificateObjection.status == CertificateObjectionStatus.open, 0), else_=1),
                         CertificateObjection.created_at, CertificateObjection.id)
    return paginate(session, stmt, page, per_page)


def certificate_of(session: Session, objection: CertificateObjection) -> Certificate:
    return session.get_one(Certificate, objection.certificate_pk)


# --- changes of status ------------------------------------------------------------------------------

def actor_of(user: User) -> str:
    return f"user:{user.username}"


# The actors that are no person, as operators read them (``job:…`` is any job; the daily one
# in practice, and a test's).
SYSTEM_ACTORS = {"system:grade": "系统（信用等级变化）", "system:black_list": "系统（列入黑名单）",
                 "cli": "系统（命令行手动运行每日任务）"}


def actor_labels(session: Session, actors: Iterable[str]) -> dict[str, str]:
    """Who made each change, as a person reads it: a user by display name and role
    (「王敏（征信机构）」), the daily job as 「系统（每日任务）」, the signals' receivers by what
    moved them, a bank's system as 「机构系统（接口）」; never the code (``user:…``, ``job:…``)."""
    wanted = set(actors)
    names = {a[5:] for a in wanted if a.startswith("user:")}
    users = {u.username: u for u in session.scalars(sa.select(User).where(User.username.in_(names)))} if names else {}
    out = {}
    for actor in wanted:
        user = users.get(actor[5:]) if actor.startswith("user:") else None
        if user is not None:
            out[actor] = f"{user.display_name}（{ROLE_LABELS[user.role]}）"
        elif actor.startswith("user:"):
            out[actor] = f"用户 {actor[5:]}"  # no such user (any more)
        elif actor.startswith("job:"):
            out[actor] = "系统（每日任务）"
        elif actor.startswith("client:"):
            out[actor] = "机构系统（接口）"
        else:
            out[actor] = SYSTEM_ACTORS.get(actor, "系统")
    return out


_ACTIONS = {S.applied: "certificate.applied", S.publicized: "certificate.publicized", S.rejected: "certificate.rejected",
            S.issued: "certificate.issued", S.suspended: "certificate.suspended", S.revoked: "certificate.revoked",
            S.expired: "certificate.expired", S.withdrawn: "certificate.withdrawn"}


def _action(from_status: str | None, to: str) -> str:
    if from_status == S.suspended and to == S.issued:
        return "certificate.restored"
    if from_status == to:
        return "certificate.reviewed"
    return _ACTIONS[CertificateStatus(to)]


def _record(session: Session, cert: Certificate, from_status: str | None, to: str, actor: str,
            reason: str | None, detail: dict[str, Any], request_id: str | None) -> CertificateEvent:
    event = CertificateEvent(certificate_pk=cert.id, at=clock.now(), from_status=from_status, to_status=str(to),
                             actor=actor, reason=reason[:500] if reason else None, detail=detail)
    session.add(event)
    session.flush()
    ent = session.get_one(Enterprise, cert.enterprise_id)
    audit.record(session, actor, _action(from_status, to), subject_type="certificate", subject_id=cert.certificate_no,
                 request_id=request_id, detail={"uscc": ent.uscc, "from": from_status, "to": str(to),
                                                "reason": reason, **detail})
    return event


def clause(text: str) -> str:
    """Free text (an operator's reason, a resolution) to go inside a sentence that ends on its
    own: without the full stop it may have been typed with (never 「…。。」 or 「…。；」)."""
    return text.strip().rstrip("。．.；;，,").rstrip()


def _tell(session: Session, cert: Certificate, title: str, body: str) -> None:
    notify(session, cert.enterprise_id, NOTICE_KIND, title, body, "certificate", cert.certificate_no)


def _move(session: Session, cert: Certificate, expected: Sequence[CertificateStatus], to: CertificateStatus,
          actor: str, reason: str | None, *, cause: str, detail: dict[str, Any] | None = None,
          values: dict[str, Any] | None = None, where: Sequence[Any] = (), request_id: str | None = None,
          quiet: bool = False) -> bool:
    """One change of status, if the certificate is still in one of ``expected`` (and ``where``
    holds): the row, its event, the audit event. Refused with a 409 otherwise — or, ``quiet``
    (the automatic changes), skipped: another change came first."""
    from_status = str(cert.status)
    done = session.execute(
        sa.update(Certificate).where(Certificate.id == cert.id, Certificate.status.in_(list(expected)), *where)
        .values(status=to, status_reason=reason[:500] if reason else None, status_changed_at=clock.now(),
                **(values or {}))
        .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
    if done != 1:
        if quiet:
            return False
        session.refresh(cert)
        raise StatusConflict(f"证书 {cert.certificate_no} 当前为「{CERTIFICATE_STATUS_LABELS[cert.status]}」，"
                             "不能进行此操作（可能已被他人处理）")
    session.refresh(cert)
    _record(session, cert, from_status, to, actor, reason, {"cause": cause, **(detail or {})}, request_id)
    return True


def _lock_enterprise(session: Session, enterprise_id: int) -> None:
    session.execute(sa.select(Enterprise.id).where(Enterprise.id == enterprise_id).with_for_update())


def _ineligible(ev: Evaluation | None, rules: Rules) -> str | None:
    """Why the firm's grade cannot be certified (None: it can)."""
    if ev is None:
        return "企业尚未进行信用评价"
    if ev.grade == NOT_RATED:
        return "企业当前不予评级（NR，信用信息不足），不予发证"
    if not rules.certifiable(ev.grade):
        return f"企业当前信用等级 {ev.grade} 低于获证最低等级 {rules.min_grade}"
    return None


def apply(session: Session, user: User, *, request_id: str | None = None, rules: Rules | None = None) -> Certificate:
    """A firm's administrator applies for a certificate (申报). Refused at once when the firm
    cannot be certified now: an application under way, a certificate in force with more than
    ``RENEWAL_DAYS`` to run, the black list, no evaluation, NR, or a grade below the minimum
    (the 申报条件 a bureau checks before accepting)."""
    rules = rules or current_rules()
    if user.role != Role.firm or user.enterprise_id is None:
        raise Forbidden("只有企业用户可以为本企业申报信用等级证书", code="not_a_firm")
    _lock_enterprise(session, user.enterprise_id)  # two applications of one firm, one after the other
    ent = session.get_one(Enterprise, user.enterprise_id)
    today = clock.today()
    under_way = session.scalars(sa.select(Certificate).where(Certificate.enterprise_id == ent.id,
                                                             Certificate.status.in_(OPEN)).limit(1)).first()
    if under_way is not None:
        raise Conflict(f"本企业已有进行中的申报 {under_way.certificate_no}（{CERTIFICATE_STATUS_LABELS[under_way.status]}）："
                       "同一时间只能有一件申报", code="certificate_application_open")
    held = current_certificate(session, ent.id, today)
    if held is not None and held.status == S.suspended:  # a new certificate would lift it unseen
        raise Conflict(f"本企业的证书 {held.certificate_no} 已暂停（{held.status_reason or '原因见证书记录'}）："
                       "暂停期间不得申报，待恢复或撤销后再申请", code="certificate_suspended")
    if held is not None and held.status == S.issued and held.valid_until is not None \
            and held.valid_until > today + dt.timedelta(days=RENEWAL_DAYS):
        renew_from = held.valid_until - dt.timedelta(days=RENEWAL_DAYS)
        raise Conflict(f"本企业的证书 {held.certificate_no} 有效期至 {held.valid_until}；"
                       f"届满前 {RENEWAL_DAYS} 日内（{renew_from} 起）可申请换证", code="certificate_in_force")
    if black_listed(session, [ent.id], today):
        raise Conflict("列入失信联合惩戒名单（黑名单）的企业不得申报信用等级证书", code="black_listed")
    why = _ineligible(evaluation_in_force(session, ent.id, today), rules)
    if why is not None:
        raise NotEligible(f"不符合申报条件：{why}", errors={"grade": [why + "。"]})
    now = clock.now()
    cert = Certificate(certificate_no=new_certificate_no(now), enterprise_id=ent.id, status=S.applied, applied_at=now,
                       applied_by=user.id, status_changed_at=now)
    session.add(cert)
    session.flush()
    _record(session, cert, None, S.applied, actor_of(user), "企业申报", {"cause": "application"}, request_id)
    return cert


def noted(note: str | None) -> dict[str, str]:
    """An operator's optional note on an evaluation or an issue, as the event's ``detail``
    keeps it (nothing when none was typed)."""
    return {"note": note.strip()} if note and note.strip() else {}


def evaluate(session: Session, number: str, actor: str, *, note: str | None = None, request_id: str | None = None,
             rules: Rules | None = None, evaluation: Evaluation | None = None) -> Certificate:
    """The evaluation of an application: the firm's evaluation in force (or ``evaluation``, one
    of the firm's) is recorded; the result is published for the notice period, or the
    application is rejected saying why. The operator's ``note`` goes into the history with it."""
    rules = rules or current_rules()
    cert = get_certificate(session, number, lock=True)
    if cert.status != S.applied:
        raise StatusConflict(f"证书 {number} 当前为「{CERTIFICATE_STATUS_LABELS[cert.status]}」，只有「已申报」的申报可以评价")
    today = clock.today()
    ev = evaluation if evaluation is not None else evaluation_in_force(session, cert.enterprise_id, today)
    if ev is not None and ev.enterprise_id != cert.enterprise_id:
        raise InvalidInput("评价结果不属于该企业", errors={"evaluation": ["应为申报企业本身的信用评价。"]})
    why = "企业已列入失信联合惩戒名单（黑名单）" if black_listed(session, [cert.enterprise_id], today) \
        else _ineligible(ev, rules)
    now = clock.now()
    values: dict[str, Any] = {"evaluated_at": now}
    if ev is not None:
        values.update(evaluation_id=ev.id, grade=ev.grade, score=None if ev.score is None else str(ev.score),
                      scorecard_version=ev.scorecard_version, grade_as_of=ev.as_of)
    if why is not None:
        _move(session, cert, (S.applied,), S.rejected, actor, f"评价未通过：{why}", cause="evaluation",
              detail=noted(note), values=values, request_id=request_id)
        _tell(session, cert, "信用等级证书申报未通过", f"您申报的信用等级证书 {cert.certificate_no} 评价未通过：{why}。")
        return cert
    last_day = today + dt.timedelta(days=rules.notice_days - 1)
    values.update(notice_from=now, notice_until=clock.end_of_day(last_day))
    _move(session, cert, (S.applied,), S.publicized, actor, f"评价结果 {values.get('grade')}，公示至 {last_day}",
          cause="evaluation", detail={"grade": values.get("grade"), "notice_until": last_day.isoformat(), **noted(note)},
          values=values, request_id=request_id)
    _tell(session, cert, "信用等级评价结果公示",
          f"您申报的信用等级证书 {cert.certificate_no} 评价结果为 {cert.grade}，自 {today} 至 {last_day} 公示；"
          "公示期满无异议即颁发证书。")
    return cert


def notice_open(cert: Certificate, now: dt.datetime | None = None) -> bool:
    """Whether the notice period is running: from publication to the end of its last day."""
    now = now or clock.now()
    return (cert.status == S.publicized and cert.notice_from is not None and cert.notice_until is not None
            and cert.notice_from <= now <= cert.notice_until)


def object_to(session: Session, user: User, number: str, text: str, *,
              request_id: str | None = None) -> CertificateObjection:
    """An objection to a result in its notice period, by anyone signed in but the firm itself
    (it may withdraw its application instead); one open objection per person and result."""
    cert = get_certificate(session, number, lock=True)
    if cert.status not in PUBLIC:  # an application never made public is nobody else's business
        raise CertificateNotFound(f"没有编号为 {number} 的公示结果")
    if user.role == Role.firm and user.enterprise_id == cert.enterprise_id:
        raise OwnCertificate("企业不能对本企业的评价结果提出异议；如需更正申报，可撤回后重新申报")
    now = clock.now()
    if not notice_open(cert, now):
        until = clock.format_cn(cert.notice_until) if cert.notice_until else "—"
        raise NoticeClosed(f"该评价结果不在公示期内（公示期至 {until}），不能再提出异议")
    mine = session.scalar(sa.select(CertificateObjection.objection_no).where(
        CertificateObjection.certificate_pk == cert.id, CertificateObjection.user_id == user.id,
        CertificateObjection.status == CertificateObjectionStatus.open))
    if mine is not None:
        raise Conflict(f"您对该评价结果已有待处理的异议 {mine}", code="objection_open")
    objection = CertificateObjection(objection_no="cob_" + secrets.token_hex(6), certificate_pk=cert.id,
                                     user_id=user.id, text=text, status=CertificateObjectionStatus.open,
                                     created_at=now)
    session.add(objection)
    session.flush()
    audit.record(session, actor_of(user), "certificate.objection_filed", subject_type="certificate_objection",
                 subject_id=objection.objection_no, request_id=request_id,
                 detail={"certificate_no": cert.certificate_no})
    _tell(session, cert, "评价结果收到异议",
          f"您的信用等级评价结果 {cert.certificate_no} 在公示期内收到异议 {objection.objection_no}，征信机构核查处理前暂不发证。")
    return objection


def resolve_objection(session: Session, user: User, objection_no: str, outcome: str, resolution: str, *,
                      request_id: str | None = None) -> CertificateObjection:
    """The operator's answer: upheld (the result in its notice period is rejected) or
    dismissed (issuing may go ahead once no other objection is open)."""
    if user.role != Role.operator:
        raise Forbidden("证书异议由征信机构核查处理", code="not_an_operator")
    if outcome not in (CertificateObjectionStatus.upheld, CertificateObjectionStatus.dismissed):
        raise InvalidInput("处理结果有误", errors={"outcome": ["处理结果只能是异议成立或异议不成立。"]})
    result = CertificateObjectionStatus(outcome)
    objection = get_objection(session, objection_no)
    cert = session.scalars(sa.select(Certificate).where(Certificate.id == objection.certificate_pk)
                           .with_for_update(of=Certificate).execution_options(populate_existing=True)).one()
    now = clock.now()
    done = session.execute(
        sa.update(CertificateObjection).where(CertificateObjection.id == objection.id,
                                              CertificateObjection.status == CertificateObjectionStatus.open)
        .values(status=result, resolution=resolution, resolved_at=now, resolved_by=user.id)
        .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
    if done != 1:
        session.refresh(objection)
        if objection.status == CertificateObjectionStatus.closed:
            raise Conflict("该异议已随企业撤回申报终结，无需处理", code="objection_resolved")
        raise Conflict("该异议已处理", code="objection_resolved")
    session.refresh(objection)
    audit.record(session, actor_of(user), "certificate.objection_resolved", subject_type="certificate_objection",
                 subject_id=objection.objection_no, request_id=request_id,
                 detail={"certificate_no": cert.certificate_no, "outcome": str(result)})
    label = "异议成立" if result == CertificateObjectionStatus.upheld else "异议不成立"
    detail = {"objection_no": objection.objection_no}
    if result == CertificateObjectionStatus.upheld and cert.status == S.publicized:
        _move(session, cert, (S.publicized,), S.rejected, actor_of(user), f"异议成立：{resolution}", cause="objection",
              detail=detail, request_id=request_id)
    elif result == CertificateObjectionStatus.upheld and cert.status in HELD:
        _move(session, cert, HELD, S.revoked, actor_of(user), f"异议成立：{resolution}", cause="objection",
              detail=detail, request_id=request_id)
    _tell(session, cert, f"评价结果异议处理：{label}",
          f"对信用等级评价结果 {cert.certificate_no} 的异议 {objection.objection_no} 已处理：{label}。说明：{clause(resolution)}"
          + ("；该评价结果不予发证。" if result == CertificateObjectionStatus.upheld else "。"))
    return objection


def document(cert: Certificate, ent: Enterprise, issued_at: dt.datetime, valid_from: dt.date,
             valid_until: dt.date, rules: Rules) -> dict[str, Any]:
    """The certificate as frozen at issue: what the PDF shows, the digest covers and the
    signature binds."""
    assert cert.grade is not None and cert.notice_from is not None and cert.notice_until is not None
    return {
        "schema_version": SCHEMA_VERSION, "kind": "grade_certificate", "title": TITLE,
        "certificate_no": cert.certificate_no,
        "subject": {"name": ent.name, "uscc": ent.uscc},
        "grade": cert.grade, "grade_label": GRADE_LABELS.get(cert.grade, ""), "score": cert.score,
        "scorecard_version": cert.scorecard_version,
        "grade_as_of": cert.grade_as_of.isoformat() if cert.grade_as_of else None,
        "notice": {"from": clock.iso_utc(cert.notice_from), "until": clock.iso_utc(cert.notice_until)},
        "issued_at": clock.iso_utc(issued_at), "valid_from": valid_from.isoformat(),
        "valid_until": valid_until.isoformat(), "review_months": rules.review_months,
        "issuer": ISSUER,
        "statement": (f"经评价并公示，{ent.name}的电力行业信用等级为 {cert.grade}（{GRADE_LABELS.get(cert.grade, '')}）。"
                      f"本证书有效期内每 {rules.review_months} 个月复核一次；证书可能因信用状况变化被暂停或撤销，"
                      "其状态以平台公开核验结果为准。"),
    }


def statement(doc: dict[str, Any], digest: str) -> dict[str, Any]:
    return {"certificate_no": doc["certificate_no"], "digest": digest, "digest_alg": "SHA-256",
            "subject": doc["subject"], "grade": doc["grade"], "valid_from": doc["valid_from"],
            "valid_until": doc["valid_until"], "issued_at": doc["issued_at"], "schema_version": doc["schema_version"]}


def _no_open_objection() -> Any:
    return ~sa.exists().where(CertificateObjection.certificate_pk == Certificate.id,
                              CertificateObjection.status == CertificateObjectionStatus.open)


def issue_reason(session: Session, cert: Certificate) -> str:
    """Why a result is issued, from what happened in its notice period: no objection, or the
    objections found not to hold (an upheld one leaves nothing to issue)."""
    dismissed = int(session.scalar(sa.select(sa.func.count()).select_from(CertificateObjection).where(
        CertificateObjection.certificate_pk == cert.id,
        CertificateObjection.status == CertificateObjectionStatus.dismissed)) or 0)
    if dismissed == 0:
        return "公示期满无异议，颁发证书"
    if dismissed == 1:
        return "公示期满，异议经核查不成立，颁发证书"
    return f"公示期满，{dismissed} 件异议经核查均不成立，颁发证书"


def issue(session: Session, keys: SigningKeys, number: str, actor: str, *, note: str | None = None,
          request_id: str | None = None, rules: Rules | None = None) -> Certificate:
    """Issue the certificate of a result whose notice period has ended with no objection open.
    Checked once more first: a firm on the black list, or whose grade no longer supports the
    result, is rejected instead (saying why). Another certificate the firm held ends (换证).
    The operator's ``note`` goes into the history with the issue (or the rejection)."""
    rules = rules or current_rules()
    cert = get_certificate(session, number, lock=True)
    if cert.status != S.publicized:
        raise StatusConflict(f"证书 {number} 当前为「{CERTIFICATE_STATUS_LABELS[cert.status]}」，只有公示期满的评价结果可以发证")
    now = clock.now()
    assert cert.notice_until is not None and cert.grade is not None
    if now <= cert.notice_until:
        raise NoticeRunning(f"公示期至 {clock.format_cn(cert.notice_until, '%Y-%m-%d %H:%M:%S')}（北京时间）结束，期满后方可发证")
    if open_objection_count(session, cert):
        raise ObjectionsOpen("该评价结果有待处理的异议，处理完毕后方可发证")
    today = clock.today()
    if black_listed(session, [cert.enterprise_id], today):
        _reject(session, cert, "发证前复核：企业已列入失信联合惩戒名单（黑名单）", actor, "black_list", request_id,
                detail=noted(note))
        return cert
    ev = evaluation_in_force(session, cert.enterprise_id, today)
    action, why = rules.judge(cert.grade, None if ev is None else ev.grade)
    if action != Action.stand:
        _reject(session, cert, f"发证前复核：{why}", actor, "grade", request_id, detail=noted(note))
        return cert
    ent = session.get_one(Enterprise, cert.enterprise_id)
    valid_from = today
    valid_until = rules.valid_until(valid_from)
    review = rules.review_after(valid_from, valid_from)
    doc = document(cert, ent, now, valid_from, valid_until, rules)
    body = canonical(doc)
    digest = sha256_hex(body)
    values = {"issued_at": now, "valid_from": valid_from, "valid_until": valid_until,
              "next_review_on": review if review <= valid_until else None, "body": body.decode(), "digest": digest,
              "signature": keys.sign(statement(doc, digest), STATEMENT_TYP), "kid": keys.active}
    _move(session, cert, (S.publicized,), S.issued, actor, issue_reason(session, cert), cause="issue",
          detail={"valid_until": valid_until.isoformat(), **noted(note)}, values=values,
          where=(Certificate.notice_until < now, _no_open_objection()), request_id=request_id)
    _tell(session, cert, "信用等级证书已颁发",
          f"信用等级证书 {cert.certificate_no}（{cert.grade}）已颁发，有效期 {valid_from} 至 {valid_until}，"
          f"每 {rules.review_months} 个月复核一次。可在「信用等级证书」页下载 PDF。")
    for other in session.scalars(sa.select(Certificate).where(Certificate.enterprise_id == cert.enterprise_id,
                                                               Certificate.status.in_(HELD),
                                                               Certificate.id != cert.id)):
        if _move(session, other, HELD, S.expired, actor, f"已换发新证书 {cert.certificate_no}，原证书失效",
                 cause="renewal", detail={"renewed_by": cert.certificate_no}, request_id=request_id, quiet=True):
            _tell(session, other, "原信用等级证书失效", f"因换发新证书 {cert.certificate_no}，原证书 {other.certificate_no} 失效。")
    return cert


def _reject(session: Session, cert: Certificate, why: str, actor: str, cause: str, request_id: str | None,
            quiet: bool = False, detail: dict[str, Any] | None = None) -> bool:
    if not _move(session, cert, OPEN, S.rejected, actor, why, cause=cause, detail=detail, request_id=request_id,
                 quiet=quiet):
        return False
    _tell(session, cert, "信用等级证书申报未通过", f"信用等级证书申报 {cert.certificate_no} 未通过：{why}。")
    return True


def withdraw(session: Session, user: User, number: str, reason: str | None, *,
             request_id: str | None = None) -> Certificate:
    """The firm withdraws its application before the certificate is issued."""
    cert = certificate_for(session, user, number)
    if user.role != Role.firm:
        raise Forbidden("只有申报企业可以撤回申报", code="not_the_applicant")
    cert = get_certificate(session, cert.certificate_no, lock=True)
    if cert.status not in OPEN:
        raise StatusConflict(f"证书 {number} 当前为「{CERTIFICATE_STATUS_LABELS[cert.status]}」，只有发证前的申报可以撤回")
    _move(session, cert, OPEN, S.withdrawn, actor_of(user), f"企业撤回申报{'：' + reason if reason else ''}",
          cause="withdrawal", request_id=request_id)
    # Objections to a withdrawn result are moot: closed — not judged either way —, saying why.
    session.execute(sa.update(CertificateObjection).where(
        CertificateObjection.certificate_pk == cert.id, CertificateObjection.status == CertificateObjectionStatus.open)
        .values(status=CertificateObjectionStatus.closed, resolved_at=clock.now(), resolution=WITHDRAWN_OBJECTION))
    return cert


def _require_operator(user: User) -> None:
    if user.role != Role.operator:
        raise Forbidden("此操作由征信机构进行", code="not_an_operator")


def suspend(session: Session, user: User, number: str, reason: str, *, request_id: str | None = None) -> Certificate:
    """An operator suspends a certificate in force (lifted only by an operator)."""
    _require_operator(user)
    cert = get_certificate(session, number, lock=True)
    status = effective_status(cert)  # one past its validity is expired, marked or not
    if status != S.issued:
        raise StatusConflict(f"证书 {number} 当前为「{CERTIFICATE_STATUS_LABELS[status]}」，只有有效的证书可以暂停")
    _move(session, cert, (S.issued,), S.suspended, actor_of(user), reason, cause="manual", request_id=request_id)
    _tell(session, cert, "信用等级证书已暂停", f"信用等级证书 {cert.certificate_no} 已被征信机构暂停：{clause(reason)}。")
    return cert


def revoke(session: Session, user: User, number: str, reason: str, *, request_id: str | None = None) -> Certificate:
    """An operator revokes a certificate in force or suspended (final)."""
    _require_operator(user)
    cert = get_certificate(session, number, lock=True)
    status = effective_status(cert)
    if status not in HELD:
        raise StatusConflict(f"证书 {number} 当前为「{CERTIFICATE_STATUS_LABELS[status]}」，只有有效或暂停的证书可以撤销")
    _move(session, cert, HELD, S.revoked, actor_of(user), reason, cause="manual", request_id=request_id)
    _tell(session, cert, "信用等级证书已撤销", f"信用等级证书 {cert.certificate_no} 已被征信机构撤销：{clause(reason)}。")
    return cert


def restore(session: Session, user: User, number: str, reason: str, *, request_id: str | None = None,
            rules: Rules | None = None) -> Certificate:
    """An operator lifts a suspension — only while the firm's standing supports the
    certificate (not on the black list, the grade within the rule)."""
    _require_operator(user)
    rules = rules or current_rules()
    cert = get_certificate(session, number, lock=True)
    if cert.status != S.suspended:
        raise StatusConflict(f"证书 {number} 当前为「{CERTIFICATE_STATUS_LABELS[cert.status]}」，只有暂停的证书可以恢复")
    if cert.valid_until is not None and cert.valid_until < clock.today():
        raise StatusConflict(f"证书 {number} 已于 {cert.valid_until} 到期，不能恢复")
    if black_listed(session, [cert.enterprise_id], clock.today()):
        raise Conflict("企业在黑名单中，证书不能恢复", code="black_listed")
    assert cert.grade is not None
    action, why = rules.judge(cert.grade, current_grades(session, [cert.enterprise_id]).get(cert.enterprise_id))
    if action != Action.stand:
        raise Conflict(f"企业当前的信用状况不支持恢复证书：{why}", code="rule_not_met")
    _move(session, cert, (S.suspended,), S.issued, actor_of(user), reason, cause="manual", request_id=request_id)
    _tell(session, cert, "信用等级证书已恢复", f"信用等级证书 {cert.certificate_no} 已恢复有效：{clause(reason)}。")
    return cert


# --- automatic changes: signals, the daily job ------------------------------------------------------

@dataclass
class Outcome:
    """What the automatic changes did (the job's summary, the CLI's report)."""

    issued: int = 0
    rejected: int = 0
    suspended: int = 0
    revoked: int = 0
    restored: int = 0
    expired: int = 0
    reviewed: int = 0
    numbers: dict[str, list[str]] = field(default_factory=dict)

    def count(self, what: str, cert: Certificate) -> None:
        setattr(self, what, getattr(self, what) + 1)
        self.numbers.setdefault(what, []).append(cert.certificate_no)

    def summary(self) -> str:
        return " ".join(f"{k}={getattr(self, k)}" for k in
                        ("issued", "rejected", "suspended", "revoked", "restored", "expired", "reviewed"))


def last_suspension_cause(session: Session, cert: Certificate) -> str | None:
    detail = session.scalar(sa.select(CertificateEvent.detail).where(
        CertificateEvent.certificate_pk == cert.id, CertificateEvent.to_status == str(S.suspended),
        CertificateEvent.from_status != str(S.suspended))
        .order_by(CertificateEvent.at.desc(), CertificateEvent.id.desc()).limit(1))
    return None if detail is None else str(detail.get("cause"))


def _apply_rule(session: Session, cert: Certificate, grade: str | None, listed: bool, actor: str, rules: Rules,
                cause: str, out: Outcome) -> None:
    """The rule applied to one certificate (held, or a result in its notice period) given the
    firm's current grade and whether it is on the black list now."""
    if cert.grade is None:
        return
    why: str | None
    if listed:
        why, rule_cause = "企业列入失信联合惩戒名单（黑名单）", "black_list"
        action = Action.revoke
    else:
        action, why = rules.judge(cert.grade, grade)
        rule_cause = cause
    if cert.status == S.publicized:
        if action != Action.stand and _reject(session, cert, f"公示期间复核：{why}", actor, rule_cause, None, quiet=True):
            out.count("rejected", cert)
        return
    if action == Action.revoke:
        if _move(session, cert, HELD, S.revoked, actor, why, cause=rule_cause, detail={"grade": grade}, quiet=True):
            _tell(session, cert, "信用等级证书已撤销", f"信用等级证书 {cert.certificate_no} 已撤销：{why}。")
            out.count("revoked", cert)
    elif action == Action.suspend:
        if cert.status == S.issued and _move(session, cert, (S.issued,), S.suspended, actor, why, cause=rule_cause,
                                             detail={"grade": grade}, quiet=True):
            _tell(session, cert, "信用等级证书已暂停",
                  f"信用等级证书 {cert.certificate_no} 已暂停：{why}。信用等级恢复后证书将自动恢复。"
                  if rules.restore else f"信用等级证书 {cert.certificate_no} 已暂停：{why}。")
            out.count("suspended", cert)
    elif (cert.status == S.suspended and rules.restore and last_suspension_cause(session, cert) in AUTOMATIC_CAUSES
          and (cert.valid_until is None or cert.valid_until >= clock.today())
          and _move(session, cert, (S.suspended,), S.issued, actor, f"信用等级恢复为 {grade}，证书恢复有效",
                    cause=cause, detail={"grade": grade}, quiet=True)):
        _tell(session, cert, "信用等级证书已恢复", f"信用等级恢复为 {grade}，信用等级证书 {cert.certificate_no} 恢复有效。")
        out.count("restored", cert)


def _affected(session: Session, enterprise_ids: Sequence[int], lock: bool = True) -> list[Certificate]:
    stmt = (sa.select(Certificate).where(Certificate.enterprise_id.in_(list(enterprise_ids)),
                                         Certificate.status.in_((S.publicized, *HELD)))
            .order_by(Certificate.id).execution_options(populate_existing=True))
    if lock:
        stmt = stmt.with_for_update(of=Certificate)
    return list(session.scalars(stmt))


def grades_changed(session: Session, changes: Sequence[dict[str, Any]], *, rules: Rules | None = None,
                   actor: str = "system:grade") -> Outcome:
    """Scoring re-graded firms (``app.core.signals.grades_changed``): each certificate of
    theirs — held, or a result in its notice period — is judged by the rule against the new
    grade: suspended, revoked, restored, or the result rejected."""
    out = Outcome()
    new = {int(c["enterprise_id"]): str(c["new_grade"]) for c in changes}
    if not new:
        return out
    rules = rules or current_rules()
    certs = _affected(session, sorted(new))
    if not certs:
        return out
    listed = black_listed(session, sorted({c.enterprise_id for c in certs}), clock.today())
    for cert in certs:
        _apply_rule(session, cert, new[cert.enterprise_id], cert.enterprise_id in listed, actor, rules, "grade", out)
    return out


def entered_black_list(session: Session, enterprise_id: int, *, actor: str = "system:black_list") -> Outcome:
    """The firm was published on the black list (``oversight_changed``, ``list.entered``):
    its certificates are revoked, an application under way rejected."""
    out = Outcome()
    why = "企业列入失信联合惩戒名单（黑名单）"
    for cert in _affected(session, [enterprise_id]):
        if cert.status in HELD and _move(session, cert, HELD, S.revoked, actor, why, cause="black_list", quiet=True):
            _tell(session, cert, "信用等级证书已撤销", f"信用等级证书 {cert.certificate_no} 已撤销：{why}。")
            out.count("revoked", cert)
    for cert in session.scalars(sa.select(Certificate).where(Certificate.enterprise_id == enterprise_id,
                                                              Certificate.status.in_(OPEN))):
        if _reject(session, cert, why, actor, "black_list", None, quiet=True):
            out.count("rejected", cert)
    return out


def review(session: Session, cert: Certificate, grade: str | None, listed: bool, actor: str, rules: Rules,
           out: Outcome) -> None:
    """The annual review (复核) of a certificate whose review day has come: the rule applied,
    then the review recorded and the next one set (none past the validity)."""
    _apply_rule(session, cert, grade, listed, actor, rules, "review", out)
    session.refresh(cert)
    if cert.status not in HELD or cert.next_review_on is None:
        return
    due = cert.next_review_on
    following = rules.review_after(cert.valid_from or due, due)  # counted from the issue date, not chained
    nxt = following if cert.valid_until is not None and following <= cert.valid_until else None
    passed = cert.status == S.issued
    done = session.execute(sa.update(Certificate).where(Certificate.id == cert.id, Certificate.next_review_on == due)
                           .values(next_review_on=nxt).execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
    if done != 1:
        return
    session.refresh(cert)
    why = (f"年度复核通过：当前信用等级 {grade}" if passed
           else f"年度复核：证书暂停中（当前信用等级 {grade or '无'}）")
    _record(session, cert, str(cert.status), str(cert.status), actor, why,
            {"cause": "review", "review_on": due.isoformat(), "grade": grade,
             "next_review_on": nxt.isoformat() if nxt else None}, None)
    _tell(session, cert, "信用等级证书年度复核", f"信用等级证书 {cert.certificate_no} {why}。"
          + (f"下次复核 {nxt}。" if nxt else ""))
    out.count("reviewed", cert)


def advance(session: Session, keys: SigningKeys, *, actor: str = "job:certificates.advance",
            rules: Rules | None = None, on_progress: Callable[[str, int, int], None] | None = None) -> Outcome:
    """The daily work (job ``certificates.advance``, ``powercredit certificates advance``):
    certificates past their validity expire; every held certificate and every result in its
    notice period is judged against the firm's grade and the black list now (a safety net
    behind the signals, and the rule as configured today); the annual reviews due are made;
    results whose notice period has ended with no objection open are issued. ``on_progress``
    hears each step in Chinese with how many of how many certificates are done."""
    rules = rules or current_rules()
    out = Outcome()
    today = clock.today()
    tick = on_progress or (lambda step, done, total: None)
    lapsed = list(session.scalars(sa.select(Certificate).where(Certificate.status.in_(HELD),
                                                                Certificate.valid_until < today).order_by(Certificate.id)))
    tick("到期", 0, len(lapsed))
    for done, cert in enumerate(lapsed, 1):
        assert cert.valid_until is not None
        if _move(session, cert, HELD, S.expired, actor, expiry_reason(cert.valid_until), cause="expiry", quiet=True):
            _tell(session, cert, "信用等级证书已到期", f"信用等级证书 {cert.certificate_no} 有效期已于 {cert.valid_until} 届满；"
                  "如需继续持证，请重新申报。")
            out.count("expired", cert)
        tick("到期", done, len(lapsed))
    judged = list(session.scalars(sa.select(Certificate).where(Certificate.status.in_((S.publicized, *HELD)))
                                  .order_by(Certificate.id).execution_options(populate_existing=True)))
    firms = sorted({c.enterprise_id for c in judged})
    grades = current_grades(session, firms)
    listed = black_listed(session, firms, today)
    tick("按规则复核", 0, len(judged))
    for done, cert in enumerate(judged, 1):
        if cert.status in HELD and cert.next_review_on is not None and cert.next_review_on <= today:
            review(session, cert, grades.get(cert.enterprise_id), cert.enterprise_id in listed, actor, rules, out)
        else:
            _apply_rule(session, cert, grades.get(cert.enterprise_id), cert.enterprise_id in listed, actor, rules,
                        "grade", out)
        tick("按规则复核", done, len(judged))
    now = clock.now()
    due = list(session.scalars(sa.select(Certificate.certificate_no).where(
        Certificate.status == S.publicized, Certificate.notice_until < now, _no_open_objection())
        .order_by(Certificate.notice_until, Certificate.id)))
    tick("公示期满发证", 0, len(due))
    for done, number in enumerate(due, 1):
        try:
            cert = issue(session, keys, number, actor, rules=rules)
        except (StatusConflict, NoticeRunning, ObjectionsOpen):
            continue  # changed meanwhile (an objection, another run): the next run sees it
        finally:
            tick("公示期满发证", done, len(due))
        out.count("issued" if cert.status == S.issued else "rejected", cert)
    return out


# --- public verification ---------------------------------------------------------------------------

def expiry_reason(valid_until: dt.date) -> str:
    return f"有效期已于 {valid_until} 届满"


@dataclass(frozen=True)
class Standing:
    """A certificate's status as every reader shows it (the verification, the API, the pages,
    the PDF, the command line): the status, why, and since when."""

    status: CertificateStatus
    reason: str | None
    changed_at: dt.datetime

    @property
    def label(self) -> str:
        return CERTIFICATE_STATUS_LABELS[self.status]


def standing(cert: Certificate, today: dt.date | None = None) -> Standing:
    """The status as of today: a held certificate past its validity is expired — with the
    expiry as its reason, since the first moment after its last day — even before the daily
    job has marked it (the row would still give the reason it was issued or suspended for)."""
    today = today or clock.today()
    if cert.status in HELD and cert.valid_until is not None and cert.valid_until < today:
        return Standing(S.expired, expiry_reason(cert.valid_until),
                        clock.at_cn(cert.valid_until + dt.timedelta(days=1)))
    return Standing(cert.status, cert.status_reason, cert.status_changed_at)


def effective_status(cert: Certificate, today: dt.date | None = None) -> CertificateStatus:
    """The status as of today (see :func:`standing`)."""
    return standing(cert, today).status


def next_review(cert: Certificate, today: dt.date | None = None) -> dt.date | None:
    """The next annual review, while there is one to come: the certificate held as of today
    (in force, or suspended — the daily job reviews a suspended certificate too). ``None`` once
    it has ended (revoked, expired — even before the daily job marks it —, renewed) and for
    an application that never became a certificate: the row keeps the date it had."""
    return cert.next_review_on if standing(cert, today).status in HELD else None


VERDICTS = {
    S.issued: "证书有效：由本平台颁发，在有效期内",
    S.suspended: "证书已暂停：当前不能作为有效证书使用",
    S.revoked: "证书已撤销：不再有效",
    S.expired: "证书已过期：不再有效",
    S.publicized: "评价结果公示中：尚未发证",
}


def verification(session: Session, keys: SigningKeys, number: str, digest: str | None) -> dict[str, Any]:
    """The public facts of a certificate number (the ``/verify/{no}`` page and
    ``GET /api/v1/certificates/{no}``): whether the platform issued it, to which firm, the
    grade, the validity, the status now and why, whether a given digest matches and whether
    the stored signature verifies. A result in its notice period is shown as such. Numbers
    never made public are unknown (404); malformed ones a 422 naming ``certificate_no``."""
    number = number.strip().upper()
    check_number(number)
    wanted = check_digest(digest)
    cert = session.scalars(sa.select(Certificate).where(Certificate.certificate_no == number)).one_or_none()
    if cert is None or cert.status not in PUBLIC:
        raise CertificateNotFound(f"未查询到编号为 {number} 的证书：该编号不是本平台颁发的信用等级证书")
    ent = session.get_one(Enterprise, cert.enterprise_id)
    now = standing(cert)
    status = now.status
    issued = cert.issued_at is not None
    signature_valid: bool | None = None
    if issued and cert.signature and cert.body:
        try:
            signed = verify_jws(cert.signature, keys.jwks(), typ=STATEMENT_TYP)
            # What this answer shows from the row must be what was signed: a grade or a
            # validity changed in the database afterwards makes the signature fail here.
            shown = {"grade": cert.grade, "valid_from": cert.valid_from.isoformat() if cert.valid_from else None,
                     "valid_until": cert.valid_until.isoformat() if cert.valid_until else None,
                     "issued_at": clock.iso_utc(cert.issued_at) if cert.issued_at else None}
            signature_valid = (signed.get("digest") == cert.digest == sha256_hex(cert.body.encode())
                               and signed.get("certificate_no") == cert.certificate_no
                               and (signed.get("subject") or {}).get("uscc") == ent.uscc
                               and all(signed.get(key) == value for key, value in shown.items()))
        except SignatureInvalid:
            signature_valid = False
    matches = (wanted == cert.digest) if wanted is not None and issued else None
    in_force = (status == S.issued and bool(signature_valid) and cert.valid_from is not None
                and cert.valid_from <= clock.today())
    valid = in_force and matches is not False
    if matches is False:
        verdict = "摘要不一致：该编号的证书确由本平台颁发，但您持有的证书内容与颁发时不同，可能是伪造或篡改的"
    else:
        verdict = VERDICTS.get(status, CERTIFICATE_STATUS_LABELS[status])
    return {
        "certificate_no": cert.certificate_no, "kind": "grade_certificate", "kind_label": "信用等级证书",
        "issued": issued, "status": str(status), "status_label": CERTIFICATE_STATUS_LABELS[status],
        "in_force": in_force, "valid": valid, "verdict": verdict,
        "enterprise_name": ent.name, "uscc": ent.uscc, "grade": cert.grade,
        "grade_label": GRADE_LABELS.get(cert.grade or "", None),
        "grade_as_of": cert.grade_as_of.isoformat() if cert.grade_as_of else None,
        "notice_from": clock.iso_utc(cert.notice_from) if cert.notice_from else None,
        "notice_until": clock.iso_utc(cert.notice_until) if cert.notice_until else None,
        "issued_at": clock.iso_utc(cert.issued_at) if cert.issued_at else None,
        "valid_from": cert.valid_from.isoformat() if cert.valid_from else None,
        "valid_until": cert.valid_until.isoformat() if cert.valid_until else None,
        "next_review_on": cert.next_review_on.isoformat() if cert.next_review_on and status == S.issued else None,
        "status_reason": now.reason if status in (S.suspended, S.revoked, S.expired) else None,
        "status_changed_at": clock.iso_utc(now.changed_at),
        "digest": cert.digest, "digest_checked": wanted is not None, "digest_matches": matches,
        "signature_valid": signature_valid, "kid": cert.kid,
    }


def verify_path(cert: Certificate) -> str:
    """The verification address's path and query: the number and the digest (a PDF whose
    digest was changed fails)."""
    return f"/verify/{cert.certificate_no}?digest={cert.digest}"


def frozen(cert: Certificate) -> dict[str, Any]:
    """The issued certificate as frozen (the PDF's content)."""
    if cert.body is None:
        raise StatusConflict(f"证书 {cert.certificate_no} 尚未颁发，没有证书文件")
    return dict(orjson.loads(cert.body))
