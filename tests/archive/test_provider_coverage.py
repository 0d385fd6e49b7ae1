"""Which firms a provider reports on (its coverage) decides whether its silence is evidence:
registered with the provider (CLI and service), checked, listed, and read by the scorecard."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from app.archive.ingestion import ingest_records
from app.archive.services import create_provider
from app.cli import main
from app.core.errors import InvalidInput
from app.scoring.services import covered_categories, evaluate, region_coverage


def test_coverage_defaults_by_kind_and_provinces_are_checked(db) -> None:
    tax = create_provider(db, code="tax-cn", name="国家税务总局", kind="tax_authority", categories=["tax"])
    bank = create_provider(db, code="bank-1", name="某银行", kind="financial_institution", categories=["loan"])
    assert (tax.coverage, tax.provinces) == ("region", None) and bank.coverage == "reported"
    grid = create_provider(db, code="grid-zj", name="国网浙江", kind="grid_company", categories=["utility"],
                           provinces=["33", "34"])
    assert grid.provinces == ["33", "34"]
    with pytest.raises(InvalidInput) as bad:
        create_provider(db, code="grid-x", name="某电网", kind="grid_company", categories=["utility"], provinces=["99"])
    assert "provinces" in bad.value.errors
    with pytest.raises(InvalidInput) as bad:
        create_provider(db, code="bank-2", name="某银行", kind="financial_institution", categories=["loan"],
                        provinces=["33"])
    assert "provinces" in bad.value.errors  # a bank covers only whom it reports on: no provinces
    with pytest.raises(InvalidInput) as bad:
        create_provider(db, code="x", name="某来源", kind="other", categories=["loan"], coverage="everyone")
    assert "coverage" in bad.value.errors


def test_a_regional_provider_covers_its_provinces_and_a_reporting_one_its_firms(db, make_enterprise, rows) -> None:
    create_provider(db, code="grid-zj", name="国网浙江", kind="grid_company", categories=["utility"], provinces=["33"])
    bank = create_provider(db, code="bank-1", name="某银行", kind="financial_institution", categories=["loan", "contract"])
    zhejiang, anhui = make_enterprise(region="330106"), make_enterprise(region="340103")
    coverage = region_coverage(db)
    assert covered_categories(coverage, zhejiang.province_code, []) == {"utility"}
    assert covered_categories(coverage, anhui.province_code, []) == set()
    ingest_records(db, bank, [rows.contract(anhui.uscc, "c-1")])
    evaluation = evaluate(db, anhui)
    contract = next(f for f in evaluation.explanation["factors"] if f["key"] == "contract_performance")
    utility = next(f for f in evaluation.explanation["factors"] if f["key"] == "utility_payment")
    assert contract["known"] is True  # the bank reported on this firm
    assert utility["known"] is False and "没有覆盖该企业的数据来源" in utility["reason"]  # no grid company in 安徽


def test_the_cli_registers_and_lists_coverage(fresh_databases, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_databases.new())
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    runner = CliRunner()
    added = runner.invoke(main, ["providers", "add", "--code", "grid-zj", "--name", "国网浙江省电力有限公司",
                                 "--kind", "grid_company", "--categories", "utility", "--provinces", "33,34"])
    assert added.exit_code == 0, added.output
    refused = runner.invoke(main, ["providers", "add", "--code", "bank-1", "--name", "某银行", "--kind",
                                   "financial_institution", "--categories", "loan", "--provinces", "33"])
    assert refused.exit_code != 0 and "provinces" in refused.output
    listed = runner.invoke(main, ["providers", "list"])
    assert "覆盖辖区内全部企业（浙江省、安徽省）" in listed.output and "bank-1" not in listed.output
