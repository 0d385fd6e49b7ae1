"""Oversight demo data for ``powercredit seed``, through the same services users go
through: signed commitments, the lists refreshed and mostly published (a few left for the
console), objections open, overdue and answered, repair requests pending and approved.
Some of it is history, so dates are moved back where a real case would have aged (an
overdue objection, a listing old enough to be repaired).  A rerun adds nothing."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.archive.models import LIVE_STATUSES, Category, CreditRecord, Enterprise, Polarity
from app.core import clock
from app.core.signing import SigningKeys
from app.demo.firms import demo_firm_user
from app.oversight import commitments, lists, objections, repair
from app.oversight.models import EntryStatus, ListEntry, Objection, RepairRequest
from app.scoring.models import Evaluation


@dataclass
class OversightDemo:
    commitments: int = 0
    lists: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    objections: dict[str, int] = field(default_factory=dict)
    repairs: dict[str, int] = field(default_factory=dict)


def _operator(session: Session) -> User:
    op = session.scalar(sa.select(User).where(User.role == "operator").order_by(User.id).limit(1))
    assert op is not None, "演示数据需要一个征信机构用户"
    return op


def seed_oversight(session: Session, signer: SigningKeys, seed: int, demo_firm_id: int | None) -> OversightDemo:
    rng = random.Random(seed + 7)
    out = OversightDemo()
    today = clock.today()
    commitments.sync_texts(session)
    first_run = session.scalar(sa.select(sa.func.count()).select_from(Objection)) == 0

    if first_run:
        # Commitments: the demo firm and about a third of the AA-and-above firms sign the 公约.
        good = list(session.scalars(sa.select(Enterprise).join(Evaluation, sa.and_(
            Evaluation.enterprise_id == Enterprise.id, Evaluation.current.is_(True)))
            .where(Evaluation.grade.in_(["AAA", "AA"])).order_by(Enterprise.id)))
        signers = [e for e in good if e.id == demo_firm_id or rng.random() < 0.35]
        for ent in signers:
            user = demo_firm_user(session, ent)
            commitments.sign(session, signer, user, "self_discipline", "张明", "法定代表人")
            out.commitments += 1

    # Lists: refreshed; everything published except the last entry of each list (for the
    # console), one of them, where there is one, resting on a single record (an objection
    # removes it, and the entry is cancelled before it was ever published).
    lists.refresh(session, today, actor="seed")
    pending = list(session.scalars(sa.select(ListEntry).where(ListEntry.status == EntryStatus.pending)
                                   .order_by(ListEntry.id)))
    last = {e.list_name: e for e in pending}
    sole = [e for e in pending if _sole_record(e) is not None]
    if sole and not any(_sole_record(e) is not None for e in last.values()):
        last[sole[-1].list_name] = sole[-1]
    kept = sorted(e.id for e in last.values()) if len(pending) > len(last) else []
    if first_run and kept:
        lists.publish(session, [e.id for e in pending if e.id not in kept], actor="seed")
    operator = _operator(session)

    if first_run:
        _objections(session, operator, demo_firm_id, unpublished=kept, out=out)
        _repairs(session, operator, today, out)
    # What the steps above changed (answered objections, repairs, new grades) as the lists see it.
    lists.refresh(session, today, actor="seed")
    out.lists = {name: c["active"] for name, c in lists.counts(session).items()}
    out.pending = sum(c["pending"] for c in lists.counts(session).values())
    if not first_run:
        out.objections = {"existing": int(session.scalar(sa.select(sa.func.count()).select_from(Objection)) or 0)}
        out.repairs = {"existing": int(session.scalar(sa.select(sa.func.count()).select_from(RepairRequest)) or 0)}
    return out


def _sole_record(entry: ListEntry) -> int | None:
    """The one record a list entry rests on, if it rests on one record alone."""
    records = [rid for item in entry.basis for rid in item.get("records", ())]
    if len(records) == 1 and not any(item.get("evaluations") for item in entry.basis):
        return int(records[0])
    return None


def _objections(session: Session, operator: User, demo_firm_id: int | None, unpublished: list[int],
                 out: OversightDemo) -> None:
    """Objections in every state, each by a different firm (the demo firm first): open,
    overdue (received 25 days ago), upheld, corrected (a late contract found on time) and
    removed — where it can, the record behind an entry still awaiting publication, so that
    the next refresh cancels the entry (a listing never published)."""
    bad = session.execute(
        sa.select(CreditRecord.id, CreditRecord.enterprise_id, CreditRecord.category, CreditRecord.payload)
        .where(CreditRecord.polarity == Polarity.bad, CreditRecord.status.in_(list(LIVE_STATUSES)))
        .order_by(CreditRecord.enterprise_id != (demo_firm_id or 0), CreditRecord.id)).all()
    sole_basis = [rid for entry in session.scalars(sa.select(ListEntry).where(ListEntry.id.in_(unpublished))
                                                   .order_by(ListEntry.id))
                  if (rid := _sole_record(entry)) is not None]
    used: set[int] = set()

    def pick(wanted: Callable[[Any], bool]) -> Any:
        row = next((r for r in bad if r.enterprise_id not in used and wanted(r)), None)
        if row is not None:
            used.add(row.enterprise_id)
        return row

    picks = {"removed": pick(lambda r: r.id in sole_basis[:1]) or pick(lambda r: True),
             "corrected": pick(lambda r: r.category == Category.contract and r.payload.get("status") == "late")}
    picks.update({state: pick(lambda r: True) for state in ("open", "overdue", "upheld")})
    for state in ("open", "overdue", "upheld", "corrected", "removed"):
        row = picks[state]
        if row is None:
            continue
        user = demo_firm_user(session, session.get_one(Enterprise, row.enterprise_id))
        o = objections.file_objection(session, user, row.id, "该记录与事实不符：款项已于到期前结清，附银行回单。", [])
        if state == "overdue":
            o.received_at -= dt.timedelta(days=25)
            o.due_on = objections.due_date(o.received_at)
        elif state == "upheld":
            objections.resolve(session, operator, o.objection_no, state, "经向数据来源核实，记录无误，予以维持。")
        elif state == "removed":
            objections.resolve(session, operator, o.objection_no, state, "数据来源确认报送有误，记录予以删除。")
        elif state == "corrected":
            payload = {**row.payload, "status": "on_time", "fulfilled_on": row.payload["due_on"]}
            objections.resolve(session, operator, o.objection_no, state, "数据来源核实后更正：合同已按期履约。",
                               corrected_payload=payload)
        out.objections[state] = out.objections.get(state, 0) + 1
    session.flush()


def _repairs(session: Session, operator: User, today: dt.date, out: OversightDemo) -> None:
    """Credit repair: a black-listed firm listed 13 months ago asks (awaiting review); two
    watch-listed firms listed 4 months ago asked, one repaired, one refused."""
    plan = (("black", 13, None), ("watch", 4, True), ("watch", 4, False))
    taken: set[int] = set()
    for list_name, months, decision in plan:
        entry = session.scalar(sa.select(ListEntry).where(ListEntry.list_name == list_name,
                                                          ListEntry.status == EntryStatus.active,
                                                          ListEntry.id.not_in(taken or {0}))
                               .order_by(ListEntry.id).limit(1))
        if entry is None:
            continue
        taken.add(entry.id)
        entry.published_on = clock.add_months(today, -months)
        entry.entered_on = entry.published_on
        rule = lists.current_criteria().lists[list_name]
        entry.ends_on = rule.ends_on(entry.published_on, entry.basis)
        session.flush()
        user = demo_firm_user(session, entry.enterprise)
        request = repair.apply_for_repair(session, user, entry.id,
                                          "已全面整改：补缴款项、完善内控制度并通过第三方复核，附整改报告。", [])
        if decision is True:
            repair.decide(session, operator, request.request_no, True, "整改材料齐全，准予信用修复。")
        elif decision is False:
            repair.decide(session, operator, request.request_no, False, "整改报告未附第三方复核意见，暂不予修复。")
        state = "submitted" if decision is None else "approved" if decision else "rejected"
        out.repairs[state] = out.repairs.get(state, 0) + 1
