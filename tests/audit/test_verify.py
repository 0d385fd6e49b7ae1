"""``powercredit audit sign-head`` and ``audit verify`` on a database of their own: an intact
log passes; an edited event, a deleted one in the middle, a deleted tail and a rewrite whose
chain, tree and database tree heads were all recomputed (and re-signed) are each found and
named, with exit status 1.  And migration 0016 goes up and down."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from app.audit import jobs
from app.audit import services as audit
from app.audit.models import AuditEvent, AuditLeaf, AuditNode, TreeHead
from app.cli import main
from app.core import clock, migrate
from app.core.config import load_settings
from app.core.db import Database, JSONType
from app.core.signing import SigningKeys, load_signing_keys
from tests.audit import rfc9162

FIRM = "91330106MA2B3C4D5E"


@dataclass
class Log:
    database: Database
    instance: Path
    runner: CliRunner

    def run(self, *args: str) -> Any:
        return self.runner.invoke(main, ["audit", *args])

    def ids(self) -> list[int]:
        with self.database.session() as session:
            return list(session.scalars(sa.select(AuditEvent.id).order_by(AuditEvent.id)))


@pytest.fixture
def log(fresh_databases, tmp_path, monkeypatch) -> Any:
    """40 events under two signed heads (30, then 40), and 3 more not yet signed."""
    url = fresh_databases.new()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setattr(jobs, "CHUNK", 7)  # a backlog is taken in a few events a transaction
    database = Database(url)
    made = Log(database, tmp_path / "instance", CliRunner())

    def append(n: int, start: int) -> None:
        with database.transaction() as session:
            for i in range(start, start + n):
                audit.record(session, f"client:pc_bank{i % 3}", "gate.access", subject_type="consent",
                             subject_id=f"cst_{i}", detail={"uscc": FIRM, "query_log_id": i, "purpose": "贷前审查"})

    try:
        append(30, 0)
        assert made.run("sign-head").exit_code == 0
        append(10, 30)
        signed = made.run("sign-head")
        assert signed.exit_code == 0 and "大小 40" in signed.output, signed.output
        append(3, 40)
        yield made
    finally:
        database.dispose()


def rechain(session: Any) -> None:
    """What an operator with the database (and the code) does after editing events: every
    chain hash recomputed, so that the chain alone verifies again."""
    prev = audit.GENESIS
    for event in session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)):
        event.prev_hash = prev
        event.hash = prev = audit._digest(prev, event)
        session.flush()


def test_an_intact_log_verifies_against_every_signed_head(log) -> None:
    result = log.run("verify")
    assert result.exit_code == 0, result.output
    assert "审计日志完整：43 条" in result.output
    assert "与 2 个签名树头一致" in result.output and "最新：大小 40" in result.output
    assert "其后新增 3 条" in result.output and "校验审计日志" in result.output  # the progress bar
    heads = [json.loads(line) for line in (log.instance / "audit" / "tree-heads.jsonl").read_text().splitlines()]
    assert [h["tree_size"] for h in heads] == [30, 40]
    with log.database.session() as session:
        rows = list(session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))
        assert heads[1]["root_hash"] == rfc9162.mth([rfc9162.event_bytes(e) for e in rows[:40]]).hex()


def edit(log: Log) -> str:
    victim = log.ids()[16]
    with log.database.transaction() as session:
        session.execute(sa.update(AuditEvent).where(AuditEvent.id == victim).values(actor="client:someone-else"))
    return f"第 {victim} 号事件的内容与其链式摘要不符：被改写"


def delete_middle(log: Log) -> str:
    victim = log.ids()[16]
    with log.database.transaction() as session:
        session.execute(sa.delete(AuditEvent).where(AuditEvent.id == victim))
    return f"第 {victim} 号事件已入树（第 16 片叶子，从 0 起）却不在日志中：被删除"


def delete_tail(log: Log) -> str:
    tail = log.ids()[35:]
    with log.database.transaction() as session:
        session.execute(sa.delete(AuditEvent).where(AuditEvent.id.in_(tail)))
    return "日志只有 35 条事件，少于已签名树头的 40 条"


def rewrite_and_recompute(log: Log) -> str:
    """Edit an event, recompute the chain, rebuild the tree from the edited log, replace the
    database's tree heads with one signed anew (the operator holds the key): inside the
    database everything agrees again."""
    victim = log.ids()[20]
    settings = load_settings()
    with log.database.transaction() as session:
        session.execute(sa.update(AuditEvent).where(AuditEvent.id == victim).values(detail={"uscc": FIRM}))
        rechain(session)
        for table in (AuditLeaf, AuditNode, TreeHead):
            session.execute(sa.delete(table))
        audit.sign_head(session, load_signing_keys(settings))
    with log.database.session() as session:
        assert all(ok for _, ok in audit.verify_chain(session))  # the chain alone no longer sees it
    return "前 30 条事件的根哈希与签名树头不符"


@pytest.mark.parametrize("tamper", [edit, delete_middle, delete_tail, rewrite_and_recompute],
                         ids=lambda f: f.__name__)
def test_tampering_is_found_and_named(log, tamper: Callable[[Log], str]) -> None:
    expected = tamper(log)
    result = log.run("verify")
    assert result.exit_code == 1, result.output
    assert "审计日志校验未通过" in result.output and expected in result.output, result.output


def test_the_rewrite_is_found_only_by_the_heads_kept_outside_the_database(log) -> None:
    rewrite_and_recompute(log)
    copy = log.instance.parent / "witness.jsonl"
    copy.write_text((log.instance / "audit" / "tree-heads.jsonl").read_text())
    # With the files gone, the database agrees with itself (and says what is missing).
    for name in ("tree-heads.jsonl", "tree-head.json"):
        (log.instance / "audit" / name).unlink()
    alone = log.run("verify")
    assert alone.exit_code == 0 and "库外没有树头文件" in alone.output, alone.output
    # A copy kept elsewhere (a witness) finds it, and says between which events it lies.
    witnessed = log.run("verify", "--heads", str(copy))
    assert witnessed.exit_code == 1, witnessed.output
    assert "差异在第 1–30 条之间" in witnessed.output and "不在库外文件中" in witnessed.output


def test_a_forged_or_damaged_tree_head_file_is_refused(log) -> None:
    path = log.instance / "audit" / "tree-heads.jsonl"
    lines = path.read_text().splitlines()
    forged = json.loads(lines[0]) | {"root_hash": "0" * 64}
    path.write_text("\n".join([json.dumps(forged), lines[1], "{not json"]) + "\n")
    result = log.run("verify")
    assert result.exit_code == 1
    assert "第 1 行的树头无效：记录的树头与其签名的内容不符" in result.output
    assert "第 3 行不是合法的 JSON" in result.output


def test_a_log_never_signed_checks_its_chain(fresh_databases, tmp_path, monkeypatch) -> None:
    url = fresh_databases.new()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path))
    database = Database(url)
    try:
        with database.transaction() as session:
            audit.record(session, "system", "test.event")
        result = CliRunner().invoke(main, ["audit", "verify"])
        assert result.exit_code == 0 and "1 条，哈希链无断裂。尚无签名树头" in result.output, result.output
        assert not (tmp_path / "signing-keys.json").exists()  # checking creates no key
    finally:
        database.dispose()


def test_migration_0016_up_and_down(fresh_databases) -> None:
    """Events written before 0016 keep their chain, get the firm they are about, and are
    taken into the tree by the first signing; 0016 comes off and goes back on."""
    url = fresh_databases.new()
    migrate.downgrade(url, rev="0015")
    old = sa.table("audit_event", *(sa.column(c) for c in ("at", "actor", "action", "outcome", "prev_hash", "hash")),
                   sa.column("detail", JSONType))
    database = Database(url)
    try:
        with database.engine.begin() as conn:
            prev = audit.GENESIS
            for i, detail in enumerate(({"uscc": FIRM}, {"uscc": "x" * 30}, {"format": "pdf"})):
                row = AuditEvent(id=i + 1, at=clock.now(), actor="system", action="test.old", outcome="ok",
                                 code=None, subject_type=None, subject_id=None, detail=detail, request_id=None)
                digest = audit._digest(prev, row)
                conn.execute(sa.insert(old).values(at=row.at, actor="system", action="test.old", outcome="ok",
                                                   detail=detail, prev_hash=prev, hash=digest))
                prev = digest
        migrate.upgrade(url)
        with database.transaction() as session:
            assert list(session.scalars(sa.select(AuditEvent.uscc).order_by(AuditEvent.id))) == [FIRM, None, None]
            assert all(ok for _, ok in audit.verify_chain(session))
            head = audit.sign_head(session, SigningKeys.generate())
            assert head.tree_size == 3
        migrate.downgrade(url, rev="0015")
        with database.engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            assert not tables & {"audit_leaf", "audit_node", "audit_tree_head"}
            assert "uscc" not in {c["name"] for c in sa.inspect(conn).get_columns("audit_event")}
            assert conn.execute(sa.select(sa.func.count()).select_from(sa.table("audit_event"))).scalar() == 3
        migrate.upgrade(url)
        with database.session() as session:
            assert all(ok for _, ok in audit.verify_chain(session))
    finally:
        database.dispose()
