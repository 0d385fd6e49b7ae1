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
import hashlib
import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from app.archive.categories import CATEGORIES, RETENTION_YEARS
from app.archive.models import (
    CATEGORY_LABELS,
    Category,
    CreditRecord,
    CreditRecordVersion,
    DataProvider,
    IngestionRefusal,
    IngestionRun,
    Polarity,
    RecordStatus,
)
from app.archive.schemas import PROVIDER_REF_PATTERN, RecordInSchema
from app.archive.uscc import check_uscc
from app.core import clock
from app.core.db import refresh_statistics
from app.core.errors import flatten_messages, json_error_text
from app.core.workers import make_pool

# --- results ----------------------------------------------------------------------------


class RowError:
    """A row a reader could not even parse (bad JSON line, bad CSV shape)."""

    def __init__(self, message: str) -> None:
        self.message = message


class JsonLine:
    """One NDJSON line, parsed where it is validated (in a worker process, with ``workers``)."""

    __slots__ = ("line_no", "text")

    def __init__(self, line_no: int, text: str) -> None:
        self.line_no = line_no
        self.text = text

    def __reduce__(self) -> tuple[type[JsonLine], tuple[int, str]]:
        return JsonLine, (self.line_no, self.text)

    def parse(self) -> Any:
        try:
            return json.loads(self.text, parse_float=Decimal)
        except ValueError as exc:
            return RowError(f"第 {self.line_no} 行不是合法的 JSON：{json_error_text(exc)}。")
        except RecursionError:
            return RowError(f"第 {self.line_no} 行的 JSON 嵌套过深。")


@dataclass
class RowResult:
    index: int
    status: str  # accepted | unchanged | corrected | refused | rolled_back
    provider_ref: str | None = None
    record_id: int | None = None
    version: int | None = None
    errors: dict[str, list[str]] | None = None


@dataclass
class BatchResult:
    run_id: int
    mode: str
    committed: bool = False
    total: int = 0
    accepted: int = 0
    unchanged: int = 0
    corrected: int = 0
    refused: int = 0
    reevaluated: int = 0  # firms re-evaluated after the batch (submit_batch)
    analysed: bool = False  # the planner's statistics refreshed after a large load (submit_batch)
    rows: list[RowResult] = field(default_factory=list)
    refusals: list[RowResult] = field(default_factory=list)


# --- validation -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderRights:
    """What validation needs to know about a provider (picklable, for worker processes)."""

    code: str
    active: bool
    categories: frozenset[str]

    @classmethod
    def of(cls, provider: DataProvider) -> ProviderRights:
        return cls(provider.code, provider.active, frozenset(provider.categories))

    def may_submit(self, category: str) -> bool:
        return self.active and category in self.categories


class Valid(NamedTuple):
    """A validated, normalised record: what gets written (a tuple: cheap to pickle)."""

    row: int  # index of the row in its batch
    ref: str
    uscc: str
    category: str
    polarity: str
    severity: int
    # Dates as ISO text, as written (text sorts as dates do; cheap to pickle and to COPY).
    occurred_on: str
    ended_on: str | None
    expires_on: str | None
    payload_json: str  # canonical JSON (sorted keys), stored as is
    digest: str

    @property
    def payload(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.payload_json)
        return loaded


@dataclass(slots=True)
class Refused:
    index: int
    ref: str | None
    errors: dict[str, list[str]]


def _json_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def content_digest(uscc: str, category: str, payload: Mapping[str, Any], ended_on: dt.date | None) -> str:
    """SHA-256 over ``[uscc, category, payload, ended_on]`` as canonical JSON (sorted keys,
    no spaces, UTF-8; amounts and dates as strings)."""
    return _digest(uscc, category, _CANONICAL.encode(payload), ended_on)


def _digest(uscc: str, category: str, payload_json: str, ended_on: dt.date | None) -> str:
    # Byte for byte the canonical JSON of the list, with the payload encoded only once
    # (uscc and category are validated ASCII codes: nothing to escape).
    end = f'"{ended_on.isoformat()}"' if ended_on else "null"
    return hashlib.sha256(f'["{uscc}","{category}",{payload_json},{end}]'.encode()).hexdigest()


_ENVELOPE = RecordInSchema()
_ENVELOPE_KEYS = frozenset(("provider_ref", "uscc", "category", "payload"))
_REF = re.compile(PROVIDER_REF_PATTERN)


def _fast_envelope(raw: Mapping[str, Any]) -> tuple[str, str, str, Mapping[str, Any]] | None:
    """The envelope of the common, clean row without marshmallow's per-field machinery.

    Accepts only what ``RecordInSchema`` accepts unchanged; anything else (extra or missing
    keys, ``ended_on``, a code that needs normalising) goes through the schema, which is
    what produces error messages.
    """
    if raw.keys() != _ENVELOPE_KEYS:
        return None
    ref, uscc, category, payload = raw["provider_ref"], raw["uscc"], raw["category"], raw["payload"]
    if not (type(ref) is str and type(uscc) is str and type(category) is str and isinstance(payload, dict)):
        return None
    if category not in CATEGORIES or not _REF.match(ref):
        return None
    verdict = check_uscc(uscc, allow_legacy=True)  # as RecordInSchema: the firm must be in the archive anyway
    if not verdict.ok or verdict.code != uscc:
        return None
    return ref, uscc, category, payload


def validate_record(provider: ProviderRights | DataProvider, raw: Any, index: int = -1) -> Valid | dict[str, list[str]]:
    """Validate row ``index`` of a batch; the normalised record, or its errors by field."""
    if isinstance(raw, JsonLine):
        raw = raw.parse()
    if isinstance(raw, RowError):
        return {"_row": [raw.message]}
    if not isinstance(raw, Mapping):
        return {"_row": ["每行应为一个 JSON 对象。"]}
    fast = _fast_envelope(raw)
    if fast is not None:
        ref, uscc, category, raw_payload = fast
        given_end: dt.date | None = None
    else:
        try:
            env = _ENVELOPE.load(raw)
        except ValidationError as exc:
            errors = flatten_messages(exc.messages)
            spec = CATEGORIES.get(str(raw.get("category")))
            if spec is not None and isinstance(raw.get("payload"), Mapping) and "payload" not in errors:
                try:  # report the payload's errors in the same answer
                    spec.schema.load(raw["payload"])
                except ValidationError as payload_exc:
                    errors.update(flatten_messages(payload_exc.messages, "payload"))
            return errors
        ref, uscc, category, raw_payload = env["provider_ref"], env["uscc"], env["category"], env["payload"]
        given_end = env.get("ended_on")
    if not provider.may_submit(category):
        return {"category": [f"数据源 {provider.code} 无权报送“{CATEGORY_LABELS[Category(category)]}”（{category}）类记录。"]}
    spec = CATEGORIES[category]
    payload = spec.fast.load(raw_payload)  # clean payloads; anything doubtful goes through load
    if payload is None:
        try:
            payload = spec.schema.load(raw_payload)
        except ValidationError as exc:
            return flatten_messages(exc.messages, "payload")
    cls = spec.classify(payload)
    ended_on = given_end or cls.ended_on
    if ended_on is not None and ended_on < cls.occurred_on:
        return {"ended_on": [f"结束日期 {ended_on} 不能早于发生日期 {cls.occurred_on}。"]}
    expires_on = None
    # Five years from the end of the behaviour; behaviour still going on has no end yet.
    if cls.polarity == Polarity.bad and (ended_on is not None or not cls.ongoing):
        expires_on = clock.add_years(ended_on or cls.occurred_on, RETENTION_YEARS)
    payload_json = _CANONICAL.encode(payload)
    return Valid(
        row=index, ref=ref, uscc=uscc, category=category, polarity=cls.polarity.value,
        severity=cls.severity, occurred_on=cls.occurred_on.isoformat(),
        ended_on=ended_on.isoformat() if ended_on else None,
        expires_on=expires_on.isoformat() if expires_on else None,
        payload_json=payload_json, digest=_digest(uscc, category, payload_json, given_end),
    )


Validated = tuple[list[Valid], list[Refused]]


def validate_chunk(rights: ProviderRights, rows: list[tuple[int, Any]]) -> Validated:
    """Validate a chunk of ``(index, raw)`` rows: the valid ones and the refused ones."""
    valid: list[Valid] = []
    refused: list[Refused] = []
    for index, raw in rows:
        if isinstance(raw, JsonLine):
            raw = raw.parse()
        outcome = validate_record(rights, raw, index)
        if isinstance(outcome, Valid):
            valid.append(outcome)
        else:
            ref = raw.get("provider_ref") if isinstance(raw, Mapping) else None
            refused.append(Refused(index, ref if isinstance(ref, str) else None, outcome))
    return valid, refused


@dataclass(slots=True)
class _LineBlock:
    """A chunk of NDJSON lines packed for a worker: one string, not thousands of objects."""

    first_index: int
    line_nos: list[int]
    text: str  # the lines joined by "\n" (none contains one)

    @classmethod
    def pack(cls, chunk: list[tuple[int, Any]]) -> _LineBlock | list[tuple[int, Any]]:
        first = chunk[0][0]
        if all(type(raw) is JsonLine for _, raw in chunk) and chunk[-1][0] - first == len(chunk) - 1:
            return cls(first, [raw.line_no for _, raw in chunk], "\n".join([raw.text for _, raw in chunk]))
        return chunk

    def rows(self) -> list[tuple[int, Any]]:
        lines = self.text.split("\n")
        return [(self.first_index + i, JsonLine(no, line))
                for i, (no, line) in enumerate(zip(self.line_nos, lines, strict=True))]


WorkerResult = tuple[list[tuple[Any, ...]], list[Refused]]


def _validate_in_worker(rights: ProviderRights, rows: _LineBlock | list[tuple[int, Any]]) -> WorkerResult:
    # Plain tuples cross the process boundary several times faster than named ones.
    valid, refused = validate_chunk(rights, rows.rows() if isinstance(rows, _LineBlock) else rows)
    return [tuple(v) for v in valid], refused


def _from_worker(future: Future[WorkerResult]) -> Validated:
    plain, refused = future.result()
    return [Valid._make(v) for v in plain], refused


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[tuple[int, Any]]]:
    chunk: list[tuple[int, Any]] = []
    for item in enumerate(rows):
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _validated(rights: ProviderRights, rows: Iterable[Any], chunk_size: int,
               workers: int) -> Iterator[Validated]:
    """Validated chunks, in order; with ``workers`` > 1 and more than one chunk, validated in
    a process pool a few chunks ahead of the writer (bounded: memory stays flat)."""
    chunks = _chunks(rows, chunk_size)
    first = next(chunks, None)
    if first is None:
        return
    second = next(chunks, None)
    if workers <= 1 or second is None:
        yield validate_chunk(rights, first)
        if second is not None:
            yield validate_chunk(rights, second)
            for chunk in chunks:
                yield validate_chunk(rights, chunk)
        return
    pool = make_pool(workers)
    try:
        ahead: deque[Future[WorkerResult]] = deque()
        ahead.append(pool.submit(_validate_in_worker, rights, _LineBlock.pack(first)))
        ahead.append(pool.submit(_validate_in_worker, rights, _LineBlock.pack(second)))
        for chunk in chunks:
            ahead.append(pool.submit(_validate_in_worker, rights, _LineBlock.pack(chunk)))
            # At most 2 chunks per worker in flight; what is ready is handed on early as
            # long as every worker still has a chunk to chew on.
            while len(ahead) > workers * 2 or (len(ahead) > workers and ahead[0].done()):
                yield _from_worker(ahead.popleft())
        while ahead:
            yield _from_worker(ahead.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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
    run = IngestionRun(provider_id=provider.id, source=source, filename=filename, mode=mode)
    session.add(run)
    session.flush()
    result = BatchResult(run_id=run.id, mode=mode)
    ingestor = _Ingestor(session, provider, run, result, keep_rows, clock.today().isoformat())
    savepoint = session.begin_nested()
    try:
        for valid, refused in _validated(ProviderRights.of(provider), rows, chunk_size, workers):
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
    if result.refusals:
        session.execute(
            sa.insert(IngestionRefusal),
            [
                {"run_id": run.id, "row_index": r.index, "provider_ref": r.provider_ref, "errors": r.errors}
                for r in result.refusals
            ],
        )
    run.total, run.accepted, run.unchanged = result.total, result.accepted, result.unchanged
    run.corrected, run.refused, run.committed = result.corrected, result.refused, result.committed
    run.finished_at = clock.now()
    session.flush()
    return result


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
    result.analysed = refresh_statistics(session, result.accepted + result.corrected,
                                         ("credit_record", "credit_record_version"))
    if reevaluate and (result.accepted or result.corrected):
        if not _reevaluate:
            raise RuntimeError("re-evaluation after a batch is not wired: call app.wiring.wire() at start-up")
        result.reevaluated = _reevaluate[0](session, result.run_id)
    return result
