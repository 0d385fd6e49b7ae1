"""The schema comes from the migrations, and the migrations match the models."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.models import Base


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations disagree; run `powercredit db revision`: {diff}"


def test_database_is_at_head(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()
    from alembic.script import ScriptDirectory

    from app.core.migrate import alembic_config

    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_commands_on_a_database_not_yet_migrated_say_to_run_db_upgrade(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from app.cli import main
    from app.core import migrate

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    for args in (["seed", "--firms", "3"], ["consents", "expire"], ["serve", "--port", "1"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, (args, result.output)
        assert "请先运行 powercredit db upgrade" in result.output, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    migrate.upgrade(url)
    migrate.downgrade(url, rev="-1")  # one migration behind the code
    result = CliRunner().invoke(main, ["consents", "expire"])
    assert result.exit_code == 1 and "请先运行 powercredit db upgrade" in result.output, result.output
    migrate.upgrade(url)
    result = CliRunner().invoke(main, ["consents", "expire"])
    assert result.exit_code == 0, result.output
    assert "请先运行" not in result.output


def test_report_bodies_are_compressed_with_lz4_on_postgresql(database_url: str, backend: str) -> None:
    """A pull stores a 50–100 KB report; pglz costs about three times the CPU of lz4
    (migration 0004 sets lz4 where the server has it, as Debian's does)."""
    if backend != "postgresql":
        pytest.skip("TOAST compression is PostgreSQL's")
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            method = conn.execute(sa.text(
                "SELECT attcompression FROM pg_attribute WHERE attrelid = 'report'::regclass "
                "AND attname = 'body'")).scalar_one()
            assert method == "l"
    finally:
        engine.dispose()


def test_0012_gives_records_of_behaviour_still_going_on_their_retention_back(fresh_databases) -> None:
    """Records stored before 0012 had expired five years after an unperformed judgment or
    an unpaid bill began; the migration clears that expiry and puts them back (disputed
    where an objection is open), marked changed so that ``evaluate --changed`` sees them."""
    import datetime as dt

    from app.archive.ingestion import ingest_records
    from app.archive.models import CreditRecord, RecordStatus
    from app.archive.services import create_provider, load_enterprise, register_enterprise
    from app.core import clock, migrate
    from app.core.crypto import FieldCipher, KeyRing
    from app.core.db import Database
    from app.oversight.models import Objection
    from tests.conftest import contract_row

    firm = "91620102934141843Y"
    url = fresh_databases.new()
    database = Database(url)
    long_ago = clock.add_years(clock.today(), -7)
    bill = {"month": long_ago.strftime("%Y-%m"), "consumption_kwh": "15000", "amount_due": "9300.00",
            "status": "arrears", "arrears_amount": "9300.00", "arrears_months": 80}
    judgment = {"case_no": f"({long_ago.year})皖1122执1194号", "court": "安徽省某县人民法院",
                "filed_on": long_ago.isoformat(), "obligation": "支付货款 120 万元", "performance": "partial"}
    loan = {"lender": "某银行", "amount": "5000000", "start_on": long_ago.isoformat(),
            "end_on": (long_ago + dt.timedelta(days=365)).isoformat(), "status": "overdue", "overdue_days": 2000}
    due = long_ago + dt.timedelta(days=30)
    breach = contract_row(firm, "c-1", status="breached", signed_on=long_ago.isoformat(), due_on=due.isoformat())
    breach["payload"].pop("fulfilled_on")
    try:
        with database.transaction() as session:
            register_enterprise(session, FieldCipher(KeyRing.generate()),
                                load_enterprise({"uscc": firm, "name": "测试电力有限公司", "segment": "supplier"}))
            provider = create_provider(session, code="p-0012", name="测试数据源", kind="grid_company",
                                       categories=["utility", "judicial", "contract", "loan"])
            result = ingest_records(session, provider, [
                {"provider_ref": "u-1", "uscc": firm, "category": "utility", "payload": bill},
                {"provider_ref": "j-1", "uscc": firm, "category": "judicial", "payload": judgment},
                {"provider_ref": "l-1", "uscc": firm, "category": "loan", "payload": loan},
                breach])
            assert result.refused == 0, [r.errors for r in result.rows]
            ids = [r.record_id for r in result.rows]
        before = clock.now()
        # As the code before 0012 stored them: expired five years after they began; the
        # judgment was under objection.
        with database.transaction() as session:
            session.execute(sa.update(CreditRecord).where(CreditRecord.id.in_(ids[:3]))
                            .values(expires_on=clock.add_years(long_ago, 5), status="expired",
                                    updated_at=before - dt.timedelta(days=1)))
            session.execute(sa.insert(Objection.__table__).values(
                objection_no="obj_0012", record_id=ids[1], enterprise_id=session.scalar(
                    sa.select(CreditRecord.enterprise_id).where(CreditRecord.id == ids[1])),
                status="open", record_status_before="active", reason="尚在履行中", received_at=clock.now(),
                due_on=clock.today() + dt.timedelta(days=20), submitted_by="user:test"))
        migrate.downgrade(url, rev="0011")
        migrate.upgrade(url)
        with database.session() as session:
            rows = {r.provider_ref: r for r in session.scalars(sa.select(CreditRecord))}
        assert (rows["u-1"].expires_on, rows["u-1"].status) == (None, RecordStatus.active)
        assert (rows["l-1"].expires_on, rows["l-1"].status) == (None, RecordStatus.active)
        assert (rows["j-1"].expires_on, rows["j-1"].status) == (None, RecordStatus.disputed)
        assert all(rows[ref].updated_at >= before for ref in ("u-1", "j-1", "l-1"))
        # A breach is over when it happened: its expiry stands.
        assert rows["c-1"].expires_on == clock.add_years(due, 5) and rows["c-1"].status == RecordStatus.expired
    finally:
        database.dispose()


def test_0023_adds_must_change_password_false_and_drops_it_without_losing_a_user(fresh_databases) -> None:
    """Users made before 0023 chose their passwords: false. Its downgrade drops the column in
    place (no rebuild of app_user, which sessions, consents and audit rows refer to)."""
    from app.accounts.services import add_user, create_user
    from app.core import migrate
    from app.core.db import Database

    url = fresh_databases.new()
    database = Database(url)
    try:
        with database.transaction() as session:
            create_user(session, username="chose-0023", password="correct-horse-battery", role="operator")
            add_user(session, username="handed-0023", role="operator")
        migrate.downgrade(url, rev="0022")
        with database.session() as session:
            columns = {c["name"] for c in sa.inspect(session.connection()).get_columns("app_user")}
            assert "must_change_password" not in columns
            assert session.execute(sa.text("SELECT count(*) FROM app_user")).scalar_one() == 2
        migrate.upgrade(url)
        with database.session() as session:
            rows = dict(session.execute(sa.text("SELECT username, must_change_password FROM app_user")).all())
        assert {k: bool(v) for k, v in rows.items()} == {"chose-0023": False, "handed-0023": False}
    finally:
        database.dispose()
