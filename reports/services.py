"""Issuing credit reports: assembly, report numbers, freezing (canonical JSON, SHA-256,
Ed25519 signature), the bank pull through the consent gate, the firm's self-reports (自主查询版
and 招投标专用版) and their yearly allowance, and verification (public and offline).

A report's canonical JSON — UTF-8, keys sorted, no insignificant whitespace — is what is
stored, digested and signed.  The signature is a compact JWS (``typ: pc-report+jws``) over
a short statement: report number, digest, subject, recipient, kind and time.  Anyone
holding the report file (the envelope served by the API) and the published JWKS can check
it offline: re-serialise the ``report`` member canonically, hash it, verify the JWS and
compare the digests (:func:`verify_envelope`, ``powercredit verify FILE``)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload, make_transient_to_detached

from app.accounts.models import User
from app.archive.models import Enterprise
from app.audit import services as audit
from app.core import clock
from app.core.db import Page, Prepared, paginate
from app.core.errors import Forbidden, InvalidInput
from app.core.signing import SignatureInvalid, SigningKeys, verify_jws
from app.oauth.scopes import REPORT_SECTIONS
from consent.gate import STATUS_REFUSALS, Caller, authorize_access
from consent.models import PURPOSE_LABELS, Consent, ConsentStatus
from reports import bidding
from reports.errors import AllowanceExhausted, ReportExpired, ReportNotFound
from reports.models import KIND_LABELS, SELF_ISSUED_KINDS, Report, ReportKind
from reports.sections import (
    RECORD_SECTIONS,
    SECTION_ORDER,
    build_sections,
    iso,
    raw_stamp,
)

SCHEMA_VERSION = "1.2"  # 1.1: NR, coverage and adverse factors in the evaluation section; 1.2: the bidding edition
STATEMENT_TYP = "pc-report+jws"
REPORT_NO_RE = re.compile(r"^PC(\d{8})([A-Z2-7]{12})$")
NOTICE = ("本报告依据《征信业管理条例》出具，仅供报告使用者在授权用途范围内参考，不得用于其他用途，"
          "不得向第三方提供。信用等级为 PowerCredit 衍生产品，不构成授信建议。")
DISPUTE_NOTICE = "标注「异议中」的记录正在异议处理中（20 日内答复），其内容可能变更。"
BIDDING_NOTICE = ("本报告为招投标专用版，由被查询企业依据《征信业管理条例》第十七条自行查询出具，仅包含可公开的信用信息"
                  "（登记信息、信用等级及有效期、信用等级证书、信用名单及投标限制、双公示行政许可与行政处罚、信用承诺），"
                  "供招标人在投标人资格审查、评标定标中参考，不得用于其他用途。信用等级与证书状态以核验时平台公示为准，"
                  "报告真伪可凭报告编号与摘要在核验页面查验。信用等级为 PowerCredit 衍生产品，不构成授信建议。")
RETENTION = "不良信息自不良行为或事件终止之日起保存 5 年，期满不再展示（《征信业管理条例》第十六条）。"
SELF_RECIPIENTS = {ReportKind.self_report: "受查询企业本身（自主查询）",
                   ReportKind.bidding: "受查询企业本身（招投标使用）"}


# --- numbers, canonical form, digest ---------------------------------------------------------

def new_report_no(at: dt.datetime) -> str:
    """``PC`` + issue date (Beijing) ``YYYYMMDD`` + 12 random base32 characters (60 bits):
    never sequential, not guessable."""
    tail = base64.b32encode(secrets.token_bytes(10)).decode()[:12]
    return f"PC{at.astimezone(clock.BEIJING):%Y%m%d}{tail}"


def canonical(doc: dict[str, Any]) -> bytes:
    """The canonical form: orjson's output with sorted keys — UTF-8, no insignificant
    whitespace, nothing escaped that JSON does not require.  For strings, integers and the
    floats reports carry (scores' points, written like ``60.0``) it is what
    ``json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))`` gives, ten
    times faster; the two differ for floats below 1e-4 (``1e-7`` against ``1e-07``) and NaN,
    which no report carries.  docs/integration.md states the rules byte for byte."""
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# --- assembly --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recipient:
    type: str  # "institution" | "enterprise"
    name: str
    code: str  # licence number or USCC

    def as_dict(self) -> dict[str, str]:
        key = "licence_no" if self.type == "institution" else "uscc"
        return {"type": self.type, "name": self.name, key: self.code}


def ordered_sections(sections: set[str]) -> list[str]:
    return [s for s in SECTION_ORDER if s in sections]


def assemble(session: Session, ent: Enterprise, kind: ReportKind, sections: set[str], *, report_no: str,
             issued_at: dt.datetime, recipient: Recipient, consent: dict[str, Any] | None = None,
             data_from: dt.date | None = None, data_to: dt.date | None = None) -> dict[str, Any]:
    """The report document: header, exactly the requested sections, and the statement of
    the data's as-of date and sources."""
    if kind == ReportKind.bidding:
        return assemble_bidding(session, ent, report_no=report_no, issued_at=issued_at, recipient=recipient)
    unknown = sections - REPORT_SECTIONS.keys()
    if unknown:
        raise InvalidInput("未知的报告部分", errors={"sections": [f"未知的报告部分：{'、'.join(sorted(unknown))}"]})
    as_of = issued_at.astimezone(clock.BEIJING).date()
    meta: dict[str, Any] = {}
    body = build_sections(session, ent, sections, data_from, data_to, as_of=as_of,
                          self_report=kind == ReportKind.self_report, issued_at=issued_at, meta=meta)
    disputed = sum(1 for s in RECORD_SECTIONS for r in body.get(s) or () if r["disputed"])
    return {
        "schema_version": SCHEMA_VERSION,
        "report_no": report_no,
        "kind": str(kind),
        "kind_label": KIND_LABELS[kind],
        "issued_at": iso(issued_at),
        "subject": {"uscc": ent.uscc, "name": ent.name},
        "recipient": recipient.as_dict(),
        "consent": consent,
        "section_list": ordered_sections(sections),
        "sections": body,
        "statement": {
            "as_of": as_of.isoformat(),
            "data_updated_to": raw_stamp(meta["updated_to"]),
            "data_range": {"from": data_from.isoformat() if data_from else None,
                           "to": data_to.isoformat() if data_to else None},
            "sources": meta["sources"],
            "disputed_records": disputed,
            "notice": NOTICE,
            "dispute_notice": DISPUTE_NOTICE,
            "retention": RETENTION,
        },
    }


def assemble_bidding(session: Session, ent: Enterprise, *, report_no: str, issued_at: dt.datetime,
                     recipient: Recipient) -> dict[str, Any]:
    """The bidding edition (招投标专用版): the public sections only (``reports.bidding``), for
    the firm to attach to a bid."""
    as_of = issued_at.astimezone(clock.BEIJING).date()
    body, meta = bidding.build(session, ent, as_of)
    return {
        "schema_version": SCHEMA_VERSION,
        "report_no": report_no,
        "kind": str(ReportKind.bidding),
        "kind_label": KIND_LABELS[ReportKind.bidding],
        "issued_at": iso(issued_at),
        "subject": {"uscc": ent.uscc, "name": ent.name},
        "recipient": recipient.as_dict(),
        "consent": None,
        "section_list": list(bidding.BIDDING_SECTIONS),
        "sections": body,
        "statement": {
            "as_of": as_of.isoformat(),
            "data_updated_to": raw_stamp(meta["updated_to"]),
            "data_range": {"from": None, "to": None},
            "sources": meta["sources"],
            "disputed_records": meta["disputed"],
            "notice": BIDDING_NOTICE,
            "dispute_notice": DISPUTE_NOTICE,
            "retention": RETENTION,
        },
    }


# --- issuing ---------------------------------------------------------------------------------

def statement(doc: dict[str, Any], digest: str) -> dict[str, Any]:
    return {"report_no": doc["report_no"], "digest": digest, "digest_alg": "SHA-256",
            "kind": doc["kind"], "issued_at": doc["issued_at"], "subject": doc["subject"],
            "recipient": doc["recipient"], "schema_version": doc["schema_version"]}


def freeze(session: Session, keys: SigningKeys, doc: dict[str, Any], ent: Enterprise, kind: ReportKind,
           issued_at: dt.datetime, recipient: Recipient, **links: Any) -> Report:
    body = canonical(doc)
    digest = sha256_hex(body)
    if links.keys() - _LINKS:
        raise TypeError(f"freeze: unknown links {sorted(links.keys() - _LINKS)}")
    values = {"report_no": doc["report_no"], "kind": kind, "enterprise_id": ent.id, "issued_at": issued_at,
              "sections": list(doc["section_list"]), "schema_version": SCHEMA_VERSION,
              "recipient_name": recipient.name, "body": body.decode(), "digest": digest,
              "signature": keys.sign(statement(doc, digest), STATEMENT_TYP), "kid": keys.active,
              **{column: links.get(column) for column in _LINKS}}
    # Written once and never updated: a plain INSERT instead of a unit-of-work flush (a third
    # of a pull's bookkeeping); the row is then attached to the session as loaded.
    report = Report(id=_REPORT_INSERT.scalar(session, values), **values)
    make_transient_to_detached(report)
    session.add(report)
    return report


_LINKS = frozenset({"institution_id", "consent_pk", "client_pk", "user_id", "query_log_id", "purpose",
                    "available_until"})
_REPORT_INSERT = Prepared.insert_returning_id(Report)


def document(report: Report) -> dict[str, Any]:
    """The frozen report as data (for the pages that show it)."""
    return dict(json.loads(report.body))


def envelope_json(report: Report, verify_url: str) -> str:
    """The report file as served and downloaded: the frozen JSON embedded byte for byte."""
    meta = json.dumps({"digest": report.digest, "digest_alg": "SHA-256", "signature": report.signature,
                       "kid": report.kid, "verify_url": verify_url}, ensure_ascii=False)
    return f'{{"report":{report.body},{meta[1:]}'


def pull_report(session: Session, keys: SigningKeys, caller: Caller, uscc: str, purpose: str,
                sections: set[str] | None, *, request_id: str | None = None) -> Report:
    """A bank's pull (its system's consent-bound token, or an officer under one of its
    consents): through the consent gate (which counts it and writes the query log), then
    assembled from the consent's scopes allowed to the caller (or the requested subset) and
    issued."""
    issued_at = clock.now()
    report_no = new_report_no(issued_at)
    if sections is None and caller.consent is not None:
        sections = set(caller.consent.scopes) & caller.sections
    access = authorize_access(session, caller, uscc, purpose, sections or set(), resource=f"report:{report_no}",
                              request_id=request_id, audit_now=False)
    consent = access.consent
    ent = consent.enterprise
    inst = consent.institution
    recipient = Recipient("institution", inst.name, inst.licence_no)
    doc = assemble(session, ent, ReportKind.institution, sections or set(), report_no=report_no,
                   issued_at=issued_at, recipient=recipient, data_from=consent.data_from, data_to=consent.data_to,
                   consent={"consent_id": consent.consent_id, "purpose": str(consent.purpose),
                            "purpose_label": PURPOSE_LABELS[consent.purpose],
                            "valid_until": iso(consent.valid_until),
                            "data_life": {"unit": str(consent.data_life_unit), "value": consent.data_life_value}})
    report = freeze(session, keys, doc, ent, ReportKind.institution, issued_at, recipient,
                    institution_id=inst.id, consent_pk=consent.id, client_pk=caller.client_pk,
                    user_id=caller.user_id, query_log_id=access.log.id, purpose=str(consent.purpose),
                    available_until=clock.add_period(issued_at, consent.data_life_unit, consent.data_life_value))
    access.audit.detail["report_no"] = report.report_no
    audit.write(session, access.audit)
    return report


# --- self-reports ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Allowance:
    year: int
    free: int
    used: int

    @property
    def remaining(self) -> int:
        return max(0, self.free - self.used)

    def as_dict(self) -> dict[str, int]:
        return {"year": self.year, "free": self.free, "used": self.used, "remaining": self.remaining}


def _year_bounds(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    local = now.astimezone(clock.BEIJING)
    start = dt.datetime(local.year, 1, 1, tzinfo=clock.BEIJING)
    return start.astimezone(dt.UTC), start.replace(year=local.year + 1).astimezone(dt.UTC)


def allowance(session: Session, ent: Enterprise, free: int, now: dt.datetime | None = None) -> Allowance:
    """Free self-reports this calendar year (Beijing time), used and remaining: the
    自主查询版 and the 招投标专用版 count alike."""
    now = now or clock.now()
    start, end = _year_bounds(now)
    used = session.scalar(sa.select(sa.func.count()).select_from(Report).where(
        Report.enterprise_id == ent.id, Report.kind.in_(SELF_ISSUED_KINDS),
        Report.issued_at >= start, Report.issued_at < end)) or 0
    return Allowance(now.astimezone(clock.BEIJING).year, free, used)


AUDIT_ACTIONS = {ReportKind.self_report: "report.self", ReportKind.bidding: "report.bidding"}


def issue_self_report(session: Session, keys: SigningKeys, ent: Enterprise, user: User | None, free: int, *,
                      actor: str, request_id: str | None = None,
                      kind: ReportKind = ReportKind.self_report) -> tuple[Report, Allowance]:
    """A report the firm issues itself, counted against the yearly allowance (the firm's row
    is locked so two requests cannot both take the last): the 自主查询版 (every section and
    every query record) or, with ``kind=ReportKind.bidding``, the 招投标专用版 (the public
    sections, the grade with its validity, the certificate, lists and restrictions)."""
    if kind not in SELF_ISSUED_KINDS:
        raise ValueError(f"a firm does not issue {kind} reports itself")
    session.execute(sa.select(Enterprise.id).where(Enterprise.id == ent.id).with_for_update())
    now = clock.now()
    left = allowance(session, ent, free, now)
    if left.remaining <= 0:
        _, end = _year_bounds(now)
        renew = end.astimezone(clock.BEIJING)
        raise AllowanceExhausted(
            f"本年度免费报告次数（{free} 次，自主查询版与招投标专用版合计）已用完，无法出具{KIND_LABELS[kind]}；"
            f"{renew.year}年{renew.month}月{renew.day}日起可再次查询；已出具的报告可在「我的信用报告」中重新下载。",
            headers={"Retry-After": str(int((end - now).total_seconds()))},
            audit=audit.Pending(actor=actor, action=AUDIT_ACTIONS[kind], code="self_report_allowance_exhausted",
                                subject_type="enterprise", subject_id=ent.uscc, request_id=request_id))
    recipient = Recipient("enterprise", ent.name, ent.uscc)
    doc = assemble(session, ent, kind, set(REPORT_SECTIONS), report_no=new_report_no(now),
                   issued_at=now, recipient=recipient)
    report = freeze(session, keys, doc, ent, kind, now, recipient, user_id=user.id if user else None)
    audit.record(session, actor, AUDIT_ACTIONS[kind], subject_type="report", subject_id=report.report_no,
                 request_id=request_id, detail={"uscc": ent.uscc, "digest": report.digest})
    return report, Allowance(left.year, free, left.used + 1)


# --- who may read what -----------------------------------------------------------------------

def available(now: dt.datetime | None = None) -> Any:
    """The condition for an institution report its bank may still see: its consent's data
    life (counted from the issue) has not ended."""
    return sa.or_(Report.available_until.is_(None), Report.available_until > (now or clock.now()))


@dataclass(frozen=True)
class Reader:
    """Who reads a bank's pulled reports: the institution, the actor in it, and — for a
    token bound to a consent — that consent (only its reports are the token's to read)."""

    institution_id: int
    actor: str
    consent_pk: int | None = None


def require_in_force(consent: Consent, now: dt.datetime | None = None) -> None:
    """A consent-bound token works only while its consent is active and valid."""
    if consent.status != ConsentStatus.active:
        code, text = STATUS_REFUSALS[consent.status]
        raise Forbidden(text, code=code)
    if consent.valid_until <= (now or clock.now()):
        raise Forbidden("授权已过期", code="consent_expired")


def institution_report(session: Session, report_no: str, institution_id: int, now: dt.datetime | None = None,
                       consent_pk: int | None = None) -> Report:
    """A report for the bank that pulled it (for a consent-bound token: pulled under that
    consent); for anyone else (and for numbers never issued) "not found", so numbers cannot
    be probed.  Past the consent's data life it is gone."""
    stmt = sa.select(Report).where(Report.report_no == report_no, Report.institution_id == institution_id)
    if consent_pk is not None:
        stmt = stmt.where(Report.consent_pk == consent_pk)
    report = session.scalar(stmt)
    if report is None:
        raise ReportNotFound(f"没有编号为 {report_no} 的报告")
    ends = report.available_until
    if ends is not None and (now or clock.now()) >= ends:
        raise ReportExpired(f"报告已超过授权约定的数据保存期限（至 {ends.astimezone(clock.BEIJING):%Y-%m-%d %H:%M}），不再提供")
    return report


def read_pulled(session: Session, report_no: str, reader: Reader, fmt: str,
                request_id: str | None = None) -> Report:
    """A pulled report read again by its bank (JSON, PDF or the page): allowed only to that
    bank (a consent-bound token: to reports of its consent), and audited as ``report.read``."""
    report = institution_report(session, report_no, reader.institution_id, consent_pk=reader.consent_pk)
    audit.record(session, reader.actor, "report.read", subject_type="report", subject_id=report.report_no,
                 request_id=request_id, detail={"format": fmt, "uscc": report.enterprise.uscc})  # the firm can prove it
    return report


def own_report(session: Session, report_no: str, enterprise_id: int) -> Report:
    """A report the firm issued itself (either edition); anyone else's is "not found"."""
    report = session.scalar(sa.select(Report).where(Report.report_no == report_no,
                                                    Report.enterprise_id == enterprise_id,
                                                    Report.kind.in_(SELF_ISSUED_KINDS)))
    if report is None:
        raise ReportNotFound(f"没有编号为 {report_no} 的报告")
    return report


def list_reports(session: Session, *, page: int, per_page: int, institution_id: int | None = None,
                 enterprise_id: int | None = None, consent_pk: int | None = None) -> Page[Any]:
    stmt = sa.select(Report).options(joinedload(Report.enterprise)).order_by(Report.issued_at.desc(), Report.id.desc())
    if institution_id is not None:  # past their consents' data life, reports are no longer the bank's to see
        stmt = stmt.where(Report.institution_id == institution_id, available())
        if consent_pk is not None:
            stmt = stmt.where(Report.consent_pk == consent_pk)
    elif enterprise_id is not None:
        stmt = stmt.where(Report.enterprise_id == enterprise_id, Report.kind.in_(SELF_ISSUED_KINDS))
    else:
        raise Forbidden("无权查看报告列表")
    return paginate(session, stmt, page, per_page)


# --- verification ----------------------------------------------------------------------------

def check_report_no(report_no: str) -> None:
    m = REPORT_NO_RE.match(report_no)
    valid = False
    if m:
        try:
            dt.datetime.strptime(m.group(1), "%Y%m%d")
            valid = True
        except ValueError:
            valid = False
    if not valid:
        raise InvalidInput("报告编号格式不正确", errors={
            "report_no": ["报告编号应为 PC + 出具日期 YYYYMMDD + 12 位字符（A–Z、2–7），共 22 位"]})


def check_digest(digest: str | None) -> str | None:
    if digest is None or digest == "":
        return None
    value = digest.strip().lower().removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise InvalidInput("报告摘要格式不正确", errors={"digest": ["摘要应为 64 位十六进制 SHA-256 值"]})
    return value


def public_verification(session: Session, keys: SigningKeys, report_no: str, digest: str | None) -> dict[str, Any]:
    """Whether a report with this number (and digest) was issued, to whom and when — never
    its content.  Unknown numbers raise :class:`ReportNotFound`."""
    check_report_no(report_no)
    wanted = check_digest(digest)
    report = session.scalar(sa.select(Report).where(Report.report_no == report_no))
    if report is None:
        raise ReportNotFound(f"未查询到编号为 {report_no} 的报告：该编号不是本平台出具的报告")
    try:
        signed = verify_jws(report.signature, keys.jwks(), typ=STATEMENT_TYP)
        signature_valid = signed.get("digest") == report.digest and signed.get("report_no") == report.report_no
    except SignatureInvalid:
        signature_valid = False
    institution = report.kind == ReportKind.institution
    return {
        "report_no": report.report_no,
        "issued": True,
        "issued_at": iso(report.issued_at),
        "kind": str(report.kind),
        "kind_label": KIND_LABELS[report.kind],
        "recipient": report.recipient_name if institution else SELF_RECIPIENTS[report.kind],
        "digest": report.digest,
        "digest_checked": wanted is not None,
        "digest_matches": (wanted == report.digest) if wanted is not None else None,
        "signature_valid": signature_valid,
        "kid": report.kid,
    }


def verify_envelope(envelope: Any, jwks: dict[str, Any]) -> dict[str, Any]:
    """Offline check of a report file: the signature verifies with the public keys and
    signs exactly this content.  Returns the signed statement; raises
    :class:`SignatureInvalid` with the reason otherwise."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("report"), dict) \
            or not isinstance(envelope.get("signature"), str):
        raise SignatureInvalid("文件不是 PowerCredit 报告文件（缺少 report 或 signature）")
    doc = envelope["report"]
    digest = sha256_hex(canonical(doc))
    signed = verify_jws(envelope["signature"], jwks, typ=STATEMENT_TYP)
    if signed.get("digest") != digest:
        raise SignatureInvalid("报告内容与签名不符：内容摘要不一致，报告已被改动")
    if signed.get("report_no") != doc.get("report_no"):
        raise SignatureInvalid("报告编号与签名不符")
    for key, label in (("subject", "被查询企业"), ("recipient", "报告接收方"), ("issued_at", "出具时间"),
                       ("kind", "报告版本")):
        if signed.get(key) != doc.get(key):
            raise SignatureInvalid(f"报告的{label}与签名不符")
    return signed
