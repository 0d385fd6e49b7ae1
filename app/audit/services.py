"""Writing the audit log, its Merkle tree and signed tree heads, proofs, and verification.

Every event's ``hash`` is SHA-256 over the previous event's hash and the event's own
canonical JSON, so rewriting or deleting an event breaks every hash after it.  On PostgreSQL
appends are serialised by a transaction-level advisory lock; on SQLite by the write lock
every writing transaction takes as it begins (``BEGIN IMMEDIATE``, see
``app.core.db.make_engine``).

A chain its own operator can recompute proves little, so the events are also the leaves of
an append-only Merkle tree in the manner of RFC 9162 (``app.audit.merkle``): in id order,
each leaf ``SHA-256(0x00 || leaf_data(event))``.  Writing an event does no tree work: the
tree takes in the new events when a tree head is signed (:func:`sign_head`: on demand and on
a schedule), which stores their leaf hashes and every perfect subtree they complete, signs
``{tree_size, root_hash, timestamp, kid}`` with the platform's Ed25519 key and keeps the
signed head in the database and, outside it, in ``instance/audit/`` (:func:`publish_head`).
Proofs are then a few rows read (:func:`inclusion_proof`, :func:`consistency_proof`), and
:func:`verify_log` recomputes the whole log against every signed head it is given.

Refusals must be recorded even though the refused request's transaction is rolled back:
``app.core.refusals`` keeps them on the session and has them written here after the rollback
(:func:`init_app` registers :func:`write` as their writer).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.audit import merkle
from app.audit.errors import AuditEventNotFound, NotYetInTree, TreeHeadNotFound
from app.audit.models import AuditEvent, AuditLeaf, AuditNode, TreeHead, from_ms, to_ms
from app.core import clock, refusals
from app.core.db import Page, Prepared, paginate, run_batch
from app.core.errors import InvalidInput
from app.core.refusals import (  # noqa: F401 — the audit API callers use
    Pending,
    discard_pending,
    has_pending,
    pending_events,
    refuse_later,
    write_pending,
)
from app.core.signing import SignatureInvalid, SigningKeys, verify_jws

GENESIS = "0" * 64
_LOCK_KEY = 0x50434155  # "PCAU"
STH_TYP = "pc-audit-sth+jws"
USCC_LENGTH = 18


# --- the events and their canonical bytes ------------------------------------------------------

def _body(event: Any) -> dict[str, Any]:
    """What an event says (an ``AuditEvent`` or a row with its columns), as hashed."""
    return {
        "at": event.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": event.actor, "action": event.action, "outcome": event.outcome, "code": event.code,
        "subject_type": event.subject_type, "subject_id": event.subject_id,
        "detail": event.detail, "request_id": event.request_id,
    }


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _digest(prev_hash: str, event: Any) -> str:
    return hashlib.sha256((prev_hash + _canonical(_body(event))).encode()).hexdigest()


def leaf_data(event: Any) -> bytes:
    """The event's bytes in the Merkle tree: the canonical JSON (keys sorted, no spaces,
    UTF-8) of its id and what it says — ``action, actor, at, code, detail, id, outcome,
    request_id, subject_id, subject_type``."""
    return _canonical({**_body(event), "id": event.id}).encode()


def leaf_hash(event: Any) -> bytes:
    return merkle.leaf_hash(leaf_data(event))


def uscc_of(detail: dict[str, Any] | None) -> str | None:
    """The firm an event is about: ``detail["uscc"]`` where it is a code of 18 characters."""
    value = (detail or {}).get("uscc")
    return value if isinstance(value, str) and len(value) == USCC_LENGTH else None


def record(session: Session, actor: str, action: str, *, outcome: str = "ok", code: str | None = None,
           subject_type: str | None = None, subject_id: str | None = None,
           detail: dict[str, Any] | None = None, request_id: str | None = None) -> AuditEvent:
    """Append one event to the chain (in the caller's transaction).  An event about a firm's
    data names the firm in ``detail["uscc"]``: the firm can then list it and prove it."""
    if session.get_bind().dialect.name == "postgresql":
        # The lock, then the chain's head read under it: one round trip, two statements (the
        # read's snapshot is taken once the lock is held, so it sees the last appender's event).
        last = run_batch(session, [(_LOCK, {"key": _LOCK_KEY}), (_PREV_HASH, {})])[1]
    else:
        last = _PREV_HASH.rows(session, {})
    prev = (last[0][0] if last else None) or GENESIS
    event = AuditEvent(at=clock.now(), actor=actor, action=action, outcome=outcome, code=code,
                       subject_type=subject_type, subject_id=subject_id, detail=detail or {},
                       request_id=request_id, prev_hash=prev, uscc=uscc_of(detail))
    event.hash = _digest(prev, event)
    # A plain INSERT on the session's connection (no unit of work for an append-only row
    # that every request writes); the returned event carries its id but is not in the session.
    event.id = _INSERT.scalar(session, {
        "at": event.at, "actor": actor, "action": action, "outcome": outcome, "code": code,
        "subject_type": subject_type, "subject_id": subject_id, "detail": event.detail, "request_id": request_id,
        "prev_hash": prev, "hash": event.hash, "uscc": event.uscc})
    return event


_COLUMNS = ("at", "actor", "action", "outcome", "code", "subject_type", "subject_id", "detail", "request_id",
            "prev_hash", "hash", "uscc")
# Every request that reaches a firm's data appends here: the three statements run straight
# on the cursor (app.core.db.Prepared), in the caller's transaction.
_LOCK = Prepared(sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("key", type_=sa.BigInteger()))))
_PREV_HASH = Prepared(sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
_INSERT = Prepared.insert_returning_id(AuditEvent, _COLUMNS)


def write(session: Session, p: Pending, request_id: str | None = None) -> AuditEvent:
    """Write an event prepared earlier (a refusal, or an access whose caller writes it last)."""
    return record(session, p.actor, p.action, outcome=p.outcome, code=p.code, subject_type=p.subject_type,
                  subject_id=p.subject_id, detail=p.detail, request_id=p.request_id or request_id)


def init_app(app: Any = None) -> None:
    """Write the refusals the unit of work remembers (``app.core.refusals``) to this log."""
    refusals.set_writer(write)


def verify_chain(session: Session, batch: int = 5000) -> Iterator[tuple[int, bool]]:
    """Yields (event id, hash ok) in order; a broken link or digest yields False."""
    prev = GENESIS
    last_id = 0
    while True:
        events = list(session.scalars(
            sa.select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ))
        if not events:
            return
        for event in events:
            ok = event.prev_hash == prev and event.hash == _digest(prev, event)
            yield event.id, ok
            prev = event.hash
            last_id = event.id
        session.expunge_all()


def events_for(session: Session, subject_type: str, subject_id: str) -> list[AuditEvent]:
    return list(session.scalars(
        sa.select(AuditEvent).where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id == subject_id)
        .order_by(AuditEvent.id)
    ))


def list_events(session: Session, *, action: str | None = None, actor: str | None = None,
                subject_type: str | None = None, subject_id: str | None = None, outcome: str | None = None,
                request_id: str | None = None, page: int = 1, per_page: int = 50) -> Page[AuditEvent]:
    """The audit log for operators, newest first: ``action`` matches a whole action or a
    family (``consent`` matches ``consent.revoke``), the other filters exactly."""
    stmt = sa.select(AuditEvent).order_by(AuditEvent.id.desc())
    if action:
        stmt = stmt.where(sa.or_(AuditEvent.action == action, AuditEvent.action.startswith(f"{action}.",
                                                                                          autoescape=True)))
    for column, value in ((AuditEvent.actor, actor), (AuditEvent.subject_type, subject_type),
                          (AuditEvent.subject_id, subject_id), (AuditEvent.outcome, outcome),
                          (AuditEvent.request_id, request_id)):
        if value:
            stmt = stmt.where(column == value)
    return paginate(session, stmt, page, per_page)


def firm_events(session: Session, uscc: str, page: int = 1, per_page: int = 50) -> Page[dict[str, Any]]:
    """The events about one firm (every access to its data, refused ones too), newest first,
    each with its place in the tree (``leaf_index``, null until a tree head takes it in)."""
    found = paginate(session, sa.select(AuditEvent).where(AuditEvent.uscc == uscc).order_by(AuditEvent.id.desc()),
                     page, per_page)
    ids = [e.id for e in found.items]
    leaves: dict[int, int] = {int(e): int(i) for e, i in session.execute(
        sa.select(AuditLeaf.event_id, AuditLeaf.idx).where(AuditLeaf.event_id.in_(ids)))} if ids else {}
    items = [{**{c: getattr(e, c) for c in _EVENT_FIELDS}, "leaf_index": leaves.get(e.id)} for e in found.items]
    return Page(items, found.page, found.per_page, found.total)


_EVENT_FIELDS = ("id", "at", "actor", "action", "outcome", "code", "subject_type", "subject_id", "detail",
                 "request_id", "hash")


# --- the Merkle tree ----------------------------------------------------------------------------

def _lock(session: Session) -> None:
    """Hold the append lock (PostgreSQL; SQLite's writing transactions hold the write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        _LOCK.rows(session, {"key": _LOCK_KEY})


def _perfect(session: Session, nodes: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Stored hashes of perfect subtrees by (level, index): leaves from ``audit_leaf``, the
    rest from ``audit_node``; two queries at most."""
    found: dict[tuple[int, int], bytes] = {}
    leaves = [i for level, i in nodes if level == 0]
    if leaves:
        found.update(((0, int(i)), bytes(h)) for i, h in session.execute(
            sa.select(AuditLeaf.idx, AuditLeaf.hash).where(AuditLeaf.idx.in_(leaves))))
    inner = {(level, i) for level, i in nodes if level > 0}
    if inner:
        # Every (level, index) pair of the two lists, kept if wanted: a few hundred index
        # seeks at most, in one statement of one shape (SQLite answers a row-value IN by
        # scanning the whole table).
        found.update(((int(level), int(i)), bytes(h)) for level, i, h in session.execute(
            _NODES, {"levels": sorted({level for level, _ in inner}), "idxs": sorted({i for _, i in inner})})
            if (level, i) in inner)
    missing = nodes - found.keys()
    if missing:
        raise RuntimeError(f"审计日志的默克尔树缺少节点 {sorted(missing)[:5]}：树存储不完整")
    return found


_NODES = sa.select(AuditNode.level, AuditNode.idx, AuditNode.hash).where(
    AuditNode.level.in_(sa.bindparam("levels", expanding=True)), AuditNode.idx.in_(sa.bindparam("idxs", expanding=True)))


def _hashes(session: Session, ranges: list[merkle.Range]) -> list[bytes]:
    perfect = _perfect(session, merkle.needed_nodes(ranges))
    return [merkle.range_hash(lo, hi, perfect) for lo, hi in ranges]


def root_hash(session: Session, size: int) -> bytes:
    """MTH of the first ``size`` stored leaves."""
    return _hashes(session, [(0, size)])[0] if size else merkle.EMPTY_ROOT


_EVENT_COLUMNS = (AuditEvent.id, AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.outcome,
                  AuditEvent.code, AuditEvent.subject_type, AuditEvent.subject_id, AuditEvent.detail,
                  AuditEvent.request_id, AuditEvent.prev_hash, AuditEvent.hash)


def sync_tree(session: Session, *, limit: int | None = None, batch: int = 5000) -> tuple[int, int]:
    """Take the events written since the last sync into the tree (in id order, under the
    append lock, so no event can commit before one already taken in), at most ``limit`` of
    them; returns the tree's size and how many were taken in.  The lock holds back every
    append until the transaction ends: a long backlog is better taken in a few thousand
    events a transaction (:func:`app.audit.jobs.sign_tree_head`)."""
    _lock(session)
    last = session.execute(sa.select(AuditLeaf.idx, AuditLeaf.event_id).order_by(AuditLeaf.idx.desc()).limit(1)
                           ).first()
    size, after = (0, 0) if last is None else (int(last[0]) + 1, int(last[1]))
    pieces = merkle.perfect_pieces(0, size)
    known = _perfect(session, {merkle.node_of(a, b) for a, b in pieces})
    tree = merkle.CompactRange.of(size, lambda level, i: known[(level, i)])
    while limit is None or tree.size - size < limit:
        step = batch if limit is None else min(batch, limit - (tree.size - size))
        rows = session.execute(sa.select(*_EVENT_COLUMNS).where(AuditEvent.id > after)
                               .order_by(AuditEvent.id).limit(step)).all()
        if not rows:
            break
        leaves: list[dict[str, Any]] = []
        nodes: list[dict[str, Any]] = []
        for row in rows:
            h = leaf_hash(row)
            leaves.append({"idx": tree.size, "event_id": row.id, "hash": h})
            nodes.extend({"level": level, "idx": i, "hash": n} for level, i, n in tree.append(h))
            after = row.id
        session.execute(sa.insert(AuditLeaf), leaves)
        if nodes:
            session.execute(sa.insert(AuditNode), nodes)
    return tree.size, tree.size - size


def head_payload(tree_size: int, root: str, timestamp: int, kid: str) -> dict[str, Any]:
    """What a tree head's JWS signs: RFC 9162's ``TreeHeadDataV2`` (size, root, time) as
    JSON, with the key that signs it."""
    return {"tree_size": tree_size, "root_hash": root, "timestamp": timestamp, "kid": kid}


def sign_head(session: Session, keys: SigningKeys) -> TreeHead:
    """Take the new events into the tree and sign its head (in the caller's transaction;
    the caller also writes it out of the database, :func:`publish_head`)."""
    size, _ = sync_tree(session)
    root = root_hash(session, size).hex()
    timestamp = to_ms(clock.now())
    signature = keys.sign(head_payload(size, root, timestamp, keys.active), STH_TYP)
    head = TreeHead(tree_size=size, root_hash=root, timestamp=timestamp, kid=keys.active, signature=signature)
    session.add(head)
    session.flush()
    return head


def latest_head(session: Session) -> TreeHead:
    head = session.scalar(sa.select(TreeHead).order_by(TreeHead.id.desc()).limit(1))
    if head is None:
        raise TreeHeadNotFound("尚未签名任何树头：运营人员可运行 powercredit audit sign-head 签名")
    return head


def get_head(session: Session, head_id: int) -> TreeHead:
    head = session.get(TreeHead, head_id)
    if head is None:
        raise TreeHeadNotFound(f"没有编号为 {head_id} 的树头")
    return head


def list_heads(session: Session, page: int = 1, per_page: int = 50) -> Page[TreeHead]:
    return paginate(session, sa.select(TreeHead).order_by(TreeHead.id.desc()), page, per_page)


def head_document(head: TreeHead) -> dict[str, Any]:
    """A signed tree head as published (API, files): its fields and the JWS over them."""
    return {"tree_size": head.tree_size, "root_hash": head.root_hash, "timestamp": head.timestamp,
            "kid": head.kid, "signature": head.signature}


# --- proofs ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class InclusionProof:
    event_id: int
    leaf_index: int
    tree_size: int
    leaf_data: str
    leaf_hash: str
    audit_path: list[str]
    root_hash: str
    tree_head: TreeHead | None


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    first_root: str
    second_root: str
    consistency_path: list[str]
    tree_head: TreeHead | None


def _signed_size(session: Session, name: str, size: int | None) -> tuple[int, TreeHead]:
    """``size`` (default: the latest signed head's), checked against the latest signed head."""
    latest = latest_head(session)
    if size is None:
        return latest.tree_size, latest
    if size > latest.tree_size:
        raise InvalidInput("树的大小超过最新签名树头", errors={
            f"query.{name}": [f"不能超过最新签名树头的大小 {latest.tree_size}。"]})
    return size, latest


def _head_of_size(session: Session, size: int) -> TreeHead | None:
    return session.scalar(sa.select(TreeHead).where(TreeHead.tree_size == size).order_by(TreeHead.id.desc()).limit(1))


def inclusion_proof(session: Session, event_id: int, size: int | None = None, *,
                    uscc: str | None = None) -> InclusionProof:
    """The audit path of an event's leaf in the tree of ``size`` leaves (RFC 9162 §2.1.3).
    With ``uscc`` (a firm asking) only for an event about that firm; any other is "not found"."""
    event = session.get(AuditEvent, event_id)
    if event is None or (uscc is not None and uscc_of(event.detail) != uscc):
        raise AuditEventNotFound(f"没有编号为 {event_id} 的审计事件" + ("（或它与本企业无关）" if uscc else ""))
    leaf = session.scalar(sa.select(AuditLeaf).where(AuditLeaf.event_id == event_id))
    size, latest = _signed_size(session, "tree_size", size)
    if leaf is None:
        raise NotYetInTree(f"审计事件 {event_id} 尚未纳入已签名的树头（最新树头含 {latest.tree_size} 条）："
                           "请待下一次定时签名，或请运营人员立即签名后再取证明")
    if size <= leaf.idx:
        raise InvalidInput("树的大小须包含该事件", errors={
            "query.tree_size": [f"该事件是第 {leaf.idx} 片叶子（从 0 起），树的大小至少为 {leaf.idx + 1}。"]})
    ranges = merkle.inclusion_ranges(leaf.idx, size)
    path = _hashes(session, [*ranges, (0, size)])
    return InclusionProof(event_id=event_id, leaf_index=leaf.idx, tree_size=size, leaf_data=leaf_data(event).decode(),
                          leaf_hash=bytes(leaf.hash).hex(), audit_path=[h.hex() for h in path[:-1]],
                          root_hash=path[-1].hex(), tree_head=_head_of_size(session, size))


def consistency_proof(session: Session, first: int, second: int | None = None) -> ConsistencyProof:
    """The proof that the tree of ``second`` leaves extends the tree of ``first`` (RFC 9162
    §2.1.4): only hashes, for anyone."""
    second, _ = _signed_size(session, "second", second)
    if first > second:
        raise InvalidInput("first 不能大于 second", errors={"query.first": [f"不能大于 second（{second}）。"]})
    ranges = merkle.consistency_ranges(first, second)
    hashes = _hashes(session, [*ranges, (0, first), (0, second)])
    return ConsistencyProof(first=first, second=second, first_root=hashes[-2].hex(), second_root=hashes[-1].hex(),
                            consistency_path=[h.hex() for h in hashes[:-2]], tree_head=_head_of_size(session, second))


# --- outside the database ---------------------------------------------------------------------

HEADS_FILE = "tree-heads.jsonl"  # every signed head, one JSON object a line, appended
LATEST_FILE = "tree-head.json"  # the latest one


def heads_folder(instance_path: Path) -> Path:
    return instance_path / "audit"


def publish_head(folder: Path, head: dict[str, Any]) -> None:
    """Append a signed head to ``tree-heads.jsonl`` (synced to disk) and make it the latest
    (``tree-head.json``, replaced atomically).  Copy them off the machine (a write-once
    store, a witness) and the database's own operator can no longer rewrite the past."""
    folder.mkdir(parents=True, exist_ok=True)
    line = json.dumps(head, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    with open(folder / HEADS_FILE, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp = folder / (LATEST_FILE + ".tmp")
    tmp.write_text(json.dumps(head, ensure_ascii=False, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, folder / LATEST_FILE)


# --- verification ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SignedHead:
    """A tree head whose signature verified, and where it was found."""

    tree_size: int
    root_hash: str
    timestamp: int
    kid: str
    source: str

    @property
    def key(self) -> tuple[int, str, int]:
        return self.tree_size, self.root_hash, self.timestamp

    def describe(self, *, where: bool = True) -> str:
        at = from_ms(self.timestamp).astimezone(clock.BEIJING)
        return f"大小 {self.tree_size}，签于 {at:%Y-%m-%d %H:%M:%S}，密钥 {self.kid}" + (f"，见{self.source}" if where else "")


@dataclass
class HeadSet:
    """The signed heads to check the log against, with what was wrong with the others."""

    heads: list[SignedHead] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    from_file: int = 0
    from_database: int = 0


def check_head(doc: Any, jwks: dict[str, Any], source: str) -> SignedHead:
    """A published tree head whose JWS verifies with ``jwks`` and says what the head says."""
    if not isinstance(doc, dict) or not isinstance(doc.get("signature"), str):
        raise SignatureInvalid("不是树头（缺少 signature）")
    payload = verify_jws(doc["signature"], jwks, typ=STH_TYP)
    try:
        head = SignedHead(int(payload["tree_size"]), str(payload["root_hash"]), int(payload["timestamp"]),
                          str(payload["kid"]), source)
    except (KeyError, TypeError, ValueError) as exc:
        raise SignatureInvalid("签名内容不是树头") from exc
    if {k: doc.get(k) for k in ("tree_size", "root_hash", "timestamp", "kid")} != payload:
        raise SignatureInvalid("记录的树头与其签名的内容不符")
    return head


def gather_heads(session: Session, files: list[Path], jwks: dict[str, Any]) -> HeadSet:
    """Every signed head in the files kept outside the database and in its table, each
    signature checked.  A head in one place but not the other is noted (a lost file, a
    failed commit): both are checked against the log all the same."""
    found = HeadSet()
    outside: set[tuple[int, str, int]] = set()
    for path in files:
        if not path.exists():
            found.notes.append(f"库外没有树头文件 {path}")
            continue
        lines = path.read_text(encoding="utf-8").splitlines() if path.suffix == ".jsonl" else [path.read_text()]
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"库外文件 {path.name}" + (f" 第 {n} 行" if path.suffix == ".jsonl" else "")
            try:
                head = check_head(json.loads(line), jwks, where)
            except ValueError:
                found.problems.append(f"{where}不是合法的 JSON：树头文件被改动")
                continue
            except SignatureInvalid as exc:
                found.problems.append(f"{where}的树头无效：{exc}")
                continue
            if head.key not in outside:
                outside.add(head.key)
                found.heads.append(head)
                found.from_file += 1
    inside: set[tuple[int, str, int]] = set()
    for row in session.scalars(sa.select(TreeHead).order_by(TreeHead.id)):
        where = f"数据库树头 #{row.id}"
        try:
            head = check_head(head_document(row), jwks, where)
        except SignatureInvalid as exc:
            found.problems.append(f"{where}无效：{exc}")
            continue
        inside.add(head.key)
        found.from_database += 1
        if head.key not in outside:
            found.heads.append(head)
            if files:
                found.notes.append(f"{where}（{head.describe(where=False)}）不在库外文件中")
    if files:
        for head in found.heads:
            if head.key in outside and head.key not in inside:
                found.notes.append(f"{head.source}的树头（{head.describe(where=False)}）不在数据库中")
    return found


@dataclass
class Verdict:
    events: int = 0
    heads_checked: int = 0
    newest: SignedHead | None = None
    problems: list[str] = field(default_factory=list)
    more_problems: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str, limit: int = 20) -> None:
        if len(self.problems) < limit:
            self.problems.append(text)
        else:
            self.more_problems += 1


def count_events(session: Session) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0)


def verify_log(session: Session, heads: list[SignedHead], *, batch: int = 5000,
               on_progress: Callable[[int], None] | None = None) -> Verdict:
    """Recompute the whole log: the chain, every leaf (against the stored tree, which names
    the event that differs) and the root at every signed head's size.  Finds an edited event,
    a deleted one (in the middle or at the end) and a rewrite whose hashes were recomputed."""
    verdict = Verdict(heads_checked=len(heads))
    verdict.newest = max(heads, key=lambda h: (h.tree_size, h.timestamp), default=None)
    checkpoints: dict[int, list[SignedHead]] = {}
    for head in heads:
        checkpoints.setdefault(head.tree_size, []).append(head)
    for size, same in sorted(checkpoints.items()):
        roots = {h.root_hash for h in same}
        if len(roots) > 1:  # two signed statements of one size that disagree: a rewrite signed anew
            verdict.problem(f"大小 {size} 有 {len(roots)} 个根哈希不同的签名树头（"
                            + "；".join(h.describe() for h in same) + "）：日志在签名后被改写并重新签名")
    matched = 0  # the largest signed size whose root agrees so far
    tree = merkle.CompactRange()
    prev, after, position_off = GENESIS, 0, False
    for head in checkpoints.get(0, []):
        _check_root(verdict, head, tree.root(), matched)
    while True:
        rows = session.execute(sa.select(*_EVENT_COLUMNS).where(AuditEvent.id > after)
                               .order_by(AuditEvent.id).limit(batch)).all()
        if not rows:
            break
        last_id = rows[-1].id
        stored = {int(e): (int(i), bytes(h)) for i, e, h in session.execute(
            sa.select(AuditLeaf.idx, AuditLeaf.event_id, AuditLeaf.hash)
            .where(AuditLeaf.event_id > after, AuditLeaf.event_id <= last_id))}
        ids = {row.id for row in rows}
        for event_id, (idx, _) in sorted(stored.items()):
            if event_id not in ids:
                verdict.problem(f"第 {event_id} 号事件已入树（第 {idx} 片叶子，从 0 起）却不在日志中：被删除")
        for row in rows:
            position = tree.size
            digest = _digest(row.prev_hash, row)
            if digest != row.hash:
                verdict.problem(f"第 {row.id} 号事件的内容与其链式摘要不符：被改写")
            elif row.prev_hash != prev:
                verdict.problem(f"第 {row.id} 号事件与上一条事件断链：其前的事件被删除、插入或改写")
            prev = row.hash
            h = leaf_hash(row)
            if row.id in stored:
                idx, kept = stored[row.id]
                if kept != h:
                    verdict.problem(f"第 {row.id} 号事件与入树时（第 {idx} 片叶子）不符：被改写")
                elif idx != position and not position_off:
                    position_off = True
                    verdict.problem(f"第 {row.id} 号事件入树时是第 {idx} 片叶子，现在排第 {position}：其前的事件被删除或插入")
            tree.append(h)
            for head in checkpoints.get(tree.size, []):
                if _check_root(verdict, head, tree.root(), matched):
                    matched = head.tree_size
        after = last_id
        verdict.events = tree.size
        if on_progress is not None:
            on_progress(tree.size)
    beyond = session.execute(sa.select(sa.func.count(), sa.func.min(AuditLeaf.event_id), sa.func.max(AuditLeaf.event_id))
                             .where(AuditLeaf.event_id > after)).one()
    if beyond[0]:
        verdict.problem(f"第 {beyond[1]}–{beyond[2]} 号事件（{beyond[0]} 条）已入树却不在日志中：日志末尾被删除")
    for size in sorted(s for s in checkpoints if s > tree.size):
        for head in checkpoints[size]:
            verdict.problem(f"日志只有 {tree.size} 条事件，少于已签名树头的 {size} 条（{head.describe()}）："
                            f"至少 {size - tree.size} 条被删除")
    return verdict


def _check_root(verdict: Verdict, head: SignedHead, root: bytes, matched: int) -> bool:
    if root.hex() == head.root_hash:
        return True
    verdict.problem(f"前 {head.tree_size} 条事件的根哈希与签名树头不符（{head.describe()}）："
                    f"签名后日志被改写，差异在第 {matched + 1}–{head.tree_size} 条之间（按 id 顺序，从 1 起）")
    return False
