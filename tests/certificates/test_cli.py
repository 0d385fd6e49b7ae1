"""`powercredit certificates list|show|advance|pdf|rules`, on a database of their own."""

from __future__ import annotations

import datetime as dt
import secrets
import subprocess
from decimal import Decimal

import time_machine
from click.testing import CliRunner
from rich.cells import cell_len

from app.accounts.services import create_user
from app.archive.services import load_enterprise, register_enterprise
from app.archive.uscc import make_uscc
from app.certificates import rules, services
from app.cli import main
from app.core import clock
from app.core.cli import out
from app.core.crypto import FieldCipher, KeyRing
from app.core.db import Database
from app.scoring.models import Evaluation

CODE = make_uscc("9", "1", "330106", "MA2C0001")
OTHER = make_uscc("9", "1", "330106", "MA2C0002")


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
        # A long name with spaces, an application waiting: once cut the numbers at 80 columns.
        long_name = "国网浙江省电力有限公司 杭州供电公司 综合能源服务分公司"
        other, _ = register_enterprise(session, FieldCipher(KeyRing.generate()),
                                       load_enterprise({"uscc": OTHER, "name": long_name, "segment": "supplier"}))
        session.add(Evaluation(enterprise_id=other.id, scorecard_id="power-credit", scorecard_version="2.0",
                               as_of=clock.today() - dt.timedelta(days=30), score=Decimal("85.00"), grade="AA",
                               uncapped_grade="AA", supervision_class="A", explanation={},
                               inputs_digest=secrets.token_hex(32), record_count=0, current=True,
                               evaluated_at=clock.now()))
        waiting = services.apply(session, create_user(session, username="firm-cli-2", password="correct-horse-battery",
                                                      role="firm", enterprise_uscc=OTHER)).certificate_no
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    runner = CliRunner()
    try:
        monkeypatch.setattr(out, "_width", 80)  # an 80-column terminal, whatever runs the tests
        listed = runner.invoke(main, ["certificates", "list", "--status", "publicized"])
        assert listed.exit_code == 0, listed.output
        assert number in listed.stdout and "公示中" in listed.stdout and "共 1 项" in listed.stdout
        assert "公示至 2026-11-16" in listed.stdout  # the notice's last day (published eight days ago)
        assert max(cell_len(line) for line in listed.stdout.splitlines()) <= 80
        advanced = runner.invoke(main, ["certificates", "advance"])
        assert advanced.exit_code == 0, advanced.output
        assert f"发证 1 份：{number}" in advanced.stdout and "到期 0 份" in advanced.stdout
        assert "证书每日任务：公示期满发证" in advanced.stderr and "1/1" in advanced.stderr  # progress, on stderr
        listed = runner.invoke(main, ["certificates", "list"])
        assert number in listed.stdout and "有效" in listed.stdout and "2029-11-17" in listed.stdout
        assert waiting in listed.stdout and "已申报" in listed.stdout and "共 2 项" in listed.stdout
        assert max(cell_len(line) for line in listed.stdout.splitlines()) <= 80
        assert "发证 0 份" in runner.invoke(main, ["certificates", "advance"]).output  # nothing twice
        shown = runner.invoke(main, ["certificates", "show", number.lower()])
        assert shown.exit_code == 0 and "状态 有效" in shown.output and "公示中 → 有效" in shown.output
        assert "已申报 → 公示中" in shown.output and "publicized" not in shown.output  # labels, not codes
        assert "cli" in shown.output and "有效期 2026-11-18 至 2029-11-17" in shown.output
        assert "下次复核 2027-11-18" in shown.output
        # Who: people by name and role, the command line as such; never the codes.
        assert "firm-cli（企业）" in shown.output and "系统（命令行手动运行每日任务）" in shown.output
        assert "user:" not in shown.output and "  cli  " not in shown.output
        missing = runner.invoke(main, ["certificates", "show", "PCC2026AAAAAAAAAAAA"])
        assert missing.exit_code == 1 and "没有编号为 PCC2026AAAAAAAAAAAA 的证书" in missing.output
        pdf = tmp_path / "cert.pdf"
        made = runner.invoke(main, ["certificates", "pdf", number, "--out", str(pdf), "--base-url", "https://credit.example.cn/"])
        assert made.exit_code == 0, made.output
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert number in text and "杭州证书测试电力有限公司" in text and f"https://credit.example.cn/verify/{number}?digest=" in text
        with time_machine.travel(clock.at_cn(dt.date(2029, 11, 18), 0, 5), tick=False):  # before the daily job
            lapsed = runner.invoke(main, ["certificates", "show", number])
            assert "状态 已过期：有效期已于 2029-11-17 届满" in lapsed.output and "状态 有效" not in lapsed.output
            assert "有效期 2026-11-18 至 2029-11-17" in lapsed.output and "下次复核" not in lapsed.output  # none to come
            lapsed = runner.invoke(main, ["certificates", "list", "--q", number])
            assert "已过期" in lapsed.stdout and "有效" not in lapsed.stdout.replace("有效期至", "")
        rule = runner.invoke(main, ["certificates", "rules"])
        assert rule.exit_code == 0 and "公示期 7 天" in rule.output and "获证最低等级 A" in rule.output
        monkeypatch.setenv(rules.ENV, '{"notice_days": -1}')
        bad = runner.invoke(main, ["certificates", "list"])
        assert bad.exit_code != 0 and "notice_days" in bad.output
    finally:
        monkeypatch.delenv(rules.ENV, raising=False)
        rules.load()
        database.dispose()


def test_the_help_summarises_every_command_in_a_line():
    """click cuts a summary it makes from a long help to 「...」: every command has its own."""
    listed = CliRunner().invoke(main, ["certificates", "--help"], terminal_width=80)
    assert listed.exit_code == 0, listed.output
    commands = listed.output.split("Commands:", 1)[1].splitlines()
    summaries = {line.split()[0]: line.split(None, 1)[1] for line in commands if line.strip()}
    assert set(summaries) == {"advance", "list", "pdf", "rules", "show"}
    assert summaries["advance"] == "手动运行证书每日任务：到期、按规则复核与年度复核、公示期满发证"
    assert not any(s.endswith(("...", "…")) for s in summaries.values()), summaries


def test_the_list_gives_a_notice_day_only_while_the_result_is_in_its_notice(fresh_databases, monkeypatch, tmp_path):
    """A result rejected (an objection upheld) or withdrawn during its notice period was never
    valid and is no longer in notice: 「—」, not the last day of a notice that was cut short."""
    url = fresh_databases.new()
    database = Database(url)
    numbers = {}
    with database.transaction() as session:
        operator = create_user(session, username="op-cli", password="correct-horse-battery", role="operator")
        objector = create_user(session, username="op-cli-2", password="correct-horse-battery", role="operator")
        for i, end in enumerate(("rejected", "withdrawn", "publicized")):
            code = make_uscc("9", "1", "330106", f"MA2C010{i}")
            ent, _ = register_enterprise(session, FieldCipher(KeyRing.generate()),
                                         load_enterprise({"uscc": code, "name": f"证书列表测试企业{i}", "segment": "supplier"}))
            session.add(Evaluation(enterprise_id=ent.id, scorecard_id="power-credit", scorecard_version="2.0",
                                   as_of=clock.today() - dt.timedelta(days=30), score=Decimal("85.00"), grade="AA",
                                   uncapped_grade="AA", supervision_class="A", explanation={},
                                   inputs_digest=secrets.token_hex(32), record_count=0, current=True,
                                   evaluated_at=clock.now()))
            user = create_user(session, username=f"firm-list-{i}", password="correct-horse-battery", role="firm",
                               enterprise_uscc=code)
            cert = services.apply(session, user)
            services.evaluate(session, cert.certificate_no, services.actor_of(operator),
                              note="[/注] 材料齐全" if end == "publicized" else None)
            if end == "rejected":
                o = services.object_to(session, objector, cert.certificate_no, "有异议")
                services.resolve_objection(session, operator, o.objection_no, "upheld", "经核查属实")
            elif end == "withdrawn":
                services.withdraw(session, user, cert.certificate_no, None)
            assert str(cert.status) == end
            numbers[end] = cert.certificate_no
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setattr(out, "_width", 80)
    try:
        listed = CliRunner().invoke(main, ["certificates", "list"])
        assert listed.exit_code == 0, listed.output
        rows = {n: line for line in listed.stdout.splitlines() for n in numbers.values() if n in line}
        assert "公示至 2026-11-24" in rows[numbers["publicized"]]
        for end in ("rejected", "withdrawn"):
            assert "公示至" not in rows[numbers[end]] and rows[numbers[end]].rstrip(" │|").endswith("—"), rows[numbers[end]]
        assert "未通过" in rows[numbers["rejected"]] and "已撤回" in rows[numbers["withdrawn"]]
        # The operator's note in the history, typed text printed as typed (never read as markup).
        shown = CliRunner().invoke(main, ["certificates", "show", numbers["publicized"]])
        assert shown.exit_code == 0, shown.output
        assert "已申报 → 公示中" in shown.output and "（说明：[/注] 材料齐全）" in shown.output
        shown = CliRunner().invoke(main, ["certificates", "show", numbers["rejected"]])
        assert shown.exit_code == 0 and "（处理：经核查属实）" in shown.output and "说明：" not in shown.output
    finally:
        database.dispose()
