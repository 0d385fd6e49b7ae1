"""Credit repair (信用修复): a firm on the black or watch list applies with evidence of
rectification, no earlier than the list's minimum period after publication (DOMAIN.md:
serious cases after 1 year, general ones after 3 months — ``repair_min_months`` in the
criteria file); the operator approves (the firm leaves the list from that day, the public
disclosure of the penalties it rested on ends, history is kept) or rejects with reasons."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.archive.models import Category, CreditRecord
from app.audit import services as audit
from app.core import clock, signals
from app.core.db import Page, paginate
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.oversight.criteria import current_criteria
from app.oversight.errors import RepairNotFound, RepairTooEarly
from app.oversight.lists import leave
from app.oversight.models import (
    LIST_LABELS,
    EntryStatus,
    EvidenceFile,
    ExitReason,
    ListEntry,
    RepairRequest,
    RepairStatus,
)
from app.oversight.notices import notify
from app.oversight.objections import Upload, check_files, store_files
from app.scoring.services import run_evaluations


def earliest_repair(entry: ListEntry) -> dt.date | None:
    """The first day the firm may apply (``None``: this list is not repaired — red)."""
    months = current_criteria().lists[str(entry.list_name)].repair_min_months
    if months is None or entry.published_on is None:
        return None
    return clock.add_months(entry.published_on, months)


def repairable_entries(session: Session, enterprise_id: int) -> list[tuple[ListEntry, dt.date, bool]]:
    """The firm's entries on a list that is repaired (black, watch), with the first day it
    may apply for each and whether a request for it awaits review."""
    entries = session.scalars(sa.select(ListEntry).where(ListEntry.enterprise_id == enterprise_id,
                                                         ListEntry.status == EntryStatus.active)
                              .order_by(ListEntry.published_on, ListEntry.id))
    waiting = set(session.scalars(sa.select(RepairRequest.entry_id).where(
        RepairRequest.enterprise_id == enterprise_id, RepairRequest.status == RepairStatus.submitted)))
    return [(e, earliest, e.id in waiting) for e in entries if (earliest := earliest_repair(e)) is not None]


def apply_for_repair(session: Session, user: User, entry_id: int, rectification: str, files: list[Upload],
                     request_id: str | None = None, today: dt.date | None = None) -> RepairRequest:
    if user.role != Role.firm or user.enterprise_id is None:
        raise Forbidden("只有企业用户可以申请信用修复", code="not_a_firm")
    entry = session.get(ListEntry, entry_id)
    if entry is None or entry.enterprise_id != user.enterprise_id or entry.status != EntryStatus.active:
        raise InvalidInput("名单记录不可修复", errors={"entry_id": ["本企业没有该项在列的名单记录。"]})
    earliest = earliest_repair(entry)
    if earliest is None:
        raise InvalidInput("该名单无需修复", errors={"entry_id": [f"{LIST_LABELS[entry.list_name]}不适用信用修复。"]})
    today = today or clock.today()
    if today < earliest:
        raise RepairTooEarly(f"列入{LIST_LABELS[entry.list_name]}（{entry.published_on:%Y-%m-%d} 公示）后须满最短期限方可申请修复，"
                             f"最早可于 {earliest:%Y-%m-%d} 申请",
                             errors={"entry_id": [f"最早可于 {earliest:%Y-%m-%d} 申请。"]})
    if session.scalar(sa.select(RepairRequest.id).where(RepairRequest.entry_id == entry.id,
                                                        RepairRequest.status == RepairStatus.submitted)):
        raise Conflict("该名单记录已有待审核的修复申请", code="repair_open")
    check_files(files)
    request = RepairRequest(request_no="rep_" + secrets.token_hex(6), enterprise_id=entry.enterprise_id,
                            entry_id=entry.id, rectification=rectification, status=RepairStatus.submitted,
                            submitted_at=clock.now(), submitted_by=f"user:{user.username}")
    session.add(request)
    session.flush()
    store_files(session, files, repair_id=request.id)
    audit.record(session, f"user:{user.username}", "repair.submitted", subject_type="repair",
                 subject_id=request.request_no, request_id=request_id, detail={"entry_id": entry.id})
    return request


def _visible(stmt: Any, user: User) -> Any:
    if user.role == Role.operator:
        return stmt
    if user.role == Role.firm and user.enterprise_id is not None:
        return stmt.where(RepairRequest.enterprise_id == user.enterprise_id)
    return stmt.where(sa.false())


def get_request(session: Session, user: User, request_no: str) -> RepairRequest:
    request = session.scalar(_visible(sa.select(RepairRequest).where(RepairRequest.request_no == request_no), user))
    if request is None:
        raise RepairNotFound(f"没有编号为 {request_no} 的修复申请")
    return request


def list_requests(session: Session, user: User, status: str | None, page: int, per_page: int) -> Page[RepairRequest]:
    stmt = _visible(sa.select(RepairRequest), user)
    if status:
        stmt = stmt.where(RepairRequest.status == status)
    stmt = stmt.order_by(sa.case((RepairRequest.status == RepairStatus.submitted, 0), else_=1),
                         RepairRequest.submitted_at, RepairRequest.id)
    return paginate(session, stmt, page, per_page)


def files_of(session: Session, request: RepairRequest) -> list[EvidenceFile]:
    return list(session.scalars(sa.select(EvidenceFile).where(EvidenceFile.repair_id == request.id)
                                .order_by(EvidenceFile.id)))


def evidence(session: Session, user: User, request_no: str, file_id: int) -> EvidenceFile:
    request = get_request(session, user, request_no)
    ev = session.scalar(sa.select(EvidenceFile).where(EvidenceFile.id == file_id, EvidenceFile.repair_id == request.id))
    if ev is None:
        raise NotFound("没有该证明材料")
    return ev


def decide(session: Session, user: User, request_no: str, approve: bool, reason: str,
           request_id: str | None = None, today: dt.date | None = None) -> RepairRequest:
    """The operator's decision; approval takes the firm off the list from ``today``."""
    if user.role != Role.operator:
        raise Forbidden("信用修复由征信机构审核", code="not_an_operator")
    request = get_request(session, user, request_no)
    if request.status != RepairStatus.submitted:
        raise Conflict("该修复申请已审核", code="repair_decided")
    today = today or clock.today()
    target = RepairStatus.approved if approve else RepairStatus.rejected
    done = session.execute(sa.update(RepairRequest).where(RepairRequest.id == request.id,
                                                          RepairRequest.status == RepairStatus.submitted)
                           .values(status=target, decided_at=clock.now(), decided_by=f"user:{user.username}",
                                   decision_reason=reason).execution_options(synchronize_session=False))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("该修复申请已被他人审核", code="repair_decided")
    session.refresh(request)
    entry = request.entry
    label = LIST_LABELS[entry.list_name]
    if approve:
        leave(session, entry, ExitReason.repaired, today, f"user:{user.username}", {"repair": request.request_no})
        # Repair ends the public disclosure (双公示) of the penalties the entry rested on.
        penalties = [rid for item in entry.basis for rid in item.get("records", ())]
        if penalties:
            session.execute(sa.update(CreditRecord).where(CreditRecord.id.in_(penalties),
                                                          CreditRecord.category == Category.penalty)
                            .values(disclosure_ended_on=today).execution_options(synchronize_session=False))
        run_evaluations(session, "single", [entry.enterprise_id], today)
        signals.oversight_changed.send(None, session=session, type="repair.approved",
                                       enterprise_id=request.enterprise_id,
                                       data={"request_no": request.request_no, "list": str(entry.list_name),
                                             "list_label": label, "on": today.isoformat()})
    notify(session, request.enterprise_id, "repair",
           f"信用修复申请{'已批准' if approve else '未获批准'}",
           f"您对{label}提出的信用修复申请 {request.request_no}"
           + (f"已批准，自 {today:%Y-%m-%d} 起移出{label}。" if approve else "未获批准。")
           + f"说明：{reason}", "repair", request.request_no)
    audit.record(session, f"user:{user.username}", f"repair.{target}", subject_type="repair",
                 subject_id=request.request_no, request_id=request_id, detail={"entry_id": entry.id})
    return request
