"""Ingestion: one provider's batch of records validated, written and reported row by row.

The pipeline, chunk by chunk, inside the caller's transaction (one savepoint per batch):

1. **Validate** every row: the envelope, the provider's right to the category, the
   category's strict payload schema, the derived polarity/severity/dates, and a content
   digest over the canonical JSON.  Validation is CPU-bound Python, so with ``workers``
   it runs in worker processes while this process writes the previous chunk; the results
   come back in order, so the per-row report is the same either way.
2. **Classify** each valid row against what the provider sent before (one bulk lookup by
   ``provider_ref``): new, unchanged (same digest), or a correction (the old version is
   kept in ``credit_record_version``).
3. **Write** the new rows in bulk: ids are allocated up front (SQLite: the writer holds
   the database's write lock; PostgreSQL: one ``nextval`` call per chunk) and the rows go
   in with one ``executemany`` (SQLite) or ``COPY`` (PostgreSQL), not one ORM object per
   row.  Nothing is committed here: a crash or kill leaves the database as it was.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.archive.ingestion_results import (
    BATCH_ROW,
    BatchResult,
    RowResult,
    recordable,
    recordable_errors,
)
from app.archive.models import (
    Category,
    CreditRecord,
    CreditRecordVersion,
    DataProvider,
    IngestionRefusal,
    IngestionRun,
    Polarity,
    RecordStatus,
)
from app.archive.validation import ProviderRights, Refused, Valid, validate_rows
from app.core import clock, signals
from app.core.db import refresh_statistics

# What of its input a run and its refusals record fits their columns (``recordable``): a
# provider's reference on a refused row may be anything, a file's path longer than a column.
REFUSAL_REF_CHARS = cast(sa.String, IngestionRefusal.__table__.c.provider_ref.type).length or 128
FILENAME_CHARS = cast(sa.String, IngestionRun.__table__.c.filename.type).length or 500


def _filename(filename: str | None) -> str | None:
    return None if filename is None else recordable(filename, FILENAME_CHARS, keep_tail=True)


def _write_refusals(session: Session, run_id: int, refusals: Iterable[RowResult]) -> None:
    """The refused rows of a run, whatever they held: reference and errors ``recordable``."""
    values = [
        {"run_id": run_id, "row_index": r.index,
         "provider_ref": None if r.provider_ref is None else recordable(r.provider_ref, REFUSAL_REF_CHARS),
         "errors": recordable_errors(r.errors or {})}
        for r in refusals
    ]
    if values:
        session.execute(sa.insert(IngestionRefusal), values)


# --- writing ----------------------------------------------------------------------------

_INSERT_COLUMNS = (
    "id", "enterprise_id", "provider_id", "provider_ref", "category", "polarity", "severity",
    "occurred_on", "ended_on", "expires_on", "status", "payload", "content_digest", "version",
    "run_id", "received_at", "updated_at",
)


NULL, BACKSLASH = "\\N", "\\"


class _Writer:
    """Bulk insert of new records with ids allocated up front (no RETURNING round trip)."""

    def __init__(self, session: Session, now: dt.datetime) -> None:
        self.conn = session.connection()
        self.dialect = self.conn.dialect
        self.dialect_name = self.dialect.name
        self.postgres = self.dialect_name == "postgresql"
        stamp = CreditRecord.__table__.c.received_at.type.dialect_impl(self.dialect).bind_processor(self.dialect)
        self.now = stamp(now) if stamp else now
        self.next_id = 0

    def _ids(self, n: int) -> list[int]:
        if self.postgres:
            return list(self.conn.execute(
                sa.text("SELECT nextval(pg_get_serial_sequence('credit_record', 'id')) "
                        "FROM generate_series(1, :n)"), {"n": n}
            ).scalars().all())
        # SQLite: this transaction already holds the write lock (it wrote the run row), so
        # nobody else can insert between reading max(id) and the insert.
        if not self.next_id:
            self.next_id = (self.conn.scalar(sa.text("SELECT max(id) FROM credit_record")) or 0) + 1
        first, self.next_id = self.next_id, self.next_id + n
        return list(range(first, first + n))

    def insert(self, rows: list[tuple[Valid, int, str]], provider_id: int, run_id: int,
               want_ids: bool = True) -> list[int | None]:
        """Insert ``(valid, enterprise_id, status)`` rows; their new ids, in order (on
        PostgreSQL without ``want_ids``: ``None``s, and the column default numbers them)."""
        if self.postgres:
            ids: list[int | None] = list(self._ids(len(rows))) if want_ids else [None] * len(rows)
            self._copy(ids, rows, provider_id, run_id)
            return ids
        ids = list(self._ids(len(rows)))
        columns = ", ".join(_INSERT_COLUMNS)
        now = self.now
        values = [
            (rid, ent_id, provider_id, v.ref, v.category, v.polarity, v.severity, v.occurred_on,
             v.ended_on, v.expires_on, status, v.payload_json, v.digest, 1, run_id, now, now)
            for rid, (v, ent_id, status) in zip(ids, rows, strict=True)
        ]
        marks = ", ".join("?" * len(_INSERT_COLUMNS))
        self.conn.exec_driver_sql(f"INSERT INTO credit_record ({columns}) VALUES ({marks})", values)
        return ids

    def _copy(self, ids: list[int | None], rows: list[tuple[Valid, int, str]],
              provider_id: int, run_id: int) -> None:
        """PostgreSQL ``COPY … FROM STDIN`` in text format, the rows formatted here: every
        value is a validated code, number, ISO date or canonical JSON, so the only character
        COPY's text format needs escaped is the backslash inside JSON (JSON already escapes
        tabs and newlines)."""
        now = self.now.isoformat()
        tail = f"\t1\t{run_id}\t{now}\t{now}\n"
        numbered = ids[0] is not None
        columns = ", ".join(_INSERT_COLUMNS if numbered else _INSERT_COLUMNS[1:])
        lines = [
            f"{rid}\t{ent_id}\t{provider_id}\t{v.ref}\t{v.category}\t{v.polarity}\t{v.severity}\t"
            f"{v.occurred_on}\t{v.ended_on or NULL}\t{v.expires_on or NULL}\t{status}\t"
            f"{v.payload_json.replace(BACKSLASH, BACKSLASH * 2)}\t{v.digest}{tail}"
            for rid, (v, ent_id, status) in zip(ids, rows, strict=True)
        ]
        if not numbered:  # the id column's default numbers them
            lines = [line.partition("\t")[2] for line in lines]
        cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            with cursor.copy(f"COPY credit_record ({columns}) FROM STDIN") as copy:
                copy.write("".join(lines))  # psycopg encodes for the connection
        finally:
            cursor.close()


class _Ingestor:
    """Classifies and writes validated chunks of one batch inside one transaction."""

    ENTERPRISE_CACHE = 200_000  # USCC -> id entries kept between chunks

    def __init__(self, session: Session, provider: DataProvider, run: IngestionRun,
                 result: BatchResult, keep_rows: bool, today: str) -> None:
        self.session = session
        self.provider_id = provider.id
        self.run_id = run.id
        self.result = result
        self.keep_rows = keep_rows
        self.today = today
        self.now = clock.now()
        self.writer = _Writer(session, self.now)
        self.enterprise_ids: dict[str, int] = {}

    def _emit(self, row: RowResult) -> None:
        setattr(self.result, row.status, getattr(self.result, row.status) + 1)
        if row.status == "refused":
            self.result.refusals.append(row)
        if self.keep_rows:
            self.result.rows.append(row)

    # Lists go in as one bound JSON text (jsonb_array_elements_text, json_each), not as
    # thousands of parameters: the statement compiles once and no variable limit applies.
    _ENTERPRISES = {
        "postgresql": "SELECT uscc, id FROM enterprise "
                      "WHERE uscc IN (SELECT jsonb_array_elements_text(CAST(:codes AS jsonb)))",
        "sqlite": "SELECT uscc, id FROM enterprise WHERE uscc IN (SELECT value FROM json_each(:codes))",
    }
    # One index probe per ref (LATERAL … LIMIT 1): mid-import the table's statistics still
    # say "empty", and a plain join would scan every row the provider has sent so far.
    _EXISTING = {
        "postgresql": "SELECT r.id, q.ref, r.content_digest "
                      "FROM jsonb_array_elements_text(CAST(:refs AS jsonb)) AS q(ref) "
                      "CROSS JOIN LATERAL (SELECT c.id, c.content_digest FROM credit_record c "
                      "WHERE c.provider_id = :pid AND c.provider_ref = q.ref LIMIT 1) AS r",
        "sqlite": "SELECT id, provider_ref, content_digest FROM credit_record "
                  "WHERE provider_id = :pid AND provider_ref IN (SELECT value FROM json_each(:refs))",
    }

    @staticmethod
    def _list(values: list[str]) -> str:
        return json.dumps(values)

    def _lookup_enterprises(self, usccs: set[str]) -> None:
        if len(self.enterprise_ids) > self.ENTERPRISE_CACHE:  # bounded; clear before looking
            self.enterprise_ids.clear()
        missing = [u for u in usccs if u not in self.enterprise_ids]
        if not missing:
            return
        query = sa.text(self._ENTERPRISES[self.writer.dialect_name])
        self.enterprise_ids.update(self.session.execute(query, {"codes": self._list(missing)}).all())

    def _existing(self, refs: list[str]) -> dict[str, tuple[int | None, str]]:
        query = sa.text(self._EXISTING[self.writer.dialect_name])
        rows = self.session.execute(query, {"refs": self._list(refs), "pid": self.provider_id})
        return {ref: (rid, digest) for rid, ref, digest in rows}

    def _status_for(self, v: Valid) -> RecordStatus:
        if v.expires_on is not None and v.expires_on <= self.today:  # ISO text
            return RecordStatus.expired
        return RecordStatus.active

    def _insert(self, pending: list[Valid], known: dict[str, tuple[int | None, str]]) -> None:
        if not pending:
            return
        today, ent = self.today, self.enterprise_ids
        ids = self.writer.insert(
            [(v, ent[v.uscc], "expired" if v.expires_on is not None and v.expires_on <= today else "active")
             for v in pending],
            self.provider_id, self.run_id, want_ids=self.keep_rows,
        )
        self.result.accepted += len(pending)
        for v, rid in zip(pending, ids, strict=True):
            known[v.ref] = (rid, v.digest)
        if self.keep_rows:
            self.result.rows.extend(
                RowResult(v.row, "accepted", v.ref, record_id=rid) for v, rid in zip(pending, ids, strict=True)
            )
        pending.clear()

    def _correct(self, record_id: int | None, v: Valid) -> tuple[int, int]:
        """Supersede a record with ``v``; its id and new version."""
        if record_id is None:  # written earlier in this chunk without asking for its id
            record_id = self.session.scalars(
                sa.select(CreditRecord.id).where(CreditRecord.provider_id == self.provider_id,
                                                 CreditRecord.provider_ref == v.ref)
            ).one()
        rec = self.session.get_one(CreditRecord, record_id)
        self.session.add(
            CreditRecordVersion(
                record_id=rec.id, version=rec.version, polarity=rec.polarity, severity=rec.severity,
                occurred_on=rec.occurred_on, ended_on=rec.ended_on, expires_on=rec.expires_on,
                payload=rec.payload, content_digest=rec.content_digest, run_id=rec.run_id,
                received_at=rec.received_at, superseded_at=self.now, superseded_by_run_id=self.run_id,
            )
        )
        if rec.enterprise_id != self.enterprise_ids[v.uscc]:
            rec.enterprise_id = self.enterprise_ids[v.uscc]
        rec.category = Category(v.category)
        rec.polarity, rec.severity = Polarity(v.polarity), v.severity
        rec.occurred_on = dt.date.fromisoformat(v.occurred_on)
        rec.ended_on = dt.date.fromisoformat(v.ended_on) if v.ended_on else None
        rec.expires_on = dt.date.fromisoformat(v.expires_on) if v.expires_on else None
        rec.payload, rec.content_digest = v.payload, v.digest
        rec.version += 1
        rec.run_id = self.run_id
        rec.updated_at = self.now
        if rec.status not in (RecordStatus.disputed, RecordStatus.revoked):
            rec.status = (
                RecordStatus.expired if self._status_for(v) == RecordStatus.expired
                else RecordStatus.corrected
            )
        self.session.flush()
        return rec.id, rec.version

    def chunk(self, valid: list[Valid], refused: list[Refused]) -> None:
        self.result.total += len(valid) + len(refused)
        for bad in refused:
            self._emit(RowResult(bad.index, "refused", bad.ref, errors=bad.errors))
        if not valid:
            return
        self._lookup_enterprises({v.uscc for v in valid})
        known = self._existing(list({v.ref for v in valid}))
        pending: list[Valid] = []
        pending_refs: set[str] = set()
        for v in valid:
            if v.uscc not in self.enterprise_ids:
                self._emit(RowResult(v.row, "refused", v.ref,
                                     errors={"uscc": [f"企业 {v.uscc} 未在信用档案中登记，请先登记企业。"]}))
                continue
            if v.ref in pending_refs:  # the same ref twice in one chunk: write the first
                self._insert(pending, known)
                pending_refs.clear()
            prev = known.get(v.ref)
            if prev is None:
                pending.append(v)
                pending_refs.add(v.ref)
            elif prev[1] == v.digest:
                self._emit(RowResult(v.row, "unchanged", v.ref, record_id=prev[0]))
            else:
                rid, version = self._correct(prev[0], v)
                known[v.ref] = (rid, v.digest)
                self._emit(RowResult(v.row, "corrected", v.ref, record_id=rid, version=version))
        self._insert(pending, known)


def ingest_records(
    session: Session,
    provider: DataProvider,
    rows: Iterable[Any],
    *,
    source: str = "api",
    filename: str | None = None,
    mode: str = "partial",
    chunk_size: int = 1000,
    keep_rows: bool = True,
    workers: int = 0,
    on_chunk: Callable[[BatchResult], None] | None = None,
) -> BatchResult:
    """Validate and write a provider's batch.

    Good rows are written in one transaction (the caller's) while refused rows are reported
    with their index, field and reason.  ``mode="all_or_nothing"`` writes nothing when any
    row is refused.  Resending a row with the same ``provider_ref`` and content changes
    nothing; new content supersedes the old, which is kept as a version.  ``workers`` > 1
    validates in that many processes (for large files from the CLI; the web server keeps 0).
    """
    run = IngestionRun(provider_id=provider.id, source=source, filename=_filename(filename), mode=mode)
    session.add(run)
    session.flush()
    result = BatchResult(run_id=run.id, mode=mode)
    ingestor = _Ingestor(session, provider, run, result, keep_rows, clock.today().isoformat())
    savepoint = session.begin_nested()
    try:
        for valid, refused in validate_rows(ProviderRights.of(provider), rows, chunk_size, workers):
            ingestor.chunk(valid, refused)
            if on_chunk is not None:
                on_chunk(result)
    except BaseException:
        savepoint.rollback()
        raise
    result.rows.sort(key=lambda r: r.index)
    result.refusals.sort(key=lambda r: r.index)
    if mode == "all_or_nothing" and result.refused:
        savepoint.rollback()
        for row in result.rows:
            if row.status != "refused":
                row.status, row.record_id, row.version = "rolled_back", None, None
        result.accepted = result.unchanged = result.corrected = 0
    else:
        savepoint.commit()
        result.committed = True
    _write_refusals(session, run.id, result.refusals)
    run.total, run.accepted, run.unchanged = result.total, result.accepted, result.unchanged
    run.corrected, run.refused, run.committed = result.corrected, result.refused, result.committed
    run.finished_at = clock.now()
    session.flush()
    return result


@dataclass
class RefusedBatch:
    """A batch refused as a whole, recorded as its run in a transaction of its own once the
    batch's has rolled back (``record``), so that every batch leaves a run: a body too large,
    not UTF-8 or not JSON, empty or of too many rows, a file that could not be read, an
    all-or-nothing batch with refused rows, an error.  The run is ``committed=false`` with
    what is known of the batch: the rows it counted (``total``; none when the body could not
    be read), the refused rows of an all-or-nothing ``result``, and the ``reason`` the batch
    as a whole was refused for, a refusal at row ``BATCH_ROW`` (-1) under ``_batch``."""

    provider_id: int
    source: str
    mode: str
    filename: str | None = None
    reason: dict[str, list[str]] | None = None
    total: int = 0
    result: BatchResult | None = None
    started_at: dt.datetime = field(default_factory=clock.now)

    def because(self, detail: str, errors: Mapping[str, list[str]] | None = None) -> None:
        """Refused for ``detail`` (and the problem's ``errors``, ``_batch`` first)."""
        given = dict(errors or {})
        self.reason = {"_batch": [detail, *given.pop("_batch", [])], **given}

    def record(self, session: Session) -> None:
        """Write the run and its refusals (flushed, not committed: the caller commits)."""
        result = self.result
        run = IngestionRun(
            provider_id=self.provider_id, source=self.source, filename=_filename(self.filename), mode=self.mode,
            started_at=self.started_at, finished_at=clock.now(), total=result.total if result else self.total,
            refused=result.refused if result else 0, committed=False,
        )
        session.add(run)
        session.flush()
        refusals = list(result.refusals) if result else []
        if self.reason:
            refusals.insert(0, RowResult(BATCH_ROW, "refused", errors=self.reason))
        _write_refusals(session, run.id, refusals)
        session.flush()


# Who re-evaluates the firms a batch changed: scoring, a layer above, hands it in at start-up
# (``app.wiring``); it answers how many firms it re-evaluated.
Reevaluate = Callable[[Session, int], int]
_reevaluate: list[Reevaluate] = []


def set_reevaluation(reevaluate: Reevaluate) -> None:
    _reevaluate[:] = [reevaluate]


def submit_batch(session: Session, provider: DataProvider, rows: Iterable[Any], *, reevaluate: bool = True,
                 **ingest: Any) -> BatchResult:
    """A provider's batch, however it arrives (the API, a file): ingested row by row (or all or
    nothing), then, once written, the planner's statistics refreshed after a large load
    (``ANALYZE`` on PostgreSQL) and the firms whose records it wrote or corrected re-evaluated."""
    result = ingest_records(session, provider, rows, **ingest)
    if not result.committed:
        return result
    if result.accepted or result.corrected:  # monitoring's events, in this transaction
        signals.records_written.send(None, session=session, run_id=result.run_id)
    result.analysed = refresh_statistics(session, result.accepted + result.corrected,
                                         ("credit_record", "credit_record_version"))
    if reevaluate and (result.accepted or result.corrected):
        if not _reevaluate:
            raise RuntimeError("re-evaluation after a batch is not wired: call app.wiring.wire() at start-up")
        result.reevaluated = _reevaluate[0](session, result.run_id)
    return result
