"""The audit log stays one unbroken chain when many requests append at once: each append
reads the chain's head only once it holds the append lock (on PostgreSQL an advisory lock,
sent with the read in one round trip; on SQLite the write lock every writing transaction
takes as it begins, ``BEGIN IMMEDIATE``)."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from app.audit import services as audit
from app.audit.models import AuditEvent
from app.core.db import Database

THREADS, EACH = 6, 15


def test_concurrent_appends_keep_one_unbroken_chain(fresh_databases) -> None:
    database = Database(fresh_databases.new())
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            barrier.wait()
            for k in range(EACH):
                with database.transaction() as session:
                    audit.record(session, f"worker:{worker}", "test.append", subject_type="probe",
                                 subject_id=str(k), detail={"worker": worker, "k": k})
        except BaseException as error:  # noqa: BLE001 — reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=append, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert errors == []
        with database.session() as session:
            checked = list(audit.verify_chain(session))
            prev_hashes = session.scalars(sa.select(AuditEvent.prev_hash)).all()
        assert len(checked) == THREADS * EACH
        assert all(ok for _, ok in checked), [i for i, ok in checked if not ok][:5]
        assert len(set(prev_hashes)) == len(prev_hashes)  # no two events follow the same one: no fork
    finally:
        database.dispose()
