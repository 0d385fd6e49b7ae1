"""Screening bidders (投标人资格审查): a tenderer sends up to 10,000 codes and its tender's
rules; every row is judged (``app.procurement.rules``) on facts loaded for the whole batch
(``app.procurement.facts``), and the result is frozen as a signed document, kept, and in
every screened firm's query log.

The document is canonical JSON (UTF-8, keys sorted, no whitespace — reports' form), stored
as issued; its SHA-256 and a compact JWS (``typ: pc-screening+jws``, Ed25519, the JWKS at
``/.well-known/jwks.json``) over a short statement are stored with it.  Its number is ``PS``
+ the day (Beijing) + 12 random base32 characters, never a report's (``PC``).  Anyone can
check a number (and a digest) at ``/verify/{no}``; anyone holding the file can check it
offline (:func:`verify_envelope`).

Every firm found is an access to its data: a ``QueryLog`` entry (purpose 投标资格审查, the
tenderer as the institution) — under no consent for public facts, or through the consent
gate when the bidder's 投标资格审查 consent to this tenderer added what the rules weigh."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, defer

from app.accounts.models import Institution, InstitutionKind, Role, User
from app.archive.uscc import check_uscc
from app.audit import services as audit
from app.core import clock
from app.core.db import Page, paginate
from app.core.errors import InvalidInput
from app.core.signing import SignatureInvalid, SigningKeys, verify_jws
from app.oauth.models import OAuthClient
from app.procurement import facts
from app.procurement.errors import NotATenderer, ScreeningNotFound
from app.procurement.models import Screening, ScreeningBidder
from app.procurement.rules import (
    OUTCOME_LABELS,
    STATUS_LABELS,
    Firm,
    Rules,
    consent_added,
    judge,
)
from app.scoring.scorecard import NOT_RATED
from consent.errors import Refused
from consent.gate import Caller, authorize_access
from consent.models import Purpose, QueryLog
from reports.services import canonical, check_digest, sha256_hex

_QUERY_LOG = cast(sa.Table, QueryLog.__table__)
_BIDDER = cast(sa.Table, ScreeningBidder.__table__)
SCHEMA_VERSION = "1.0"
KIND = "bid_screening"
KIND_LABEL = "投标人信用筛查结果"
STATEMENT_TYP = "pc-screening+jws"
PREFIX = "PS"
NUMBER_RE = re.compile(r"^PS(\d{8})([A-Z2-7]{12})$")
MAX_CODES = 10_000
INPUT_SHOWN = 40  # characters of a row that is no code, kept in the document
NOTICE = ("本结果依据筛查时本平台掌握的信息和招标人设定的规则自动生成，仅供招标人在本次招标的投标人资格审查、"
          "评标定标中参考，不得用于其他用途；对结果有异议的投标人可向本平台提出异议。")
SOURCES = ("公开信息：信用等级（PowerCredit 行业信用评价）、已公布的红黑名单与重点关注名单及其依据、"
           "公示期内的行政许可与行政处罚（双公示）、信用等级证书；投标人授权本招标人「投标资格审查」的，"
           "经授权闸门另计入信用档案中的失信被执行人记录与严重行政处罚。")


@dataclass(frozen=True)
class Tenderer:
    """Who screens: a procurement institution, through its system (an OAuth client with
    ``screening:write``) or one of its tenderer users."""

    institution: Institution
    actor: str
    client_pk: int | None = None
    user_id: int | None = None


def tenderer_of_user(session: Session, user: User) -> Tenderer:
    """A signed-in tenderer user acting for its procurement institution."""
    inst = session.get(Institution, user.institution_id) if user.institution_id is not None else None
    if user.role != Role.tenderer or inst is None or inst.kind != InstitutionKind.procurement:
        raise NotATenderer("只有招标采购单位的人员可以筛查投标人")
    if not inst.active:
        raise NotATenderer(f"招标采购单位「{inst.name}」已停用")
    return Tenderer(inst, f"user:{user.username}", user_id=user.id)


def tenderer_of_client(session: Session, client: OAuthClient) -> Tenderer:
    """A procurement institution's system (its OAuth client); a bank's client that somehow
    holds the scope is refused."""
    inst = session.get(Institution, client.institution_id) if client.institution_id is not None else None
    if inst is None or inst.kind != InstitutionKind.procurement:
        raise NotATenderer("只有招标采购单位的客户端可以筛查投标人（本客户端不属于招标采购单位）")
    if not inst.active:
        raise NotATenderer(f"招标采购单位「{inst.name}」已停用")
    return Tenderer(inst, f"client:{client.client_id}", client_pk=client.id)


def new_screening_no(at: dt.datetime) -> str:
    """``PS`` + the day (Beijing) ``YYYYMMDD`` + 12 random base32 characters (60 bits)."""
    tail = base64.b32encode(secrets.token_bytes(10)).decode()[:12]
    return f"{PREFIX}{at.astimezone(clock.BEIJING):%Y%m%d}{tail}"


FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}  # ！…～ → !…~, as NFKC maps them
_EDGES = re.compile(r"^[\s\u200b-\u200d\u2060\ufeff]+|[\s\u200b-\u200d\u2060\ufeff]+$")


def normalise_code(raw: str) -> str:
    """A row as the code it spells: full-width ASCII (９１…, Ａ–Ｚ, typed in a Chinese input
    method's full-width mode) as ASCII — NFKC for those characters only —, the whitespace and
    zero-width characters around it removed, upper case.  Nothing inside is removed."""
    return _EDGES.sub("", raw.translate(FULL_WIDTH)).upper()


def invisible(code: str) -> str | None:
    """Why a code with a control or format character (U+0000, U+0007, U+200B…) inside is no
    code — the character and its place — or None.  Such a row is refused, never cleaned: a
    code is not guessed at."""
    seen = dict.fromkeys(c for c in code if unicodedata.category(c) in ("Cc", "Cf"))
    if not seen:
        return None
    return "含不可见字符 " + "、".join(f"U+{ord(c):04X}（第 {code.index(c) + 1} 位）" for c in seen) + "，请删去后重新提交"


def _printable(text: str) -> str:
    """Printable characters only: no U+0000 and no lone surrogate (which no database or JSON
    encoder takes), shown as U+FFFD."""
    return "".join(c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else "\ufffd" for c in text)


def _shown(raw: str) -> str:
    """A row's text as the document may keep it: printable, at most ``INPUT_SHOWN`` characters."""
    text = _printable(raw.strip())
    return text if len(text) <= INPUT_SHOWN else text[:INPUT_SHOWN] + "…"


# --- screening ----------------------------------------------------------------------------------

def screen(session: Session, keys: SigningKeys, tenderer: Tenderer, codes: Sequence[str], rules: Rules, *,
           tender_name: str, tender_no: str | None = None, request_id: str | None = None) -> Screening:
    """Screen ``codes`` (in the order given) against ``rules``; writes the screening, its
    bidders and a query-log entry per firm found, in the caller's transaction."""
    if not codes:
        raise InvalidInput("至少提交一个统一社会信用代码", errors={"codes": ["至少 1 个。"]})
    if len(codes) > MAX_CODES:
        raise InvalidInput("一次至多筛查 10000 个投标人",
                           errors={"codes": [f"一次至多 {MAX_CODES} 个，收到 {len(codes)} 个；请分批提交。"]})
    now = clock.now()
    day = now.astimezone(clock.BEIJING).date()
    number = new_screening_no(now)
    resource = f"screening:{number}"

    # 1. Each row's code: checked, and duplicates pointed at their first row.
    first_row: dict[str, int] = {}
    parsed: list[tuple[int, str, str, Any]] = []  # (row, shown text or code, kind, verdict, reason or first row)
    for row, raw in enumerate(codes, start=1):
        code = normalise_code(raw)
        if code in first_row:
            parsed.append((row, _shown(raw).upper(), "duplicate", first_row[code]))
            continue
        first_row[code] = row
        if (why := invisible(code)) is not None:
            parsed.append((row, _shown(raw).upper(), "invalid", why))
            continue
        verdict = check_uscc(code, allow_legacy=True)
        parsed.append((row, verdict.code, "code", verdict) if verdict.ok
                      else (row, _shown(raw).upper(), "invalid", verdict.error or ""))

    # 2. What is known of the firms, for the whole batch at once.
    by_code = facts.find_firms(session, [text for _, text, kind, _ in parsed if kind == "code"])
    firms = {f.id: f for f in by_code.values()}
    facts.load(session, firms, rules, day)

    # 3. Bidders who granted this tenderer a 投标资格审查 consent: through the gate (counted, logged).
    logged: dict[int, tuple[int, int]] = {}  # enterprise id -> (query log id, consent pk)
    covered: dict[int, frozenset[str]] = {}
    if rules.consent_sections and firms:
        held = facts.consents_of(session, tenderer.institution.id, sorted(firms), now, rules.consent_sections)
        for ent_id, consent in held.items():
            firm = firms[ent_id]
            sections = rules.consent_sections & set(consent.scopes)
            if not sections:
                firm.consent = {"consent_id": consent.consent_id, "used": False, "sections": [], "added": [],
                                "refused": None,
                                "note": "授权未包含本次规则所需的部分（司法信息、行政许可与行政处罚），未使用，按公开信息筛查"}
                continue
            caller = Caller(consent=consent, institution_id=tenderer.institution.id,
                            sections=frozenset(consent.scopes), actor=tenderer.actor, client_pk=tenderer.client_pk,
                            user_id=tenderer.user_id)
            try:
                with session.begin_nested():
                    access = authorize_access(session, caller, firm.uscc, str(Purpose.bid_qualification),
                                              set(sections), resource=resource, request_id=request_id)
            except Refused as exc:  # one bidder's consent unusable: that row is screened on public facts
                if exc.audit is not None:
                    audit.write(session, exc.audit)
                firm.consent = {"consent_id": consent.consent_id, "used": False, "sections": [], "added": [],
                                "refused": exc.code, "note": f"授权未能使用（{exc.detail.rstrip('。')}），按公开信息筛查"}
                continue
            logged[ent_id] = (access.log.id, consent.id)
            covered[ent_id] = frozenset(sections)
            firm.consent = {"consent_id": consent.consent_id, "used": True, "sections": sorted(sections),
                            "added": consent_added(firm, rules, covered[ent_id]), "refused": None,
                            "note": "经投标人授权（投标资格审查），另计入信用档案中的记录"}

    # 4. The rows, in the order given.
    rows: list[dict[str, Any]] = []
    outcomes: dict[int, str] = {}
    for row, text, kind, extra in parsed:
        if kind == "duplicate":
            rows.append(_empty_row(row, text, "duplicate", [f"与第 {extra} 行重复，只筛查一次、只计一次"], extra))
        elif kind == "invalid":
            rows.append(_empty_row(row, text, "invalid", [f"统一社会信用代码无效：{_printable(extra)}"]))
        elif (bidder := by_code.get(text)) is None:
            rows.append(_empty_row(row, text, "unknown", [
                f"信用档案中没有统一社会信用代码为 {text} 的企业，无法筛查：请核实代码，或请该企业在本平台登记"]))
        else:
            judged = judge(bidder, rules, covered=covered.get(bidder.id, frozenset()))
            if extra.warning:
                judged["warnings"].insert(0, extra.warning)
            outcomes[bidder.id] = judged["outcome"]
            rows.append(_found_row(row, bidder, judged))

    summary = {"rows": len(rows), "bidders": len(rows) - sum(r["status"] == "duplicate" for r in rows),
               "passed": sum(r["outcome"] == "pass" for r in rows), "failed": sum(r["outcome"] == "fail" for r in rows),
               "not_found": sum(r["status"] in ("unknown", "invalid") for r in rows),
               "duplicates": sum(r["status"] == "duplicate" for r in rows), "consents_used": len(logged)}
    inst = tenderer.institution
    doc = {
        "schema_version": SCHEMA_VERSION, "screening_no": number, "kind": KIND, "kind_label": KIND_LABEL,
        "issued_at": clock.iso_utc(now), "as_of": day.isoformat(),
        "tenderer": {"name": inst.name, "licence_no": inst.licence_no},
        "tender": {"no": tender_no, "name": tender_name},
        "rules": rules.as_dict(), "rules_text": rules.describe(), "summary": summary, "bidders": rows,
        "statement": {"sources": SOURCES, "notice": NOTICE, "serious_penalty": facts.SERIOUS_PENALTY_LABEL},
    }

    # 5. Frozen, signed, kept; every firm found has its query-log entry.
    body = canonical(doc)
    digest = sha256_hex(body)
    screening = Screening(screening_no=number, institution_id=inst.id, client_pk=tenderer.client_pk,
                          user_id=tenderer.user_id, tender_no=tender_no, tender_name=tender_name,
                          rules=rules.as_dict(), total=summary["bidders"], passed=summary["passed"],
                          failed=summary["failed"], not_found=summary["not_found"], created_at=now,
                          body=body.decode(), digest=digest, signature=keys.sign(statement(doc, digest), STATEMENT_TYP),
                          kid=keys.active)
    session.add(screening)
    session.flush()
    public = [ent_id for ent_id in outcomes if ent_id not in logged]
    if public:  # written at once, then the ids read back (RETURNING would be a statement a row on SQLite)
        bulk_insert(session, _QUERY_LOG, [
            {"at": now, "enterprise_id": ent_id, "institution_id": inst.id, "consent_pk": None,
             "client_pk": tenderer.client_pk, "user_id": tenderer.user_id, "purpose": str(Purpose.bid_qualification),
             "sections": [], "resource": resource, "request_id": request_id} for ent_id in public])
        for among_ids in facts.among(session, _QUERY_LOG.c.enterprise_id, public):
            logged.update({ent_id: (log_id, 0) for log_id, ent_id in session.execute(
                sa.select(_QUERY_LOG.c.id, _QUERY_LOG.c.enterprise_id).where(
                    among_ids, _QUERY_LOG.c.at == now, _QUERY_LOG.c.resource == resource,
                    _QUERY_LOG.c.consent_pk.is_(None)))})
    bulk_insert(session, _BIDDER, [
        {"screening_pk": screening.id, "enterprise_id": ent_id, "outcome": outcome,
         "consent_pk": logged[ent_id][1] or None, "query_log_id": logged[ent_id][0]}
        for ent_id, outcome in outcomes.items()])
    audit.record(session, tenderer.actor, "screening.create", subject_type="screening", subject_id=number,
                 request_id=request_id, detail={"digest": digest, "tender_no": tender_no, **summary})
    return screening


COPY_THRESHOLD = 50  # rows from which PostgreSQL is sent a COPY rather than an INSERT


def bulk_insert(session: Session, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Append-only rows written at once: on PostgreSQL (from ``COPY_THRESHOLD`` rows) one
    ``COPY … FROM STDIN`` in text format, as scoring writes evaluations; elsewhere one
    executemany."""
    if not rows:
        return
    if len(rows) < COPY_THRESHOLD or session.get_bind().dialect.name != "postgresql":
        session.execute(sa.insert(table), rows)
        return
    columns = list(rows[0])
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            copy.write(copy_text(rows, columns))
    finally:
        cursor.close()


def copy_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Rows in COPY's text format.  Values are numbers, text (backslashes, tabs and line
    breaks escaped), aware times, None or JSON."""
    def text(value: Any) -> str:
        if value is None:
            return "\\N"
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        if isinstance(value, list | dict):
            value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")

    return "".join("\t".join(text(row[c]) for c in columns) + "\n" for row in rows)


def _empty_row(row: int, text: str, status: str, reasons: list[str], duplicate_of: int | None = None) -> dict[str, Any]:
    """A row that screens no firm: a duplicate, a code that is no code, a firm not in the archive."""
    return {"row": row, "uscc": text, "status": status, "status_label": STATUS_LABELS[status],
            "duplicate_of": duplicate_of, "name": None, "grade": None, "grade_as_of": None, "lists": [],
            "certificate": None, "restrictions": [], "outcome": None, "outcome_label": OUTCOME_LABELS[None],
            "reasons": reasons, "warnings": [], "consent": None}


def _found_row(row: int, firm: Firm, judged: dict[str, Any]) -> dict[str, Any]:
    status = "found" if firm.rated else "NR"
    cert = firm.certificate
    return {"row": row, "uscc": firm.uscc, "status": status, "status_label": STATUS_LABELS[status],
            "duplicate_of": None, "name": firm.name, "grade": firm.grade if firm.rated else NOT_RATED,
            "grade_as_of": firm.grade_as_of.isoformat() if firm.grade_as_of else None,
            "lists": [e.as_dict() for e in firm.entries],
            "certificate": dict(cert) if cert else None,
            "restrictions": judged["restrictions"], "outcome": judged["outcome"],
            "outcome_label": OUTCOME_LABELS[judged["outcome"]], "reasons": judged["reasons"],
            "warnings": judged["warnings"], "consent": firm.consent}


def statement(doc: dict[str, Any], digest: str) -> dict[str, Any]:
    """What the platform signs: the number, the digest of the document and who it is for."""
    return {"screening_no": doc["screening_no"], "digest": digest, "digest_alg": "SHA-256", "kind": doc["kind"],
            "issued_at": doc["issued_at"], "tenderer": doc["tenderer"], "bidders": doc["summary"]["bidders"],
            "schema_version": doc["schema_version"]}


# --- reading ------------------------------------------------------------------------------------

def own_screening(session: Session, number: str, institution_id: int) -> Screening:
    """A screening of the tenderer's institution; anyone else's (and numbers never issued) is
    "not found", so numbers cannot be probed."""
    found = session.scalar(sa.select(Screening).where(Screening.screening_no == number.strip().upper(),
                                                      Screening.institution_id == institution_id))
    if found is None:
        raise ScreeningNotFound(f"没有编号为 {number} 的筛查结果")
    return found


def list_screenings(session: Session, institution_id: int, page: int, per_page: int) -> Page[Screening]:
    """The institution's screenings, newest first (without their documents)."""
    stmt = (sa.select(Screening).options(defer(Screening.body), defer(Screening.signature))
            .where(Screening.institution_id == institution_id)
            .order_by(Screening.created_at.desc(), Screening.id.desc()))
    return paginate(session, stmt, page, per_page)


def document(screening: Screening) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(screening.body))


def envelope_json(screening: Screening, verify_url: str) -> str:
    """The signed file as served and downloaded: the frozen document embedded byte for byte."""
    meta = json.dumps({"digest": screening.digest, "digest_alg": "SHA-256", "signature": screening.signature,
                       "kid": screening.kid, "verify_url": verify_url}, ensure_ascii=False)
    return f'{{"screening":{screening.body},{meta[1:]}'


def rows_of(doc: dict[str, Any], outcome: str | None = None) -> list[dict[str, Any]]:
    """The document's rows, or those with one outcome (``pass``, ``fail``, ``none``: no outcome)."""
    rows: list[dict[str, Any]] = doc["bidders"]
    if outcome is None:
        return rows
    wanted = None if outcome == "none" else outcome
    return [r for r in rows if r["outcome"] == wanted]


# --- CSV ----------------------------------------------------------------------------------------

CSV_COLUMNS = ("行号", "统一社会信用代码", "企业名称", "状态", "信用等级", "等级评价日期", "名单", "信用等级证书",
               "结论", "原因", "风险提示", "授权")


# A cell a spreadsheet would read as a formula (OWASP "CSV injection"): = + - @, a tab or a
# carriage return first, and their full-width forms, which some spreadsheets also take.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def csv_cell(value: Any) -> Any:
    """A cell as written to the CSV: text that a spreadsheet would take for a formula is
    prefixed with a single quote (shown as text, never run); numbers as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(doc: dict[str, Any]) -> str:
    """The rows as CSV with a UTF-8 byte-order mark (Excel then reads the Chinese right).
    Every text cell goes through :func:`csv_cell`: codes, names and reasons carry what
    bidders, tenderers and data providers typed."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in doc["bidders"]:
        cert = r["certificate"]
        consent = r["consent"]
        writer.writerow(csv_cell(cell) for cell in [
            r["row"], r["uscc"], r["name"] or "", r["status_label"], r["grade"] or "", r["grade_as_of"] or "",
            "；".join(f"{e['label']}（{e['published_on'] or e['entered_on']} 起）" for e in r["lists"]),
            f"{cert['certificate_no']} {cert['status_label']}" if cert else "",
            r["outcome_label"], "；".join(r["reasons"]), "；".join(r["warnings"]),
            ("已使用 " + consent["consent_id"] if consent["used"] else "未使用：" + consent["note"]) if consent else ""])
    return out.getvalue()


CODE_HEADERS = frozenset({"uscc", "统一社会信用代码", "社会信用代码", "信用代码", "code"})


def codes_from_csv(data: bytes) -> list[str]:
    """The codes of an uploaded file: a CSV with a ``uscc`` (or ``统一社会信用代码``) column,
    or one code per line.  UTF-8 (with or without a byte-order mark) or GB18030 (what Excel
    saves on a Chinese Windows); blank lines skipped.  Refusals name the field ``file``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise InvalidInput("文件不是文本", errors={
                "file": ["应为 UTF-8 或 GBK（GB18030）编码的 CSV 或文本文件。"]}) from None
    if "\x00" in text:
        raise InvalidInput("文件不是文本", errors={"file": ["文件含有空字符（U+0000），不是 CSV 或文本文件。"]})
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise InvalidInput("文件中没有代码", errors={"file": ["文件是空的：应每行一个统一社会信用代码，或含 uscc 列的 CSV。"]})
    delimiter = "\t" if "\t" in first and "," not in first else ","
    try:
        rows = [row for row in csv.reader(lines, delimiter=delimiter) if any(cell.strip() for cell in row)]
    except csv.Error as exc:  # a field longer than the csv module allows, a stray NUL…
        raise InvalidInput("文件不是可读的 CSV", errors={"file": [f"CSV 格式有误：{exc}。"]}) from None
    if not rows:
        raise InvalidInput("文件中没有代码", errors={"file": ["文件中只有分隔符：应每行一个统一社会信用代码，或含 uscc 列的 CSV。"]})
    header = [cell.strip().lstrip("\ufeff").lower() for cell in rows[0]]
    column = next((i for i, name in enumerate(header) if name in CODE_HEADERS), None)
    if column is not None:
        codes = [row[column].strip() if column < len(row) else "" for row in rows[1:]]
    elif all(len([c for c in row if c.strip()]) <= 1 for row in rows):
        codes = [next(c.strip() for c in row if c.strip()) for row in rows]
    else:
        raise InvalidInput("找不到代码列", errors={
            "file": ["CSV 有多列时，须有名为 uscc（或“统一社会信用代码”）的列；也可以每行只写一个代码。"]})
    if not codes:
        raise InvalidInput("文件中没有代码", errors={"file": ["文件只有表头，没有统一社会信用代码。"]})
    if len(codes) > MAX_CODES:
        raise InvalidInput("一次至多筛查 10000 个投标人",
                           errors={"file": [f"文件中有 {len(codes)} 个代码，一次至多 {MAX_CODES} 个：请分批提交。"]})
    return codes


# --- verification -------------------------------------------------------------------------------

def check_number(number: str) -> None:
    m = NUMBER_RE.match(number)
    try:
        valid = m is not None and bool(dt.datetime.strptime(m.group(1), "%Y%m%d"))
    except ValueError:
        valid = False
    if not valid:
        raise InvalidInput("筛查结果编号格式不正确", errors={
            "screening_no": ["筛查结果编号应为 PS + 出具日期 YYYYMMDD + 12 位字符（A–Z、2–7），共 22 位"]})


def public_verification(session: Session, keys: SigningKeys, number: str, digest: str | None) -> dict[str, Any]:
    """Whether a screening with this number (and digest) was issued, for which tenderer, when
    and over how many bidders (a repeated code is one: the signed statement's count) and how
    many rows were sent — never the bidders or the outcomes.  Registered with
    ``app.core.verification`` for ``/verify/{no}``."""
    check_number(number)
    try:
        wanted = check_digest(digest)
    except InvalidInput as exc:  # reports' check names a report; this is a screening's digest
        raise InvalidInput("筛查结果的摘要格式不正确", errors=exc.errors) from None
    found = session.scalar(sa.select(Screening).where(Screening.screening_no == number))
    if found is None:
        raise ScreeningNotFound(f"未查询到编号为 {number} 的筛查结果：该编号不是本平台出具的筛查结果")
    # What the answer shows comes from the signed body (tenderer, time, count), and the body
    # must hash to the signed digest: a row changed afterwards no longer verifies.
    doc = json.loads(found.body)
    try:
        signed = verify_jws(found.signature, keys.jwks(), typ=STATEMENT_TYP)
        signature_valid = (signed.get("digest") == found.digest == sha256_hex(found.body.encode())
                           and signed.get("screening_no") == found.screening_no == doc.get("screening_no"))
    except SignatureInvalid:
        signature_valid = False
    tenderer = doc.get("tenderer") or {}
    summary = doc.get("summary") or {}
    return {"screening_no": found.screening_no, "issued": True, "issued_at": doc.get("issued_at"),
            "kind": KIND, "kind_label": KIND_LABEL, "tenderer": tenderer.get("name"),
            "bidders": summary.get("bidders"), "rows": summary.get("rows"), "duplicates": summary.get("duplicates"),
            "digest": found.digest, "digest_checked": wanted is not None,
            "digest_matches": (wanted == found.digest) if wanted is not None else None,
            "signature_valid": signature_valid, "kid": found.kid}


def describe_statement(signed: dict[str, Any]) -> str:
    """A verified file's signed statement in words (``powercredit verify`` prints it): for
    which tenderer, over how many bidders, when (Beijing time)."""
    tenderer = signed.get("tenderer") or {}
    issued = str(signed.get("issued_at") or "")
    try:
        when = dt.datetime.fromisoformat(issued.replace("Z", "+00:00")).astimezone(clock.BEIJING)
        issued = f"{when:%Y-%m-%d %H:%M}（北京时间）"
    except ValueError:
        pass
    return (f"出具给招标人 {tenderer.get('name')}（机构编号 {tenderer.get('licence_no')}），"
            f"筛查投标人 {signed.get('bidders')} 家，出具时间 {issued}")


SIGNED_FIELDS = {"screening_no": "编号", "issued_at": "出具时间", "kind": "文书类型", "tenderer": "招标人"}


def verify_envelope(envelope: Any, jwks: dict[str, Any]) -> dict[str, Any]:
    """Offline check of a screening file: the signature verifies with the public keys and
    signs exactly this content.  Returns the signed statement; raises
    :class:`SignatureInvalid` with the reason otherwise."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("screening"), dict) \
            or not isinstance(envelope.get("signature"), str):
        raise SignatureInvalid("文件不是 PowerCredit 筛查结果文件（缺少 screening 或 signature）")
    doc = envelope["screening"]
    digest = sha256_hex(canonical(doc))
    signed = verify_jws(envelope["signature"], jwks, typ=STATEMENT_TYP)
    if signed.get("digest") != digest:
        raise SignatureInvalid("筛查结果内容与签名不符：内容摘要不一致，文件已被改动")
    for key, label in SIGNED_FIELDS.items():
        if signed.get(key) != doc.get(key):
            raise SignatureInvalid(f"筛查结果的{label}与签名不符")
    return signed
