"""Enterprise relations (集团与子公司): filing them (a provider's batch, an operator's command or
page), ending them, listing them.  History is kept: a change ends the open row and adds a new
one; nothing is deleted or rewritten.  No firm holds itself, no holding chain comes back to
where it began (checked here, on write), and a batch is written whole or refused whole.

Reading the hierarchy (``subsidiaries``, ``group_parents``) is in ``app.archive.services``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.orm import Session, joinedload

from app.archive.models import DataProvider, Enterprise, EnterpriseRelation, RelationKind
from app.archive.schemas import RelationInSchema
from app.archive.services import group_parents
from app.core import clock
from app.core.db import Page, paginate
from app.core.errors import InvalidInput, NotFound, flatten_messages

MAX_RELATION_ROWS = 5_000  # a batch; a group's whole tree fits many times over


class RelationNotFound(NotFound):
    code = "relation_not_found"


@dataclass(frozen=True)
class Filer:
    """Who files a relation: a data provider (its batch) or an operator (by name; "cli")."""

    provider: DataProvider | None = None
    operator: str | None = None

    @property
    def label(self) -> str:
        return f"provider:{self.provider.code}" if self.provider is not None else f"operator:{self.operator}"


@dataclass
class BatchOutcome:
    total: int = 0
    added: int = 0
    ended: int = 0
    unchanged: int = 0
    relations: list[EnterpriseRelation] = field(default_factory=list)


_ROW = RelationInSchema()


def _open_relation(session: Session, parent_id: int, child_id: int) -> EnterpriseRelation | None:
    return session.scalar(sa.select(EnterpriseRelation).where(
        EnterpriseRelation.parent_id == parent_id, EnterpriseRelation.child_id == child_id,
        EnterpriseRelation.valid_to.is_(None)))


def _would_loop(session: Session, parent_id: int, child_id: int, valid_from: dt.date) -> bool:
    """Whether the child already holds the parent (directly or through others) on the day the
    new relation begins or later: the new one would close a loop."""
    days = {valid_from, max(valid_from, clock.today())}
    return any(child_id in group_parents(session, parent_id, as_of=day) or child_id == parent_id for day in days)


def _apply(session: Session, filer: Filer, parent: Enterprise, child: Enterprise, kind: RelationKind,
           share: Decimal, valid_from: dt.date, valid_to: dt.date | None, provider_ref: str | None,
           out: BatchOutcome) -> dict[str, list[str]]:
    """One relation filed: its errors by field (nothing written then)."""
    current = _open_relation(session, parent.id, child.id)
    if current is not None and current.kind == kind and current.share == share:
        if valid_to is None:
            out.unchanged += 1
            out.relations.append(current)
            return {}
        if valid_to < current.valid_from:
            return {"valid_to": [f"现有关系自 {current.valid_from.isoformat()} 起，结束日期不能早于此日。"]}
        current.valid_to, current.ended_by = valid_to, filer.label
        out.ended += 1
        out.relations.append(current)
        return {}
    if current is not None:  # a change: the open row ends the day the new one begins
        if valid_from < current.valid_from:
            return {"valid_from": [f"现有关系自 {current.valid_from.isoformat()} 起，变更日期不能早于此日。"]}
        current.valid_to, current.ended_by = valid_from, filer.label
        out.ended += 1
        session.flush()
    elif valid_to is not None:  # a holding that has already ended: resending it changes nothing
        same = session.scalar(sa.select(EnterpriseRelation).where(
            EnterpriseRelation.parent_id == parent.id, EnterpriseRelation.child_id == child.id,
            EnterpriseRelation.kind == kind, EnterpriseRelation.share == share,
            EnterpriseRelation.valid_from == valid_from, EnterpriseRelation.valid_to == valid_to))
        if same is not None:
            out.unchanged += 1
            out.relations.append(same)
            return {}
    if _would_loop(session, parent.id, child.id, valid_from):
        return {"child_uscc": [f"{child.name}已直接或间接持有{parent.name}，不能形成循环持股。"]}
    relation = EnterpriseRelation(
        parent_id=parent.id, child_id=child.id, kind=kind, share=share, valid_from=valid_from, valid_to=valid_to,
        provider_id=filer.provider.id if filer.provider is not None else None, operator=filer.operator,
        provider_ref=provider_ref, ended_by=filer.label if valid_to is not None else None)
    session.add(relation)
    session.flush()
    out.added += 1
    out.relations.append(relation)
    return {}


def file_relations(session: Session, filer: Filer, rows: Iterable[Any]) -> BatchOutcome:
    """A batch of relations (``RelationInSchema`` rows), applied in order: written whole, or
    refused whole with ``InvalidInput`` naming each refused row and field
    (``rows[3].child_uscc``).  The caller's transaction rolls back what the batch flushed."""
    rows = list(rows)
    if not rows:
        raise InvalidInput("批次为空", errors={"_batch": ["至少一条关系。"]})
    if len(rows) > MAX_RELATION_ROWS:
        raise InvalidInput(f"一批最多 {MAX_RELATION_ROWS} 条关系，请拆分后重试",
                           errors={"_batch": [f"超过每批 {MAX_RELATION_ROWS} 条的上限。"]})
    loaded: list[tuple[int, dict[str, Any]]] = []
    errors: dict[str, list[str]] = {}
    for i, raw in enumerate(rows):
        if not isinstance(raw, Mapping):
            errors[f"rows[{i}]"] = ["应为 JSON 对象。"]
            continue
        try:
            loaded.append((i, dict(_ROW.load(raw))))
        except ValidationError as exc:
            for name, msgs in flatten_messages(exc.messages).items():
                errors[f"rows[{i}].{name}"] = msgs
    codes = {data[key] for _, data in loaded for key in ("parent_uscc", "child_uscc")}
    firms = {e.uscc: e for e in session.scalars(sa.select(Enterprise).where(Enterprise.uscc.in_(codes)))} if codes else {}
    out = BatchOutcome(total=len(rows))
    for i, data in loaded:
        missing = {key: ["信用档案中没有该企业。"] for key in ("parent_uscc", "child_uscc") if data[key] not in firms}
        row_errors = missing or _apply(
            session, filer, firms[data["parent_uscc"]], firms[data["child_uscc"]], RelationKind(data["kind"]),
            data["share"], data["valid_from"], data["valid_to"], data["provider_ref"], out)
        for name, msgs in row_errors.items():
            errors[f"rows[{i}].{name}"] = msgs
    if errors:
        refused = len({key.split("]")[0] for key in errors})
        raise InvalidInput(f"{refused} 行关系未通过校验，整批未写入", code="batch_refused", errors=errors)
    return out


def add_relation(session: Session, filer: Filer, *, parent_uscc: str, child_uscc: str, kind: str,
                 share: Decimal | str | None, valid_from: dt.date | str, valid_to: dt.date | str | None = None
                 ) -> EnterpriseRelation:
    """One relation filed by an operator (CLI, console): as a batch of one."""
    row: dict[str, Any] = {"parent_uscc": parent_uscc, "child_uscc": child_uscc, "kind": kind,
                           "valid_from": str(valid_from)}
    if share is not None:
        row["share"] = str(share)
    if valid_to is not None:
        row["valid_to"] = str(valid_to)
    try:
        out = file_relations(session, filer, [row])
    except InvalidInput as exc:  # one row: name the fields themselves
        raise InvalidInput(exc.detail, code=exc.code,
                           errors={k.removeprefix("rows[0]."): v for k, v in (exc.errors or {}).items()}) from exc
    return out.relations[0]


def end_relation(session: Session, filer: Filer, relation_id: int, ended_on: dt.date) -> EnterpriseRelation:
    """End an open relation on ``ended_on`` (the first day it no longer holds)."""
    relation = session.get(EnterpriseRelation, relation_id)
    if relation is None:
        raise RelationNotFound(f"没有编号为 {relation_id} 的关系")
    if relation.valid_to is not None:
        raise InvalidInput("该关系已结束", errors={"relation": [f"已于 {relation.valid_to.isoformat()} 结束。"]})
    if ended_on < relation.valid_from:
        raise InvalidInput("结束日期早于开始日期",
                           errors={"ended_on": [f"关系自 {relation.valid_from.isoformat()} 起，结束日期不能早于此日。"]})
    relation.valid_to, relation.ended_by = ended_on, filer.label
    session.flush()
    return relation


def list_relations(session: Session, *, uscc: str | None = None, include_ended: bool = False,
                   page: int = 1, per_page: int = 20) -> Page[EnterpriseRelation]:
    stmt = sa.select(EnterpriseRelation).options(
        joinedload(EnterpriseRelation.parent), joinedload(EnterpriseRelation.child),
        joinedload(EnterpriseRelation.provider))
    if uscc:
        ent_id = session.scalar(sa.select(Enterprise.id).where(Enterprise.uscc == uscc))
        stmt = stmt.where(sa.or_(EnterpriseRelation.parent_id == ent_id, EnterpriseRelation.child_id == ent_id))
    if not include_ended:
        stmt = stmt.where(EnterpriseRelation.valid_to.is_(None))
    stmt = stmt.order_by(EnterpriseRelation.parent_id, EnterpriseRelation.child_id, EnterpriseRelation.valid_from,
                         EnterpriseRelation.id)
    return paginate(session, stmt, page, per_page)
