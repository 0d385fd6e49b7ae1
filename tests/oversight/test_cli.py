"""`powercredit lists refresh|publish|show`, `objections overdue`, `commitments verify`."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from click.testing import CliRunner

from app.accounts.services import create_user
from app.archive.ingestion import ingest_records
from app.archive.models import CreditRecord
from app.archive.services import create_provider, load_enterprise, register_enterprise
from app.archive.uscc import make_uscc
from app.cli import main
from app.core.crypto import FieldCipher, KeyRing
from app.core.db import Database
from app.core.signing import load_signing_keys
from app.oversight.commitments import sign
from app.oversight.models import Objection
from tests.oversight.conftest import dishonest

CODE = make_uscc("9", "1", "330106", "MA2L0001")


def test_refresh_publish_show_and_overdue(fresh_databases, tmp_path, monkeypatch):
    url = fresh_databases.new()
    database = Database(url)
    with database.transaction() as session:
        provider = create_provider(session, code="court", name="法院", kind="court", categories=["judicial"])
        register_enterprise(session, FieldCipher(KeyRing.generate()),
                            load_enterprise({"uscc": CODE, "name": "杭州失信测试电力有限公司", "segment": "supplier"}))
        ingest_records(session, provider, [{"provider_ref": "j-1", "uscc": CODE, "category": "judicial",
                                            "payload": dishonest()}])
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    runner = CliRunner()
    try:
        first = runner.invoke(main, ["lists", "refresh"])
        assert first.exit_code == 0, first.output
        assert "黑名单（失信联合惩戒）：新列入 1" in first.output and "待发布" in first.output
        again = runner.invoke(main, ["lists", "refresh"])
        assert "黑名单（失信联合惩戒）：新列入 0，移出 0" in again.output
        published = runner.invoke(main, ["lists", "publish"])
        assert published.exit_code == 0 and "已发布 1 项" in published.output
        shown = runner.invoke(main, ["lists", "show", "black"])
        assert CODE in shown.output and "共 1 家" in shown.output
        assert runner.invoke(main, ["objections", "overdue"]).exit_code == 0
        with database.transaction() as session:
            rec = session.scalars(sa.select(CreditRecord)).one()
            session.add(Objection(objection_no="obj_late", enterprise_id=rec.enterprise_id, record_id=rec.id,
                                  reason="x", status="open", record_status_before="active",
                                  due_on=dt.date.today() - dt.timedelta(days=3), submitted_by="user:x"))
        late = runner.invoke(main, ["objections", "overdue"])
        assert late.exit_code == 1 and "obj_late" in late.output and "逾期未答复的异议 1 件" in late.output
    finally:
        database.dispose()


def test_commitment_statements_verify_offline(fresh_databases, tmp_path, monkeypatch):
    url = fresh_databases.new()
    database = Database(url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    from app.core.config import load_settings

    keys = load_signing_keys(load_settings())
    try:
        with database.transaction() as session:
            register_enterprise(session, FieldCipher(KeyRing.generate()),
                                load_enterprise({"uscc": CODE, "name": "杭州守信电力有限公司", "segment": "supplier"}))
            user = create_user(session, username="firm-cli", password="correct-horse-battery", role="firm",
                               enterprise_uscc=CODE)
            statement = sign(session, keys, user, "self_discipline", "王建国", "董事长").statement
        good = tmp_path / "commitment.jws"
        good.write_text(statement)
        ok = CliRunner().invoke(main, ["commitments", "verify", str(good)])
        assert ok.exit_code == 0 and "签名有效" in ok.output and "信用电力自律公约" in ok.output, ok.output
        head, claims, sig = statement.split(".")
        bad = tmp_path / "tampered.jws"
        bad.write_text(".".join([head, claims, sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]]))
        refused = CliRunner().invoke(main, ["commitments", "verify", str(bad)])
        assert refused.exit_code != 0 and "验证失败" in refused.output
    finally:
        database.dispose()
