"""Shared fixtures: a database built by the migrations on SQLite and (when
``TEST_DATABASE_URL`` is set) on PostgreSQL; every test runs in a transaction that is
rolled back; factories build the data a test needs.

The suite runs on a fixed calendar: time-machine moves the process's clock to
``SUITE_START`` before anything is imported or built (and lets it tick on from there), so no
test depends on the day it runs. Passwords are hashed with the cheap ``test`` Argon2 profile."""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
import time_machine
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app import create_app
from app.accounts.models import User
from app.accounts.services import create_institution, create_user
from app.archive.models import DataProvider, Enterprise
from app.archive.services import create_provider, load_enterprise, register_enterprise
from app.archive.uscc import make_uscc
from app.cli import main
from app.core import clock, migrate
from app.core.crypto import FieldCipher
from app.core.db import OWN_TRANSACTION, READ_ONLY
from app.oauth.services import register_client

os.environ["PC_PASSWORD_HASH"] = "test"  # CLI runs in the tests read it too

# Wednesday 18 November 2026, 10:00 Beijing time: the suite's "now".
SUITE_START = dt.datetime(2026, 11, 18, 10, 0, tzinfo=clock.BEIJING)
# Started as this root conftest is imported, before any test module or other conftest (a
# module-level ``TODAY = clock.today()`` in tests/oversight/conftest.py, say) reads the clock.
_suite_clock = time_machine.travel(SUITE_START, tick=True)
_suite_clock.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    _suite_clock.stop()


def frozen_python(*module_and_args: str) -> list[str]:
    """The command line that runs ``python -c CODE`` in a child process on the suite's clock
    (time-machine moves only its own process's clock): the child starts where this one is."""
    code, *args = module_and_args
    start = clock.now().isoformat()
    prelude = f"import time_machine; time_machine.travel({start!r}, tick=True).start()\n"
    return [sys.executable, "-c", prelude + code, *args]


# --- GET views that write must say so (app.core.extensions.writes) -----------------------------
# A GET request's session reads only: on SQLite it begins DEFERRED, and a write in it fails
# with "database is locked" whenever another connection committed after its first read.
# Every test fails if a request writes through a read-only session.

_DML = re.compile(r"\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
_read_only_writes: list[str] = []


@sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
def _catch_read_only_writes(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                            many: bool) -> None:
    from flask import g, has_request_context, request

    if has_request_context() and _DML.match(statement):
        if context is not None and context.execution_options.get(OWN_TRANSACTION):
            return  # written in a transaction of its own (a session's last use), not the request's
        session = g.get("db_session")
        if session is not None and session.info.get(READ_ONLY):
            _read_only_writes.append(f"{request.method} {request.endpoint}: {statement.split(' (')[0][:60]}")


@pytest.fixture(autouse=True)
def _no_writes_in_read_only_requests(request: pytest.FixtureRequest) -> Iterator[None]:
    _read_only_writes.clear()
    yield
    if request.node.get_closest_marker("writes_in_read_only_request"):  # the mistake made on purpose
        assert _read_only_writes, "the test meant to write through a read-only request's session"
        return
    assert not _read_only_writes, f"GET 视图写入了数据库却未标记 @writes：{sorted(set(_read_only_writes))}"


BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])
PASSWORD = "correct-horse-battery"


def pg_url_with_schema(base: str, schema: str) -> str:
    url = sa.make_url(base)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    sep = "&" if "?" in url.render_as_string(hide_password=False) else "?"
    return url.render_as_string(hide_password=False) + f"{sep}options={quote(f'-csearch_path={schema}')}"


class FreshDatabases:
    """Makes committed, empty databases built by the migrations (for CLI and subprocess tests)."""

    def __init__(self, backend: str, tmp: Path) -> None:
        self.backend = backend
        self.tmp = tmp
        self.schemas: list[str] = []

    def new(self) -> str:
        if self.backend == "sqlite":
            url = f"sqlite:///{self.tmp / f'{uuid.uuid4().hex}.db'}"
        else:
            schema = f"pc_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
            base = os.environ["TEST_DATABASE_URL"]
            engine = sa.create_engine(pg_url_with_schema(base, "public"))
            with engine.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            engine.dispose()
            self.schemas.append(schema)
            url = pg_url_with_schema(base, schema)
        migrate.upgrade(url)
        return url

    def drop_all(self) -> None:
        if not self.schemas:
            return
        engine = sa.create_engine(pg_url_with_schema(os.environ["TEST_DATABASE_URL"], "public"))
        # One transaction per schema: dropping them all at once takes a lock per table,
        # index and sequence of every schema and runs out of max_locks_per_transaction.
        for schema in self.schemas:
            with engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# What is built once per backend and process. ``backend`` is a parametrised session fixture,
# and pytest keeps one parameter's value at a time: a worker that runs a SQLite test after a
# PostgreSQL one would tear the PostgreSQL databases (and the demo) down and build them again.
# So they are kept here, per backend, and closed when the session ends.
_kept: dict[tuple[str, str], Any] = {}
_at_session_end: list[Callable[[], None]] = []


def kept(name: str, backend: str, make: Callable[[], Any], close: Callable[[Any], None] | None = None) -> Any:
    key = (name, backend)
    if key not in _kept:
        _kept[key] = value = make()
        if close is not None:
            _at_session_end.append(lambda: close(value))
    return _kept[key]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    while _at_session_end:
        _at_session_end.pop()()
    _kept.clear()


@pytest.fixture(scope="session")
def fresh_databases(backend: str, tmp_path_factory: pytest.TempPathFactory) -> FreshDatabases:
    return kept("fresh", backend, lambda: FreshDatabases(backend, tmp_path_factory.mktemp(f"fresh-{backend}")),
                FreshDatabases.drop_all)


# --- the demo, seeded once per backend per run --------------------------------------------------

DEMO_PASSWORD = "demo-pass-2026"


@dataclass
class Demo:
    """The demo as ``powercredit seed`` makes it for a new user (300 firms, seed 2026, today),
    in a database of its own; the tests that use it only read it, or write what no other
    test of the demo looks at."""

    backend: str
    url: str
    instance: Path
    output: str  # what the seed printed


@pytest.fixture(scope="session")
def demo(backend: str, fresh_databases: FreshDatabases, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    def make() -> Demo:
        url = fresh_databases.new()
        instance = tmp_path_factory.mktemp(f"demo-{backend}")
        mp = pytest.MonkeyPatch()
        mp.setenv("DATABASE_URL", url)
        mp.setenv("PC_INSTANCE_PATH", str(instance))
        try:
            result = CliRunner().invoke(main, ["seed", "--firms", "300", "--seed", "2026", "--password", DEMO_PASSWORD])
        finally:
            mp.undo()
        assert result.exit_code == 0, result.output
        return Demo(backend, url, instance, result.output)

    return kept("demo", backend, make)  # type: ignore[no-any-return]


# The modules whose tests read a seeded demo. Under pytest-xdist their tests are scheduled as
# one unit per demo database, so each demo is seeded once per run: the shared demo per backend,
# and tests/app/test_demo_seed.py's demos per backend and date. (xdist's own ``loadgroup``
# cannot mark them under pytest 9.2: it rewrites a node id attribute pytest no longer reads.)
DEMO_MODULES = ("tests/web/", "tests/marketplace/test_demo.py", "tests/scoring/test_demo.py",
                "tests/app/test_demo_seed.py", "tests/groups/test_demo.py")


def demo_unit(nodeid: str) -> str | None:
    """The scheduling unit of a test that reads a demo: ``demo-<backend>`` or, for a demo
    seeded on a date, ``demo-<backend>-<date>``; None for any other test."""
    if not nodeid.startswith(DEMO_MODULES) or not nodeid.endswith("]"):
        return None
    backend, _, rest = nodeid[nodeid.rindex("[") + 1:-1].partition("-")
    day = re.match(r"\d{4}-\d\d-\d\d$", rest) if nodeid.startswith("tests/app/test_demo_seed.py") else None
    return f"demo-{backend}-{day.group()}" if day else f"demo-{backend}"


def pytest_itemcollected(item: pytest.Item) -> None:
    if "demo" in getattr(item, "fixturenames", ()) or "demo_at" in getattr(item, "fixturenames", ()):
        assert demo_unit(item.nodeid), f"{item.nodeid} reads a demo: add its module to DEMO_MODULES"


# Modules whose tests must not run at the same time as each other, sent to one worker together:
# the two-server tests share Redis (database 15, flushed by each) and sign in as the same account
# from the same address, so one's failed sign-ins would throttle the other's.
SERIAL_MODULES = ("tests/app/test_two_servers.py",)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class DemoUnits(LoadScopeScheduling):
        """Load scheduling test by test, except the tests of one demo database and those of a
        serial module, each sent together."""

        def _split_scope(self, nodeid: str) -> str:
            serial = next((m for m in SERIAL_MODULES if nodeid.startswith(m)), None)
            return demo_unit(nodeid) or serial or nodeid

    return DemoUnits(config, log)


@pytest.fixture(scope="session")
def database_url(fresh_databases: FreshDatabases) -> str:
    return kept("database_url", fresh_databases.backend, fresh_databases.new)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def app(backend: str, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    def make() -> Flask:
        return create_app(
            {
                "database_url": database_url,
                "instance_path": tmp_path_factory.mktemp("instance"),
                "secret_key": "test-secret-key",
                "testing": True,
                "issuer": "http://localhost",
            }
        )

    return kept("app", backend, make, lambda a: a.extensions["pc_db"].dispose())  # type: ignore[no-any-return]


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back after the test; requests
    made by the test client join the same transaction."""
    with rolled_back(app) as session:
        yield session


@contextmanager
def rolled_back(app: Flask) -> Iterator[Session]:
    """``app``'s database inside an outer transaction rolled back at the end: the session
    given and every request made meanwhile join it."""
    database = app.extensions["pc_db"]
    conn = database.engine.connect()
    outer = conn.begin()
    original = database.sessionmaker
    database.bind_to(conn)
    session = database.session()
    try:
        yield session
    finally:
        session.close()
        database.sessionmaker = original
        outer.rollback()
        conn.close()
        from app.scoring.index import forget_published_index

        forget_published_index()  # what the index held may include the rolled-back evaluations


@pytest.fixture
def statements(db: Session) -> Iterator[list[str]]:
    """The SQL statements the test's database connection runs, as they run (clear it to
    count from a point on)."""
    seen: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append(statement)

    engine = db.get_bind().engine
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)


@pytest.fixture
def client(app: Flask, db: Session) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def cipher(app: Flask) -> FieldCipher:
    return app.extensions["pc_cipher"]  # type: ignore[no-any-return]


# --- factories ----------------------------------------------------------------------------

_counter = iter(range(10_000_000, 99_999_999))


@pytest.fixture
def make_enterprise(db: Session, cipher: FieldCipher) -> Callable[..., Enterprise]:
    def make(**overrides: Any) -> Enterprise:
        region = overrides.pop("region", "330106")
        data = {
            "uscc": make_uscc("9", "1", region, str(next(_counter))),
            "name": f"测试电力设备有限公司{next(_counter)}",
            "segment": "supplier",
            "registered_capital": "5000000",
            "founded_on": "2015-03-01",
            "legal_rep_name": "张伟",
            "legal_rep_id": "330106198001011234",
            "contact_phone": "13900001111",
        }
        data.update(overrides)
        ent, _ = register_enterprise(db, cipher, load_enterprise(data))
        return ent

    return make


@pytest.fixture
def make_provider(db: Session) -> Callable[..., DataProvider]:
    def make(categories: list[str] | None = None, code: str | None = None, coverage: str | None = None) -> DataProvider:
        return create_provider(
            db, code=code or f"prov-{next(_counter)}", name="测试数据源", kind="procurement_platform",
            categories=categories or ["contract", "utility"], coverage=coverage,
        )

    return make


def history_rows(uscc: str, months: int = 14, prefix: str = "hist") -> list[dict[str, Any]]:
    """A year and more of on-time monthly bills and last year's tax grade A: enough history
    and sources for scorecard power-v2 to grade a firm (with a provider covering the rest)."""
    first = clock.month_start(clock.today())
    out = []
    for back in range(months, 0, -1):
        month = clock.add_months(first, -back)
        out.append(utility_row(uscc, f"{prefix}-u-{back}", month=month.strftime("%Y-%m"),
                               paid_on=(month + dt.timedelta(days=20)).isoformat()))
    year = clock.today().year - 1 if clock.today().month >= 4 else clock.today().year - 2
    out.append({"provider_ref": f"{prefix}-tax-{year}", "uscc": uscc, "category": "tax",
                "payload": {"year": year, "grade": "A", "points": 95}})
    return out


@pytest.fixture
def documented(db: Session) -> Callable[..., Enterprise]:
    """Give a firm a file power-v2 rates: a regional provider covering every category (a bad
    record from it would be there, so none is clean) and ``history_rows``; returns the firm."""
    from app.archive.categories import CATEGORIES
    from app.archive.ingestion import ingest_records

    def give(ent: Enterprise, **kw: Any) -> Enterprise:
        provider = create_provider(db, code=f"cover-{next(_counter)}", name="测试覆盖数据源", kind="grid_company",
                                   categories=list(CATEGORIES))
        result = ingest_records(db, provider, history_rows(ent.uscc, **kw))
        assert result.refused == 0, [r.errors for r in result.rows if r.errors]
        return ent

    return give


@pytest.fixture
def make_client(db: Session) -> Callable[..., tuple[Any, str]]:
    def make(provider: DataProvider | None = None, scope: str = "records:write") -> tuple[Any, str]:
        return register_client(
            db, name="测试客户端", scope=scope, grant_types=["client_credentials"],
            provider_id=provider.id if provider else None,
        )

    return make


@pytest.fixture
def make_user(db: Session) -> Callable[..., User]:
    def make(role: str, enterprise: Enterprise | None = None, username: str | None = None) -> User:
        licence = None
        if role == "bank":
            licence = f"B{next(_counter)}"
            create_institution(db, name="测试银行股份有限公司", licence_no=licence)
        return create_user(
            db, username=username or f"{role}-{next(_counter)}", password=PASSWORD, role=role,
            enterprise_uscc=enterprise.uscc if enterprise else None, institution_licence=licence,
        )

    return make


@pytest.fixture
def token_for(client: FlaskClient) -> Callable[[Any, str], str]:
    def get(oauth_client: Any, secret: str, scope: str | None = None) -> str:
        basic = base64.b64encode(f"{oauth_client.client_id}:{secret}".encode()).decode()
        data = {"grant_type": "client_credentials"}
        if scope is not None:
            data["scope"] = scope
        resp = client.post("/oauth/token", data=data, headers={"Authorization": f"Basic {basic}"})
        assert resp.status_code == 200, resp.get_json()
        return str(resp.get_json()["access_token"])

    return get


@pytest.fixture
def login(client: FlaskClient) -> Callable[[User], None]:
    """Sign in through the form; afterwards every request carries the session's CSRF token
    (``X-CSRFToken``), as a signed-in page's scripts send it with API calls."""
    def do(user: User, password: str = PASSWORD) -> None:
        client.environ_base.pop("HTTP_X_CSRFTOKEN", None)
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
        assert token is not None
        resp = client.post("/login", data={"username": user.username, "password": password,
                                           "csrf_token": token.group(1)})
        assert resp.status_code == 302, resp.get_data(as_text=True)
        after = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))
        if after is not None:
            client.environ_base["HTTP_X_CSRFTOKEN"] = after.group(1)

    return do


def contract_row(uscc: str, ref: str = "c-1", **payload: Any) -> dict[str, Any]:
    today = clock.today()
    body = {
        "contract_no": "HT-2024-001",
        "counterparty_uscc": "91110000053621038D",
        "amount": "120000.00",
        "signed_on": (today - dt.timedelta(days=200)).isoformat(),
        "due_on": (today - dt.timedelta(days=100)).isoformat(),
        "fulfilled_on": (today - dt.timedelta(days=110)).isoformat(),
        "status": "on_time",
    }
    body.update(payload)
    return {"provider_ref": ref, "uscc": uscc, "category": "contract", "payload": body}


def utility_row(uscc: str, ref: str = "u-1", **payload: Any) -> dict[str, Any]:
    month = (clock.today().replace(day=1) - dt.timedelta(days=40)).replace(day=1)
    body = {
        "month": month.strftime("%Y-%m"),
        "consumption_kwh": "15000",
        "amount_due": "9300.00",
        "status": "on_time",
        "paid_on": (month + dt.timedelta(days=35)).isoformat(),
    }
    body.update(payload)
    return {"provider_ref": ref, "uscc": uscc, "category": "utility", "payload": body}


@pytest.fixture
def rows() -> Any:
    class Rows:
        contract = staticmethod(contract_row)
        utility = staticmethod(utility_row)

    return Rows
