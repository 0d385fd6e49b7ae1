"""Red, black and watch lists: refreshed from the criteria (``app.oversight.criteria``),
published by an operator, left by repair, by the records expiring, by a fixed period or
when the criteria no longer hold.  Every entry and exit is recorded (``ListEvent``, the
audit log) and the firm is told.

``refresh`` is idempotent: run twice on the same day, the second run changes nothing.
New entries wait for publication (``pending``); a published (``active``) entry is what
counts — public lists, reports, the scoring cap (black → C).  Firms whose membership
changed are re-evaluated in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.archive.models import LIVE_STATUSES, CreditRecord, Enterprise, Polarity
from app.audit import services as audit
from app.core import clock, signals
from app.core.db import Page, paginate
from app.core.errors import Conflict, InvalidInput
from app.oversight.criteria import Criteria, FirmState, Rec, current_criteria
from app.oversight.errors import EntryNotFound
from app.oversight.models import (
    EXIT_LABELS,
    LIST_LABELS,
    EntryStatus,
    ExitReason,
    ListEntry,
    ListEvent,
    ListName,
)
from app.oversight.notices import notify
from app.scoring.models import Evaluation
from app.scoring.scorecard import GRADES
from app.scoring.services import main_scorecard_id, run_evaluations

BATCH = 1000
OPEN = (EntryStatus.pending, EntryStatus.active)
CONSUMING = (ExitReason.period_ended, ExitReason.repaired)


@dataclass
class RefreshResult:
    as_of: dt.date
    firms: int = 0
    entered: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ListName, 0))
    exited: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ListName, 0))
    cancelled: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ListName, 0))
    reevaluated: int = 0

    @property
    def changes(self) -> int:
        return sum(self.entered.values()) + sum(self.exited.values()) + sum(self.cancelled.values())


def _states(session: Session, criteria: Criteria, ids: Sequence[int], as_of: dt.date) -> dict[int, FirmState]:
    """What the criteria look at, for a batch of firms, in three queries."""
    conn = session.connection()
    current = {ent_id: (eid, grade) for eid, ent_id, grade in conn.execute(
        sa.select(Evaluation.id, Evaluation.enterprise_id, sa.type_coerce(Evaluation.grade, sa.String()))
        .where(Evaluation.enterprise_id.in_(ids), Evaluation.current.is_(True)))}
    best: dict[int, str] = {}
    if criteria.drop_months():
        since = dt.datetime.combine(clock.add_months(as_of, -criteria.drop_months()), dt.time(), dt.UTC)
        for ent_id, grade in conn.execute(
                sa.select(Evaluation.enterprise_id, sa.type_coerce(Evaluation.grade, sa.String()))
                .where(Evaluation.enterprise_id.in_(ids), Evaluation.evaluated_at >= since,
                       Evaluation.scorecard_id == main_scorecard_id())):
            if grade not in GRADES:  # NR (不予评级) is no grade to drop from
                continue
            if ent_id not in best or GRADES.index(grade) < GRADES.index(best[ent_id]):
                best[ent_id] = grade
    clean_since = clock.add_months(as_of, -12 * criteria.clean_years()) if criteria.clean_years() else as_of
    categories = sorted(criteria.categories())
    records: dict[int, list[Rec]] = defaultdict(list)
    for rid, ent_id, category, polarity, occurred, payload in conn.execute(
            sa.select(CreditRecord.id, CreditRecord.enterprise_id, sa.type_coerce(CreditRecord.category, sa.String()),
                      sa.type_coerce(CreditRecord.polarity, sa.String()), CreditRecord.occurred_on,
                      sa.case((CreditRecord.category.in_(categories), CreditRecord.payload), else_=sa.null()))
            .where(CreditRecord.enterprise_id.in_(ids), CreditRecord.status.in_(list(LIVE_STATUSES)),
                   sa.or_(CreditRecord.expires_on.is_(None), CreditRecord.expires_on > as_of),
                   CreditRecord.occurred_on <= as_of,
                   sa.or_(CreditRecord.category.in_(categories),
                          sa.and_(CreditRecord.polarity == Polarity.bad, CreditRecord.occurred_on > clean_since)))):
        records[ent_id].append(Rec(rid, category, polarity, occurred, payload or {}))
    return {ent_id: FirmState(ent_id, current.get(ent_id, (None, None))[1], best.get(ent_id),
                              current.get(ent_id, (None, None))[0], records.get(ent_id, []))
            for ent_id in ids}


def _consumed(entries: Iterable[ListEntry]) -> dict[tuple[int, str], set[tuple[str, int]]]:
    """Records and evaluations that grounded an entry which ended by its period or by
    repair: they never ground another entry on that list."""
    out: dict[tuple[int, str], set[tuple[str, int]]] = defaultdict(set)
    for entry in entries:
        for item in entry.basis:
            for rid in item.get("records", ()):
                out[(entry.enterprise_id, str(entry.list_name))].add(("record", rid))
            for eid in item.get("evaluations", ()):
                out[(entry.enterprise_id, str(entry.list_name))].add(("evaluation", eid))
    return out


def _event(session: Session, entry: ListEntry, kind: str, actor: str, detail: dict[str, Any] | None = None) -> None:
    session.add(ListEvent(entry_id=entry.id, at=clock.now(), kind=kind, actor=actor, detail=detail or {}))
    audit.record(session, actor, f"list.{kind}", subject_type="list_entry", subject_id=str(entry.id),
                 detail={"list": str(entry.list_name), "enterprise_id": entry.enterprise_id, **(detail or {})})


def leave(session: Session, entry: ListEntry, reason: ExitReason, on: dt.date, actor: str,
          detail: dict[str, Any] | None = None) -> None:
    """An entry ends: a published one exits (from ``on``), a pending one is cancelled."""
    if entry.status not in OPEN:
        raise Conflict("该名单记录已结束", code="list_entry_closed")
    was_active = entry.status == EntryStatus.active
    entry.status = EntryStatus.exited if was_active else EntryStatus.cancelled
    entry.exited_on, entry.exit_reason = on, reason
    session.flush()
    _event(session, entry, "exited" if was_active else "cancelled", actor,
           {"reason": str(reason), "on": on.isoformat(), **(detail or {})})
    if was_active:
        label = LIST_LABELS[entry.list_name]
        notify(session, entry.enterprise_id, "list_exit", f"已移出{label}",
               f"自 {on:%Y-%m-%d} 起，本企业已移出{label}（{EXIT_LABELS[reason]}）。", "list_entry", str(entry.id))
        signals.oversight_changed.send(None, session=session, type="list.exited", enterprise_id=entry.enterprise_id,
                                       data={"list": str(entry.list_name), "list_label": label, "entry_id": entry.id,
                                             "on": on.isoformat(), "reason": str(reason),
                                             "reason_label": EXIT_LABELS[reason]})


def _reason(entry: ListEntry, state: FirmState) -> ExitReason:
    live = {r.id for r in state.records}
    grounded = [rid for item in entry.basis for rid in item.get("records", ())]
    if grounded and not any(rid in live for rid in grounded):
        return ExitReason.record_expired
    return ExitReason.criteria_unmet


def refresh(session: Session, as_of: dt.date | None = None, *, actor: str = "system",
            criteria: Criteria | None = None, enterprise_ids: Sequence[int] | None = None,
            on_progress: Callable[[int], None] | None = None) -> RefreshResult:
    """Recompute every list for every firm (or the given ones) as of a day."""
    criteria = criteria or current_criteria()
    as_of = as_of or clock.today()
    result = RefreshResult(as_of)
    ids = list(enterprise_ids) if enterprise_ids is not None else list(
        session.scalars(sa.select(Enterprise.id).order_by(Enterprise.id)))
    changed: set[int] = set()
    for start in range(0, len(ids), BATCH):
        part = ids[start:start + BATCH]
        states = _states(session, criteria, part, as_of)
        entries = list(session.scalars(sa.select(ListEntry).where(ListEntry.enterprise_id.in_(part))))
        open_entries = {(e.enterprise_id, str(e.list_name)): e for e in entries if e.status in OPEN}
        consumed = _consumed(e for e in entries if e.exit_reason in CONSUMING)
        for ent_id in part:
            state = states[ent_id]
            for name, rule in criteria.lists.items():
                basis = rule.basis(state, as_of, consumed.get((ent_id, name), set()))
                entry = open_entries.get((ent_id, name))
                if entry is None:
                    if basis:
                        entry = ListEntry(list_name=ListName(name), enterprise_id=ent_id, status=EntryStatus.pending,
                                          criteria_version=criteria.version, basis=basis, entered_on=as_of)
                        session.add(entry)
                        session.flush()
                        _event(session, entry, "entered", actor, {"basis": [b["criterion"] for b in basis]})
                        result.entered[name] += 1
                    continue
                if entry.status == EntryStatus.active and entry.ends_on is not None and entry.ends_on <= as_of:
                    leave(session, entry, ExitReason.period_ended, entry.ends_on, actor)
                    result.exited[name] += 1
                    changed.add(ent_id)
                elif not basis:
                    active = entry.status == EntryStatus.active
                    leave(session, entry, _reason(entry, state), as_of, actor)
                    (result.exited if active else result.cancelled)[name] += 1
                    if active:
                        changed.add(ent_id)
        result.firms += len(part)
        if on_progress is not None:
            on_progress(len(part))
    if changed:
        result.reevaluated = run_evaluations(session, "single", sorted(changed), as_of).firms
    return result


def publish(session: Session, entry_ids: Sequence[int] | None, *, actor: str, on: dt.date | None = None,
            criteria: Criteria | None = None) -> list[ListEntry]:
    """Publish pending entries (the given ones, or all): on the list from ``on``; the firm
    is told and re-evaluated (a black-list entry caps its grade)."""
    criteria = criteria or current_criteria()
    on = on or clock.today()
    stmt = sa.select(ListEntry).where(ListEntry.status == EntryStatus.pending).order_by(ListEntry.id)
    if entry_ids is not None:
        stmt = stmt.where(ListEntry.id.in_(entry_ids))
    entries = list(session.scalars(stmt))
    if entry_ids is not None and len(entries) != len(set(entry_ids)):
        missing = sorted(set(entry_ids) - {e.id for e in entries})
        raise InvalidInput("名单记录不可发布", errors={"entry_ids": [f"以下记录不存在或不在待发布状态：{missing}"]})
    for entry in entries:
        rule = criteria.lists[str(entry.list_name)]
        entry.status, entry.published_on, entry.published_by = EntryStatus.active, on, actor
        entry.ends_on = rule.ends_on(on, entry.basis)
        session.flush()
        _event(session, entry, "published", actor, {"on": on.isoformat(),
                                                     "ends_on": entry.ends_on.isoformat() if entry.ends_on else None})
        label = LIST_LABELS[entry.list_name]
        why = "；".join(b["label"] for b in entry.basis)
        notify(session, entry.enterprise_id, "list_entry", f"已列入{label}",
               f"自 {on:%Y-%m-%d} 起，本企业列入{label}。依据：{why}。"
               + (f"列入期限至 {entry.ends_on:%Y-%m-%d}。" if entry.ends_on else "")
               + ("对依据的记录有异议的，可提出异议；完成整改的，可申请信用修复。" if entry.list_name != ListName.red else ""),
               "list_entry", str(entry.id))
        signals.oversight_changed.send(None, session=session, type="list.entered", enterprise_id=entry.enterprise_id,
                                       data={"list": str(entry.list_name), "list_label": label,
                                             "entry_id": entry.id, "on": on.isoformat(),
                                             "ends_on": entry.ends_on.isoformat() if entry.ends_on else None,
                                             "basis": [b["label"] for b in entry.basis]})
    if entries:
        run_evaluations(session, "single", sorted({e.enterprise_id for e in entries}), on)
    return entries


def published(session: Session, list_name: str, page: int, per_page: int, q: str | None = None) -> Page[ListEntry]:
    """A list as published: the firms on it now, latest first."""
    stmt = (sa.select(ListEntry).join(Enterprise, Enterprise.id == ListEntry.enterprise_id)
            .where(ListEntry.list_name == list_name, ListEntry.status == EntryStatus.active)
            .order_by(ListEntry.published_on.desc(), ListEntry.id.desc()))
    if q:
        stmt = stmt.where(sa.or_(Enterprise.name.contains(q, autoescape=True), Enterprise.uscc == q.upper()))
    return paginate(session, stmt, page, per_page)


def pending(session: Session, page: int, per_page: int, list_name: str | None = None) -> Page[ListEntry]:
    """List changes awaiting publication (operator console)."""
    stmt = sa.select(ListEntry).where(ListEntry.status == EntryStatus.pending).order_by(ListEntry.entered_on,
                                                                                       ListEntry.id)
    if list_name:
        stmt = stmt.where(ListEntry.list_name == list_name)
    return paginate(session, stmt, page, per_page)


def pending_ids(session: Session, list_name: str | None = None, upto: int | None = None) -> list[int]:
    """Ids of the pending entries (of one list), oldest first; with ``upto``, only those up to
    that id — the ones a page showed, not those a refresh added since."""
    stmt = sa.select(ListEntry.id).where(ListEntry.status == EntryStatus.pending).order_by(ListEntry.id)
    if list_name:
        stmt = stmt.where(ListEntry.list_name == list_name)
    if upto is not None:
        stmt = stmt.where(ListEntry.id <= upto)
    return list(session.scalars(stmt))


def entries_of(session: Session, enterprise_id: int) -> list[ListEntry]:
    """A firm's list history, newest first."""
    return list(session.scalars(sa.select(ListEntry).where(ListEntry.enterprise_id == enterprise_id)
                                .order_by(ListEntry.entered_on.desc(), ListEntry.id.desc())))


def get_entry(session: Session, entry_id: int) -> ListEntry:
    entry = session.get(ListEntry, entry_id)
    if entry is None:
        raise EntryNotFound(f"没有编号为 {entry_id} 的名单记录")
    return entry


def events_of(session: Session, entry: ListEntry) -> list[ListEvent]:
    return list(session.scalars(sa.select(ListEvent).where(ListEvent.entry_id == entry.id)
                                .order_by(ListEvent.at, ListEvent.id)))


def counts(session: Session) -> dict[str, dict[str, int]]:
    """Entries per list and status."""
    out = {str(n): dict.fromkeys(map(str, EntryStatus), 0) for n in ListName}
    for name, status, n in session.execute(
            sa.select(sa.type_coerce(ListEntry.list_name, sa.String()), sa.type_coerce(ListEntry.status, sa.String()),
                      sa.func.count()).group_by(ListEntry.list_name, ListEntry.status)):
        out[name][status] = int(n)
    return out
