"""`powercredit certificates list|show|advance|pdf|rules`, on a database of their own."""

from __future__ import annotations

import datetime as dt
import secrets
import subprocess
from decimal import Decimal

import time_machine
from click.testing import CliRunner

from app.accounts.services import create_user
from app.archive.services import load_enterprise, register_enterprise
from app.archive.uscc import make_uscc
from app.certificates import rules, services
from app.cli import main
from app.core import clock
from app.core.crypto import FieldCipher, KeyRing
from app.core.db import Database
from app.scoring.models import Evaluation

CODE = make_uscc("9", "1", "330106", "MA2C0001")


def test_list_advance_show_pdf_and_the_rule(fresh_databases, tmp_path, monkeypatch):
    url = fresh_databases.new()
    database = Database(url)
    with database.transaction() as session:
        ent, _ = register_enterprise(session, FieldCipher(KeyRing.generate()),
                                     load_enterprise({"uscc": CODE, "name": "杭州证书测试电力有限公司", "segment": "supplier"}))
        session.add(Evaluation(enterprise_id=ent.id, scorecard_id="power-credit", scorecard_version="2.0",
                               as_of=clock.today() - dt.timedelta(days=30), score=Decimal("91.00"), grade="AAA",
                               uncapped_grade="AAA", supervision_class="A", explanation={},
                               inputs_digest=secrets.token_hex(32), record_count=0, current=True,
                               evaluated_at=clock.now()))
        user = create_user(session, username="firm-cli", password="correct-horse-battery", role="firm",
                           enterprise_uscc=CODE)
        with time_machine.travel(clock.now() - dt.timedelta(days=8), tick=False):
            cert = services.apply(session, user)
            services.evaluate(session, cert.certificate_no, "cli")
        number = cert.certificate_no
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    runner = CliRunner()
    try:
        listed = runner.invoke(main, ["certificates", "list", "--status", "publicized"])
        assert listed.exit_code == 0, listed.output
        assert number in listed.output and "公示中" in listed.output and "共 1 项" in listed.output
        advanced = runner.invoke(main, ["certificates", "advance"])
        assert advanced.exit_code == 0, advanced.output
        assert f"发证 1 份：{number}" in advanced.output and "到期 0 份" in advanced.output
        assert "发证 0 份" in runner.invoke(main, ["certificates", "advance"]).output  # nothing twice
        shown = runner.invoke(main, ["certificates", "show", number.lower()])
        assert shown.exit_code == 0 and "状态 有效" in shown.output and "publicized → issued" in shown.output
        assert "cli" in shown.output and "有效期 2026-11-18 至 2029-11-17" in shown.output
        missing = runner.invoke(main, ["certificates", "show", "PCC2026AAAAAAAAAAAA"])
        assert missing.exit_code == 1 and "没有编号为 PCC2026AAAAAAAAAAAA 的证书" in missing.output
        pdf = tmp_path / "cert.pdf"
        made = runner.invoke(main, ["certificates", "pdf", number, "--out", str(pdf), "--base-url", "https://credit.example.cn/"])
        assert made.exit_code == 0, made.output
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert number in text and "杭州证书测试电力有限公司" in text and f"https://credit.example.cn/verify/{number}?digest=" in text
        rule = runner.invoke(main, ["certificates", "rules"])
        assert rule.exit_code == 0 and "公示期 7 天" in rule.output and "获证最低等级 A" in rule.output
        monkeypatch.setenv(rules.ENV, '{"notice_days": -1}')
        bad = runner.invoke(main, ["certificates", "list"])
        assert bad.exit_code != 0 and "notice_days" in bad.output
    finally:
        monkeypatch.delenv(rules.ENV, raising=False)
        rules.load()
        database.dispose()
