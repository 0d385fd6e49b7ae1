"""Objections (异议, 征信业管理条例 art. 25): a firm disputes one of its records with a
reason and evidence; the record is marked disputed at once — on every report and in the
evaluation — and the operator answers within 20 days of receipt: corrected (the provider's
record superseded by a corrected version, the old one kept), removed (revoked), or upheld
with an explanation (the record returns to what it was).  The firm is told the outcome and
re-evaluated."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.archive.ingestion import ingest_records
from app.archive.models import CATEGORY_LABELS, CreditRecord, RecordStatus
from app.audit import services as audit
from app.core import clock, signals
from app.core.db import Page, paginate
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.oversight.errors import ObjectionNotFound
from app.oversight.models import (
    OUTCOME_LABELS,
    EvidenceFile,
    Objection,
    ObjectionOutcome,
    ObjectionStatus,
)
from app.oversight.notices import notify
from app.scoring.services import run_evaluations

ANSWER_DAYS = 20  # 征信业管理条例 art. 25: checked and answered within 20 days of receipt
MAX_FILES = 5
MAX_FILE_BYTES = 5 * 1024 * 1024
# What an evidence file may be, told by its first bytes (the declared type is not trusted).
FILE_TYPES = {"application/pdf": (b"%PDF-",), "image/png": (b"\x89PNG\r\n\x1a\n",),
              "image/jpeg": (b"\xff\xd8\xff",)}
DISPUTABLE = (RecordStatus.active, RecordStatus.corrected)


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


def due_date(received_at: dt.datetime) -> dt.date:
    """The answer is due 20 calendar days after the day of receipt (Beijing time)."""
    return received_at.astimezone(clock.BEIJING).date() + dt.timedelta(days=ANSWER_DAYS)


def check_files(files: list[Upload], field: str = "files") -> list[tuple[Upload, str]]:
    """Evidence files: at most five, each at most 5 MB, PDF/PNG/JPEG by content; the type
    is the one their bytes show."""
    errors: list[str] = []
    if len(files) > MAX_FILES:
        errors.append(f"最多上传 {MAX_FILES} 个文件。")
    checked = []
    for f in files:
        kind = next((t for t, magics in FILE_TYPES.items() if f.data.startswith(magics)), None)
        if not f.data:
            errors.append(f"文件「{f.filename}」为空。")
        elif len(f.data) > MAX_FILE_BYTES:
            errors.append(f"文件「{f.filename}」超过 {MAX_FILE_BYTES / 1024 / 1024:g} MB。")
        elif kind is None:
            errors.append(f"文件「{f.filename}」不是 PDF、PNG 或 JPEG 文件。")
        else:
            checked.append((f, kind))
    if errors:
        raise InvalidInput("证明材料不符合要求", errors={field: errors})
    return checked


def store_files(session: Session, files: list[Upload], *, objection_id: int | None = None,
                repair_id: int | None = None) -> list[EvidenceFile]:
    stored = []
    for f, kind in check_files(files):
        ev = EvidenceFile(objection_id=objection_id, repair_id=repair_id, filename=f.filename[:200] or "evidence",
                          content_type=kind, size=len(f.data), sha256=hashlib.sha256(f.data).hexdigest(), data=f.data)
        session.add(ev)
        stored.append(ev)
    session.flush()
    return stored


def file_objection(session: Session, user: User, record_id: int, reason: str, files: list[Upload],
                   request_id: str | None = None) -> Objection:
    if user.role != Role.firm or user.enterprise_id is None:
        raise Forbidden("只有企业用户可以对本企业的记录提出异议", code="not_a_firm")
    record = session.get(CreditRecord, record_id)
    if record is None or record.enterprise_id != user.enterprise_id:  # another firm's record is not disclosed
        raise InvalidInput("记录不存在", errors={"record_id": ["本企业档案中没有该记录。"]})
    if record.status == RecordStatus.disputed:
        raise Conflict("该记录已有处理中的异议", code="objection_open")
    if record.status not in DISPUTABLE:
        raise InvalidInput("该记录不可提出异议", errors={"record_id": ["记录已删除或已过保存期限。"]})
    check_files(files)
    now = clock.now()
    objection = Objection(objection_no="obj_" + secrets.token_hex(6), enterprise_id=record.enterprise_id,
                          record_id=record.id, reason=reason, status=ObjectionStatus.open,
                          record_status_before=str(record.status), received_at=now, due_on=due_date(now),
                          submitted_by=f"user:{user.username}")
    session.add(objection)
    # Compare-and-set: two objections to one record cannot both mark it.
    marked = session.execute(sa.update(CreditRecord).where(CreditRecord.id == record.id,
                                                           CreditRecord.status.in_(list(DISPUTABLE)))
                             .values(status=RecordStatus.disputed, updated_at=now)
                             .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
    if marked != 1:
        raise Conflict("该记录已有处理中的异议", code="objection_open")
    session.flush()
    session.refresh(record)
    store_files(session, files, objection_id=objection.id)
    audit.record(session, f"user:{user.username}", "objection.filed", subject_type="objection",
                 subject_id=objection.objection_no, request_id=request_id,
                 detail={"record_id": record.id, "due_on": objection.due_on.isoformat()})
    signals.oversight_changed.send(None, session=session, type="objection.opened", enterprise_id=record.enterprise_id,
                                   data={"objection_no": objection.objection_no, "record_id": record.id,
                                         "category": str(record.category), "due_on": objection.due_on.isoformat()})
    run_evaluations(session, "single", [record.enterprise_id])
    return objection


def _visible(stmt: Any, user: User) -> Any:
    if user.role == Role.operator:
        return stmt
    if user.role == Role.firm and user.enterprise_id is not None:
        return stmt.where(Objection.enterprise_id == user.enterprise_id)
    return stmt.where(sa.false())


def get_objection(session: Session, user: User, objection_no: str) -> Objection:
    objection = session.scalar(_visible(sa.select(Objection).where(Objection.objection_no == objection_no), user))
    if objection is None:
        raise ObjectionNotFound(f"没有编号为 {objection_no} 的异议")
    return objection


def list_objections(session: Session, user: User, status: str | None, overdue: bool, page: int,
                    per_page: int, today: dt.date | None = None) -> Page[Objection]:
    """Open ones by due date first (the operator's worklist); ``overdue``: past their due
    date and still open."""
    stmt = _visible(sa.select(Objection), user)
    if status:
        stmt = stmt.where(Objection.status == status)
    if overdue:
        stmt = stmt.where(Objection.status == ObjectionStatus.open, Objection.due_on < (today or clock.today()))
    stmt = stmt.order_by(sa.case((Objection.status == ObjectionStatus.open, 0), else_=1), Objection.due_on,
                         Objection.id)
    return paginate(session, stmt, page, per_page)


def files_of(session: Session, objection: Objection) -> list[EvidenceFile]:
    return list(session.scalars(sa.select(EvidenceFile).where(EvidenceFile.objection_id == objection.id)
                                .order_by(EvidenceFile.id)))


def evidence(session: Session, user: User, objection_no: str, file_id: int) -> EvidenceFile:
    objection = get_objection(session, user, objection_no)
    ev = session.scalar(sa.select(EvidenceFile).where(EvidenceFile.id == file_id,
                                                      EvidenceFile.objection_id == objection.id))
    if ev is None:
        raise NotFound("没有该证明材料")
    return ev


def _correct(session: Session, objection: Objection, payload: Any, request_id: str | None) -> None:
    """The provider's record superseded by the corrected content (through ingestion, so
    it is validated as the provider's would be and the old version is kept)."""
    record = objection.record
    if not isinstance(payload, dict):
        raise InvalidInput("请提供更正后的记录内容", errors={"corrected_payload": ["更正为「已更正」时须提供更正后的记录内容。"]})
    row = {"provider_ref": record.provider_ref, "uscc": objection.enterprise.uscc, "category": str(record.category),
           "payload": payload}
    result = ingest_records(session, record.provider, [row], source="api", filename=f"异议更正 {objection.objection_no}")
    [outcome] = result.rows
    if outcome.status == "refused":
        errors = {f"corrected_{k}" if k.startswith("payload") else "corrected_payload": v
                  for k, v in (outcome.errors or {}).items()}
        raise InvalidInput("更正后的记录内容有误", errors=errors)
    if outcome.status == "unchanged":
        raise InvalidInput("更正内容与原记录相同", errors={"corrected_payload": ["更正后的内容与原记录相同；如记录无误，请选择「维持」。"]})


def resolve(session: Session, user: User, objection_no: str, outcome: str, explanation: str,
            corrected_payload: Any = None, request_id: str | None = None) -> Objection:
    """The operator's answer (a firm never resolves its own objection)."""
    if user.role != Role.operator:
        raise Forbidden("异议由征信机构核查处理", code="not_an_operator")
    objection = get_objection(session, user, objection_no)
    if objection.status != ObjectionStatus.open:
        raise Conflict("该异议已处理", code="objection_resolved")
    result = ObjectionOutcome(outcome)
    now = clock.now()
    record = objection.record
    if result == ObjectionOutcome.corrected:
        _correct(session, objection, corrected_payload, request_id)
        status = RecordStatus.corrected
    elif result == ObjectionOutcome.removed:
        status = RecordStatus.revoked
    else:
        status = RecordStatus(objection.record_status_before)
    session.execute(sa.update(CreditRecord).where(CreditRecord.id == record.id)
                    .values(status=status, updated_at=now).execution_options(synchronize_session=False))
    done = session.execute(sa.update(Objection).where(Objection.id == objection.id,
                                                      Objection.status == ObjectionStatus.open)
                           .values(status=ObjectionStatus.resolved, outcome=result, explanation=explanation,
                                   resolved_at=now, resolved_by=f"user:{user.username}")
                           .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
    if done != 1:
        raise Conflict("该异议已被他人处理", code="objection_resolved")
    session.refresh(objection)
    session.refresh(record)
    late = now.astimezone(clock.BEIJING).date() > objection.due_on
    audit.record(session, f"user:{user.username}", "objection.resolved", subject_type="objection",
                 subject_id=objection.objection_no, request_id=request_id,
                 detail={"outcome": str(result), "record_id": record.id, "late": late})
    category = CATEGORY_LABELS[record.category]
    notify(session, objection.enterprise_id, "objection", f"异议处理结果：{OUTCOME_LABELS[result]}",
           f"您对{category}记录（{record.provider_ref}）提出的异议 {objection.objection_no} 已处理："
           f"{OUTCOME_LABELS[result]}。说明：{explanation}", "objection", objection.objection_no)
    signals.oversight_changed.send(None, session=session, type="objection.resolved",
                                   enterprise_id=objection.enterprise_id,
                                   data={"objection_no": objection.objection_no, "record_id": record.id,
                                         "category": str(record.category), "outcome": str(result),
                                         "outcome_label": OUTCOME_LABELS[result], "late": late})
    run_evaluations(session, "single", [objection.enterprise_id])
    return objection
