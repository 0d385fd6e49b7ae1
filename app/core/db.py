"""Database: declarative base, reusable column types, engine and session discipline.

One transaction per unit of work: a request (committed by the app after a successful
response, rolled back otherwise), a CLI command (``Database.transaction``) or a job.
Services only ``flush()``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar, cast

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite stores naive UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Money(sa.types.TypeDecorator[Decimal]):
    """CNY amounts: ``Decimal`` yuan in code, integer fen (分) in the database."""

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | None, dialect: Any) -> int | None:
        if value is None:
            return None
        fen = Decimal(value) * 100
        if fen != fen.to_integral_value():
            raise ValueError(f"amount {value} has more than 2 decimal places")
        return int(fen)

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(value) / 100).quantize(Decimal("0.01"))


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

intpk = Annotated[int, mapped_column(BigIntPK, primary_key=True, autoincrement=True)]
utcnow_col = Annotated[dt.datetime, mapped_column(UTCDateTime, nullable=False)]


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime, Decimal: Money}


def str_enum(name: str, values: list[str] | tuple[str, ...], length: int = 32) -> sa.Enum:
    """A portable enum column: VARCHAR with a named CHECK constraint."""
    return sa.Enum(
        *[str(v) for v in values], name=name, native_enum=False, create_constraint=True, length=length,
        validate_strings=True,
    )


SQLITE_BEGIN = "pc_sqlite_begin"
SQLITE_BUSY_TIMEOUT_MS = 10_000  # how long a transaction waits for SQLite's write lock
READ_ONLY = "pc_read_only"  # session.info key: the session was opened to read only
# execution option: a statement a read-only request runs in a short transaction of its own
OWN_TRANSACTION = "pc_own_transaction"


def private_sqlite_file(database: str | None) -> None:
    """Create a SQLite database file readable by its owner only (0600), before SQLite would
    create it with the process's umask; its -wal and -shm files take the same permissions.
    An existing file is left as it is, and a missing folder is not created (a mistyped path
    stays an error, as SQLite makes it)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists() or not path.parent.is_dir():
        return
    with contextlib.suppress(FileExistsError):  # another process made it first
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def make_engine(url: str, **kwargs: Any) -> Engine:
    # JSON read with orjson (3–5x faster than json.loads; reports and evaluations parse every
    # record's payload).  Written with the standard encoder: it knows our Decimal handling.
    if url.startswith("sqlite"):
        kwargs.setdefault("json_deserializer", orjson.loads)
        private_sqlite_file(sa.make_url(url).database)
        engine = sa.create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, emit BEGIN: SAVEPOINTs then work as documented.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            # 32 MB page cache (default 2 MB): bulk imports touch index pages all over.
            cur.execute("PRAGMA cache_size=-32768")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # IMMEDIATE takes the write lock up front (waiting up to busy_timeout for it).
            # A deferred transaction that reads and then writes fails at once with
            # "database is locked" if another connection committed after its first read
            # (WAL's snapshot rule; busy_timeout does not apply), and nearly every write here
            # reads first.  Only sessions that never write ask for DEFERRED (READ_ONLY).
            mode = conn.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if url.startswith("postgresql"):  # COPY and jsonb text are UTF-8, whatever PGCLIENTENCODING says
        kwargs.setdefault("connect_args", {}).setdefault("client_encoding", "utf8")
        from psycopg.types.json import set_json_loads

        set_json_loads(orjson.loads)
        engine = sa.create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _pg_settings(dbapi_conn: Any, _record: Any) -> None:
            # No JIT compilation: our statements are short, and a misjudged cost (a
            # subquery's selectivity) otherwise buys half a second of compiling for a query
            # that runs in a tenth of that.  The common advice for OLTP work.
            with dbapi_conn.cursor() as cur:
                cur.execute("SET jit = off")
            dbapi_conn.commit()

        return engine
    return sa.create_engine(url, **kwargs)


def is_sqlite_busy(exc: BaseException) -> bool:
    """SQLite could not take a lock: another connection held it past ``busy_timeout``, or
    a read-only transaction tried to write after another connection's commit."""
    orig = getattr(exc, "orig", None)
    return isinstance(orig, sqlite3.OperationalError) and (
        getattr(orig, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED))


class Database:
    """The engine and session factory of one application (or CLI invocation)."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        # On SQLite, reading sessions begin DEFERRED: they run beside a writer (WAL) instead
        # of queueing for the write lock.  Elsewhere the option means nothing.
        self.reader = self.engine.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)

    def bind_to(self, connection: Connection) -> None:
        """Tests: run every session inside an outer transaction rolled back at the end."""
        self.sessionmaker = sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )

    def session(self, *, read_only: bool = False) -> Session:
        """A session; ``read_only`` for work that never writes (a page view, an export):
        on SQLite it neither waits for nor holds the write lock, and a write in it may fail
        with "database is locked" (:func:`is_sqlite_busy`) — call :meth:`for_writing` first."""
        session = self.sessionmaker()
        if read_only:
            session.info[READ_ONLY] = True
            if session.bind is self.engine:
                session.bind = self.reader
        return session

    def for_writing(self, session: Session) -> None:
        """Let a read-only session write from its next transaction on (it must have none
        open): e.g. to record a refusal after the refused request's rollback."""
        if session.in_transaction():
            raise RuntimeError("for_writing: the session has a transaction open")
        session.info.pop(READ_ONLY, None)
        if session.bind is self.reader:
            session.bind = self.engine

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any error."""
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """Work that only reads (a listing, a chain check): a read-only session, never
        committed; on SQLite it runs beside a writer instead of holding the write lock."""
        session = self.session(read_only=True)
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


T = TypeVar("T")


class Page(Generic[T]):  # noqa: UP046 (Python 3.11)
    """One page of a query's results, with the total count."""

    def __init__(self, items: list[T], page: int, per_page: int, total: int) -> None:
        self.items = items
        self.page = page
        self.per_page = per_page
        self.total = total

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def meta(self) -> dict[str, int]:
        return {"page": self.page, "per_page": self.per_page, "total": self.total, "pages": self.pages}

    def body(self, **extra: Any) -> dict[str, Any]:
        """The answer of a list endpoint: ``{items, meta}`` (and what else it carries)."""
        return {**extra, "items": self.items, "meta": self.meta}


def paginate(session: Session, stmt: sa.Select[Any], page: int, per_page: int) -> Page[Any]:
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    items = list(session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))
    return Page(items, page, per_page, int(total or 0))


BULK_ROWS = 10_000  # a load of at least this many rows refreshes the planner's statistics


def refresh_statistics(session: Session, rows_written: int, tables: tuple[str, ...]) -> bool:
    """After a bulk load on PostgreSQL, ``ANALYZE`` the loaded tables in the load's own
    transaction instead of waiting for autovacuum: until then the planner takes the new rows
    for a near-empty table (a report's records were read by scanning the whole status index:
    4.5 ms instead of 0.3).  SQLite plans without statistics well enough: nothing to do.
    Returns whether statistics were refreshed."""
    if rows_written < BULK_ROWS or session.get_bind().dialect.name != "postgresql":
        return False
    for table in tables:  # names from code, never from input
        session.execute(sa.text(f'ANALYZE "{table}"'))
    return True


_MAX_PLANS = 64


class Prepared:
    """A hot statement compiled once per dialect (and per value of its expanding lists) and
    run straight on the DB-API cursor, its parameters through SQLAlchemy's own bind processors.

    For a statement that returns a couple of hundred small rows in a fraction of a
    millisecond, SQLAlchemy's per-execution work (execution context, result wrapping, a
    result processor per value) costs as much as the query; so it does for the few small
    writes every report pull makes (an ``INSERT … RETURNING id``, a counting ``UPDATE …
    RETURNING``: give each column a named ``bindparam`` so that the statement's text does
    not depend on the values).  Rows come back as the driver
    gives them, so use it only where every column is an integer, a text (codes, dates and
    times ``type_coerce``d to ``String``) or a JSON document (a ``str`` from SQLite, already
    parsed from PostgreSQL; ``json_value`` reads both), and not for statements with
    literal-execute parameters (none of SQLite's or PostgreSQL's own statements have them)."""

    def __init__(self, stmt: sa.Select[*tuple[Any, ...]] | sa.Insert | sa.Update) -> None:
        self.stmt = stmt
        # Per dialect: the compiled statement and the names of its expanding lists.  Per
        # (dialect, length of each list): the SQL text and where each of its parameters comes
        # from, learnt once, so that a run only fills in the values.
        self._compiled: dict[str, tuple[Any, tuple[str, ...]]] = {}
        self._plans: dict[tuple[Any, ...], _Plan] = {}

    @classmethod
    def insert_returning_id(cls, model: type[Any], columns: Iterable[str] | None = None) -> Prepared:
        """``INSERT INTO <model's table> (columns…) VALUES (:column…) RETURNING id`` (every
        column but ``id`` by default): a row of an append-only table written in one round
        trip, its values passed by column name."""
        table = cast(sa.Table, model.__table__)
        names = [c.name for c in table.c if c.name != "id"] if columns is None else list(columns)
        return cls(sa.insert(table).values({name: sa.bindparam(name) for name in names}).returning(table.c.id))

    def _plan(self, compiled: Any, expanding: tuple[str, ...], params: dict[str, Any]) -> _Plan:
        markers = {key: [_Marker(key, i) for i in range(len(value))] if key in expanding else _Marker(key, None)
                   for key, value in params.items()}
        state = compiled.construct_expanded_state(markers)  # expanding lists rendered for this many values
        # The state's own processors are those of the expanded lists only; the statement's
        # other parameters (times, dates, enums) are processed as SQLAlchemy's execution does.
        processors = {**compiled._bind_processors, **state.processors}
        sources: list[tuple[str, Any, Any, Any]] = []  # (bound name, param key or None, index, processor or constant)
        for name, value in state.parameters.items():
            processor = processors.get(name)
            if isinstance(value, _Marker):
                sources.append((name, value.key, value.index, processor))
            else:  # a value fixed in the statement (a literal compared with a column)
                sources.append((name, None, None, processor(value) if processor else value))
        if state.positiontup is not None:
            by_name = {s[0]: s for s in sources}
            sources = [by_name[name] for name in state.positiontup]
        return _Plan(state.statement, state.positiontup is not None, sources)

    def bind(self, conn: Connection, params: dict[str, Any]) -> tuple[str, Any]:
        """The SQL text for this dialect (and these list lengths) and the driver's arguments."""
        dialect = conn.dialect
        entry = self._compiled.get(dialect.name)
        if entry is None:
            compiled = self.stmt.compile(dialect=dialect)
            entry = self._compiled[dialect.name] = (
                compiled, tuple(sorted(name for name, bind in compiled.binds.items() if bind.expanding and bind.required)))
        shape = (dialect.name, *(len(params[key]) for key in entry[1]))
        plan = self._plans.get(shape)
        if plan is None:
            if len(self._plans) >= _MAX_PLANS:  # lists of ever new lengths (batches): forget the oldest
                del self._plans[next(iter(self._plans))]
            plan = self._plans[shape] = self._plan(entry[0], entry[1], params)
        values = []
        for _name, key, index, processor in plan.sources:
            if key is None:
                values.append(processor)  # the constant, processed when the plan was made
                continue
            value = params[key] if index is None else params[key][index]
            values.append(value if processor is None else processor(value))
        args: Any = values if plan.positional else {s[0]: v for s, v in zip(plan.sources, values, strict=True)}
        return plan.statement, args

    def rows(self, session: Session, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return run_batch(session, [(self, params)])[0]

    def scalar(self, session: Session, params: dict[str, Any]) -> Any:
        """The first column of the first row, or ``None`` without rows."""
        rows = self.rows(session, params)
        return rows[0][0] if rows else None


@functools.cache
def _pipeline_supported() -> bool:
    """psycopg's pipeline mode needs libpq 14 or newer (the binary wheel bundles one)."""
    import psycopg

    return bool(psycopg.Pipeline.is_supported())


def run_batch(session: Session, batch: list[tuple[Prepared, dict[str, Any]]]) -> list[list[tuple[Any, ...]]]:
    """Run :class:`Prepared` statements in the session's transaction, in order, and return
    each one's rows.  On PostgreSQL several statements go in one round trip (psycopg's
    pipeline mode: sent together, executed one after another by the server, each with its
    own snapshot as if sent alone); elsewhere they run one after another.  An error in any
    statement is raised as it would be alone (the driver's own error, not wrapped by
    SQLAlchemy), and the transaction is failed as usual."""
    conn = session.connection()
    bound = [prepared.bind(conn, params) for prepared, params in batch]
    raw = conn.connection.driver_connection
    listeners = conn.dispatch.before_cursor_execute
    pipelined = len(bound) > 1 and conn.dialect.driver == "psycopg" and _pipeline_supported()
    cursors = []
    out: list[list[tuple[Any, ...]]] = []
    try:
        with raw.pipeline() if pipelined else nullcontext():  # type: ignore[union-attr]
            for statement, args in bound:
                cursor = raw.cursor()  # type: ignore[union-attr]
                cursors.append(cursor)
                for listener in listeners:  # tracing and benchmarks' captures see every statement
                    listener(conn, cursor, statement, args, None, False)
                cursor.execute(statement, args)
                if not pipelined:  # read before the next statement runs (SQLite steps rows lazily)
                    out.append(list(cursor.fetchall()))
        # A pipeline's results are all in once it is left.
        return [list(cursor.fetchall()) for cursor in cursors] if pipelined else out
    finally:
        for cursor in cursors:
            cursor.close()


@dataclass(frozen=True, slots=True)
class _Marker:
    """Stands for ``params[key]`` (or ``params[key][index]``) while a plan is learnt."""

    key: str
    index: int | None


@dataclass(frozen=True, slots=True)
class _Plan:
    statement: str
    positional: bool
    sources: list[tuple[str, Any, Any, Any]]


def json_value(value: Any) -> Any:
    """A JSON column's value as read by ``Prepared``: text from SQLite, parsed already from PostgreSQL."""
    return orjson.loads(value) if value.__class__ is str else value


# --- work to do once a transaction has committed ---------------------------------------------

AFTER_COMMIT = "pc_after_commit"


def after_commit(session: Session, action: Any, key: str | None = None) -> None:
    """Run ``action()`` once the session's transaction commits (never if it rolls back): e.g.
    queue the dispatch of outbox events written in it.  With ``key``, one action per key and
    transaction."""
    actions: dict[Any, Any] = session.info.setdefault(AFTER_COMMIT, {})
    actions[key if key is not None else id(action)] = action


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    actions = session.info.pop(AFTER_COMMIT, None)
    for action in (actions or {}).values():
        action()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(AFTER_COMMIT, None)
