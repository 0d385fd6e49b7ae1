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

    from app.migrate import alembic_config

    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_commands_on_a_database_not_yet_migrated_say_to_run_db_upgrade(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from app import migrate
    from app.cli import main

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
