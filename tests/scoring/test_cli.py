"""`powercredit evaluate`: all, changed only, one firm; runs recorded."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner

from app.archive.categories import CATEGORIES
from app.archive.ingestion import ingest_records
from app.archive.models import DataProvider
from app.archive.services import create_provider, load_enterprise, register_enterprise
from app.archive.uscc import make_uscc
from app.cli import main
from app.core.crypto import FieldCipher, KeyRing
from app.core.db import Database
from app.scoring.models import Evaluation, EvaluationRun
from tests.conftest import contract_row, history_rows

FIRMS = [make_uscc("9", "1", "330106", "MA2H0001"), make_uscc("9", "1", "330106", "MA2H0002")]


def _setup(fresh_databases, tmp_path, monkeypatch) -> Database:  # noqa: ANN001
    url = fresh_databases.new()
    database = Database(url)
    with database.transaction() as session:
        provider = create_provider(session, code="ecp", name="电工交易平台", kind="procurement_platform",
                                   categories=["contract"])
        for code in FIRMS:
            register_enterprise(session, FieldCipher(KeyRing.generate()),
                                load_enterprise({"uscc": code, "name": f"企业{code[-4:]}", "segment": "supplier"}))
        ingest_records(session, provider, [contract_row(FIRMS[0], "c-1")])
        # A grid company covering every category in the firm's province, with a year of bills
        # and tax: enough for power-v2 to rate the first firm.
        grid = create_provider(session, code="grid", name="国网浙江省电力", kind="grid_company",
                               categories=list(CATEGORIES), provinces=["33"])
        ingest_records(session, grid, history_rows(FIRMS[0]))
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    return database


def test_evaluate_all_then_changed_then_one(fresh_databases, tmp_path, monkeypatch):
    database = _setup(fresh_databases, tmp_path, monkeypatch)
    try:
        first = CliRunner().invoke(main, ["evaluate", "--all"])
        assert first.exit_code == 0, first.output
        assert "企业 2 家，新评价 2" in first.output and "当前等级分布" in first.output
        nothing = CliRunner().invoke(main, ["evaluate", "--changed"])
        assert "企业 0 家" in nothing.output
        with database.transaction() as session:
            provider_id = session.scalar(sa.text("SELECT id FROM data_provider WHERE code = 'ecp'"))
            from app.archive.models import DataProvider

            ingest_records(session, session.get(DataProvider, provider_id), [contract_row(FIRMS[1], "c-2")])
        changed = CliRunner().invoke(main, ["evaluate", "--changed"])
        assert "企业 1 家，新评价 1" in changed.output, changed.output
        one = CliRunner().invoke(main, ["evaluate", "--uscc", FIRMS[0]])
        assert "企业 1 家，新评价 0，结果未变 1" in one.output, one.output
        with database.transaction() as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(EvaluationRun)) == 4
            assert session.scalar(sa.select(sa.func.count()).select_from(Evaluation)) == 3
        refused = CliRunner().invoke(main, ["evaluate"])
        assert refused.exit_code == 1
        bad_day = CliRunner().invoke(main, ["evaluate", "--all", "--as-of", "2026-13-01"])
        assert bad_day.exit_code == 1
    finally:
        database.dispose()


def test_import_re_evaluates_unless_told_not_to(fresh_databases, tmp_path, monkeypatch):
    import json

    database = _setup(fresh_databases, tmp_path, monkeypatch)
    try:
        nd = tmp_path / "more.ndjson"
        nd.write_text(json.dumps(contract_row(FIRMS[1], "c-9")) + "\n", encoding="utf-8")
        quiet = CliRunner().invoke(main, ["import", str(nd), "--provider", "ecp", "--no-evaluate"])
        assert quiet.exit_code == 0, quiet.output
        assert "重新评价" not in quiet.output
        nd.write_text(json.dumps(contract_row(FIRMS[1], "c-10")) + "\n", encoding="utf-8")
        loud = CliRunner().invoke(main, ["import", str(nd), "--provider", "ecp"])
        assert "已重新评价记录有变化的企业 1 家" in loud.output, loud.output
        with database.transaction() as session:
            runs = session.scalars(sa.select(EvaluationRun.mode)).all()
            assert runs == ["ingestion"]
    finally:
        database.dispose()


def test_index_by_segment_names_the_segments_in_chinese(fresh_databases, tmp_path, monkeypatch):
    database = _setup(fresh_databases, tmp_path, monkeypatch)
    try:
        assert CliRunner().invoke(main, ["evaluate", "--all"]).exit_code == 0
        by_segment = CliRunner().invoke(main, ["index", "--by", "segment"])
        assert by_segment.exit_code == 0, by_segment.output
        assert "供应商" in by_segment.output, by_segment.output
        assert "supplier" not in by_segment.output
        overall = CliRunner().invoke(main, ["index"])
        assert "全部" in overall.output and " all " not in overall.output
    finally:
        database.dispose()


def test_a_regional_five_grade_scorecard_grades_only_the_segment_it_serves(fresh_databases, tmp_path, monkeypatch):
    from app.scoring.scorecard import PROJECT_SCORECARDS

    database = _setup(fresh_databases, tmp_path, monkeypatch)
    retail = make_uscc("9", "1", "330106", "MA2H0003")
    try:
        with database.transaction() as session:
            register_enterprise(session, FieldCipher(KeyRing.generate()),
                                load_enterprise({"uscc": retail, "name": "某售电有限公司", "segment": "retail",
                                                 "founded_on": "2016-05-01", "registered_capital": "20000000"}))
            grid = session.scalar(sa.select(DataProvider).where(DataProvider.code == "grid"))
            ingest_records(session, grid, history_rows(retail, prefix="retail"))
        assert CliRunner().invoke(main, ["evaluate", "--all"]).exit_code == 0  # the national grades first
        card = PROJECT_SCORECARDS / "regional" / "retail-five-grade.json"
        checked = CliRunner().invoke(main, ["scorecard", "check", str(card)])
        assert checked.exit_code == 0 and "等级线：AAA ≥ 90，AA ≥ 80，A ≥ 70，B ≥ 60，C ≥ 0" in checked.output
        result = CliRunner().invoke(main, ["evaluate", "--all", "--scorecard", str(card)])
        assert result.exit_code == 0, result.output
        assert "新评价 1" in result.output and "评分卡不适用其板块未评价 2" in result.output
        with database.session() as session:
            [ev] = session.scalars(sa.select(Evaluation).where(Evaluation.scorecard_id == "regional-retail-five-grade"))
            assert ev.grade in ("AAA", "AA", "A", "B", "C")
            # Beside the firm's grade, never in its place: the national evaluation stays current.
            assert ev.current is False
            [current] = session.scalars(sa.select(Evaluation).where(Evaluation.enterprise_id == ev.enterprise_id,
                                                                    Evaluation.current.is_(True)))
            assert (current.scorecard_id, current.scorecard_version) == ("power-credit", "2.0")
        again = CliRunner().invoke(main, ["evaluate", "--all", "--scorecard", str(card)])
        assert "新评价 0" in again.output and "结果未变 1" in again.output
        backtest = CliRunner().invoke(main, ["scorecard", "validate", "--scorecard", str(card), "--as-of",
                                             "2026-11-18", "--horizon-months", "1"])
        assert backtest.exit_code == 0, backtest.output
        assert "regional-retail-five-grade 1.0" in backtest.output and "纳入 1 家" in backtest.output
        bad = tmp_path / "bad.json"
        bad.write_text('{"id": "x"}', "utf-8")
        refused = CliRunner().invoke(main, ["evaluate", "--all", "--scorecard", str(bad)])
        assert refused.exit_code != 0 and "评分卡" in refused.output
    finally:
        database.dispose()
