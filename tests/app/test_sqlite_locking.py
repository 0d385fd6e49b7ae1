"""SQLite, the embedded default, with several workers: a transaction that may write takes
the write lock as it begins (``BEGIN IMMEDIATE``), so a read-then-write never fails because
another connection committed in between; GET views read in DEFERRED transactions beside a
writer; and a write that cannot get the lock is a 503 problem, not a 500.  (Concurrent
requests through a real server: ``tests/consent/test_live.py``, ``test_audit_chain.py``.)"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, Response, redirect

from app import create_app
from app.audit import services as audit
from app.audit.models import AuditEvent
from app.core import db as db_module
from app.core import migrate
from app.core.db import Database
from app.core.extensions import db_session, writes


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "locking.db"
    migrate.upgrade(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE probe_outside (n INTEGER)")
    conn.commit()
    conn.close()
    yield path


def outside_commit(path: Path, timeout: float = 0.2) -> None:
    """Another process's write: a committed change to the file."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        conn.execute("INSERT INTO probe_outside VALUES (1)")
    finally:
        conn.close()


def test_a_read_then_write_survives_another_commit_in_between(sqlite_file: Path) -> None:
    database = Database(f"sqlite:///{sqlite_file}")
    go_on, committed = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def other() -> None:  # commits while the first transaction is between its read and its write
        go_on.wait(10)
        try:
            with database.transaction() as s:
                s.execute(sa.text("CREATE TABLE IF NOT EXISTS probe_other (n INTEGER)"))
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
        committed.set()

    thread = threading.Thread(target=other)
    thread.start()
    try:
        with database.transaction() as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0
            go_on.set()
            # The other transaction waits for the write lock this one holds (it would otherwise
            # commit now and make the INSERT below fail with "database is locked").
            assert not committed.wait(0.3)
            session.execute(sa.text("CREATE TABLE probe_mine (n INTEGER)"))
        thread.join(15)
        assert errors == []
        assert committed.is_set()
    finally:
        database.dispose()


def test_a_read_only_session_does_not_take_the_write_lock(sqlite_file: Path) -> None:
    database = Database(f"sqlite:///{sqlite_file}")
    try:
        with database.session(read_only=True) as reader:
            reader.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
            outside_commit(sqlite_file)  # would time out if the reader held the lock
            with pytest.raises(sa.exc.OperationalError, match="database is locked"):
                reader.execute(sa.text("INSERT INTO probe_outside VALUES (2)"))  # a stale reader may not write
            reader.rollback()
            database.for_writing(reader)
            reader.execute(sa.text("INSERT INTO probe_outside VALUES (3)"))  # its next transaction may
            reader.commit()
        with database.session() as check:
            assert check.scalars(sa.text("SELECT n FROM probe_outside ORDER BY n")).all() == [1, 3]
    finally:
        database.dispose()


@pytest.fixture
def probe_app(sqlite_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT_MS", 300)  # a held lock is waited for this long
    app = create_app({"database_url": f"sqlite:///{sqlite_file}", "instance_path": tmp_path / "instance",
                      "secret_key": "test-secret-key", "testing": True, "issuer": "http://localhost"})

    @app.get("/probe/late-write")
    def late_write() -> str:  # a GET view that writes but is not marked: a mistake, made on purpose
        session = db_session()
        session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        outside_commit(sqlite_file)
        session.execute(sa.text("INSERT INTO probe_outside VALUES (7)"))
        return "written"

    @app.get("/probe/marked-write")
    @writes
    def marked_write() -> str:
        session = db_session()
        session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            outside_commit(sqlite_file)  # this request holds the write lock
        session.execute(sa.text("CREATE TABLE IF NOT EXISTS probe_marked (n INTEGER)"))
        return "written"

    @app.get("/probe/refused-redirect")
    def refused_redirect() -> Response:  # a refusal told to the client by a redirect, as OAuth does
        session = db_session()
        session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        audit.refuse_later(session, audit.Pending(actor="probe", action="probe.refuse", code="refused"))
        return redirect("/elsewhere")

    yield app
    app.extensions["pc_db"].dispose()


@pytest.mark.writes_in_read_only_request
def test_a_write_that_cannot_get_the_lock_is_a_503_problem_and_writes_nothing(probe_app: Flask,
                                                                              sqlite_file: Path) -> None:
    resp = probe_app.test_client().get("/probe/late-write", headers={"Accept": "application/json"})
    assert resp.status_code == 503
    assert resp.mimetype == "application/problem+json"
    assert resp.json["code"] == "database_busy"
    assert "请稍后重试" in resp.json["detail"]
    assert resp.headers["Retry-After"] == "2"
    conn = sqlite3.connect(sqlite_file)
    try:
        assert conn.execute("SELECT n FROM probe_outside").fetchall() == [(1,)]  # not the 7
    finally:
        conn.close()


def test_a_get_view_marked_as_writing_holds_the_write_lock(probe_app: Flask, sqlite_file: Path) -> None:
    resp = probe_app.test_client().get("/probe/marked-write")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    conn = sqlite3.connect(sqlite_file)
    try:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'probe_marked'").fetchall() != []
    finally:
        conn.close()


def test_pages_are_served_while_another_process_holds_the_write_lock(probe_app: Flask, sqlite_file: Path) -> None:
    holder = sqlite3.connect(sqlite_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # an import in progress, say
    try:
        # A read-only GET does not queue for the lock (it would wait busy_timeout and get a 503).
        resp = probe_app.test_client().get("/verify/PC20261203AAAAAAAAAAAA", headers={"Accept": "application/json"})
        assert resp.status_code == 404
        assert resp.json["code"] == "report_not_found"
    finally:
        holder.rollback()
        holder.close()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_a_refusal_that_cannot_be_audited_in_time_is_a_503_not_a_500(probe_app: Flask, sqlite_file: Path) -> None:
    logged = _Records()
    logging.getLogger("app.core.extensions").addHandler(logged)
    client = probe_app.test_client()
    assert client.get("/probe/refused-redirect").status_code == 302  # the lock free: redirected, audited
    holder = sqlite3.connect(sqlite_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        resp = client.get("/probe/refused-redirect", headers={"Accept": "application/json"})
    finally:
        holder.rollback()
        holder.close()
        logging.getLogger("app.core.extensions").removeHandler(logged)
    assert resp.status_code == 503
    assert resp.json["code"] == "database_busy"
    text = "\n".join(logged.lines)
    assert "拒绝事件未能写入审计日志" in text and "probe.refuse" in text  # kept in the log
    conn = sqlite3.connect(sqlite_file)
    try:
        assert conn.execute("SELECT count(*) FROM audit_event WHERE action = 'probe.refuse'").fetchone() == (1,)
    finally:
        conn.close()
