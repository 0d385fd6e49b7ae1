"""The early-warning index (issue #26, item 6): base period = 100, dispersion, the tail,
a power group's index over its subsidiaries, the thresholds file and the warnings it raises,
and the monthly job that writes them as monitoring events once."""

from __future__ import annotations

import datetime as dt
import json
import statistics
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from app.accounts.services import create_institution
from app.archive.relations import Filer, file_relations
from app.core import jobs
from app.monitoring.models import MonitoringEvent
from app.scoring.index import (
    IndexThresholdsError,
    credit_power_index,
    index_warnings,
    load_thresholds,
    parse_thresholds,
)
from app.scoring.models import Evaluation

UTC = dt.UTC
_n = iter(range(1_000_000))


def _ev(db, ent, as_of: str, score: str | None, grade: str, at: str | None = None) -> None:  # noqa: ANN001
    rated = score is not None
    db.add(Evaluation(
        enterprise_id=ent.id, scorecard_id="power-credit", scorecard_version="2.0",
        as_of=dt.date.fromisoformat(as_of), score=Decimal(score) if rated else None, grade=grade,
        uncapped_grade=grade if rated else None, supervision_class="B" if rated else None,
        willingness=Decimal(score) if rated else None, capability=Decimal(score) if rated else None,
        performance=Decimal(score) if rated else None, coverage=Decimal("0.9") if rated else Decimal("0.2"),
        explanation={}, inputs_digest=f"{next(_n):064d}", record_count=1, current=True,
        evaluated_at=dt.datetime.fromisoformat(at or f"{as_of}T02:00:00").replace(tzinfo=UTC),
    ))


# September (the base month): two retail firms at 60.  October: four rated firms and one NR.
OCTOBER = [("90.00", "AA"), ("50.00", "BB"), ("40.00", "B"), ("30.00", "CCC")]


@pytest.fixture
def firms(db, make_enterprise):  # noqa: ANN001, ANN201
    retail = [make_enterprise(segment="retail", region="330106") for _ in range(4)]
    users = [make_enterprise(segment="consumer", region="110101") for _ in range(2)]
    _ev(db, retail[0], "2026-09-10", "60.00", "BBB")
    _ev(db, retail[1], "2026-09-12", "60.00", "BBB")
    # October: an earlier evaluation of the month does not count, the later one does.
    _ev(db, retail[0], "2026-10-01", "10.00", "C", at="2026-10-01T01:00:00")
    for ent, (score, grade) in zip([*retail, users[0]], OCTOBER + [("70.00", "A")], strict=False):
        _ev(db, ent, "2026-10-20", score, grade)
    _ev(db, users[1], "2026-10-25", None, "NR")
    db.flush()
    return retail, users


def test_the_base_month_is_100_and_later_months_are_relative_to_it(db, firms):
    september, october = credit_power_index(db)
    assert september["month"] == "2026-09" and september["index"] == 60.0 and september["index_base100"] == 100.0
    # October: (90 + 50 + 40 + 30 + 70) / 5 = 56; 56 / 60 × 100 = 93.33.
    assert october["index"] == 56.0 and october["index_base100"] == 93.33
    # A base month named outright, and one outside the months asked for.
    [only] = credit_power_index(db, first="2026-10", last="2026-10")
    assert only["index_base100"] == 93.33
    [rebased] = credit_power_index(db, first="2026-10", base_month="2026-10")
    assert rebased["index_base100"] == 100.0
    # By segment: each group against its own base-month index; a group absent then has none.
    by_segment = {(r["month"], r["group"]): r for r in credit_power_index(db, by="segment")}
    assert by_segment[("2026-10", "retail")]["index_base100"] == round((90 + 50 + 40 + 30) / 4 / 60 * 100, 2)
    assert by_segment[("2026-10", "consumer")]["index_base100"] is None


def test_the_thresholds_file_may_name_the_base_month(db, firms, tmp_path, monkeypatch):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"base_month": "2026-10"}))
    monkeypatch.setenv("PC_INDEX_THRESHOLDS", str(path))
    september, october = credit_power_index(db)
    assert october["index_base100"] == 100.0 and september["index_base100"] == round(60 / 56 * 100, 2)


def test_dispersion_and_tail_on_a_small_set(db, firms):
    october = credit_power_index(db)[1]
    scores = [90.0, 50.0, 40.0, 30.0, 70.0]
    q1, _, q3 = statistics.quantiles(scores, n=4, method="inclusive")
    assert october["firms"] == 5 and october["evaluated"] == 6  # the NR firm counts in the tail only
    assert october["std"] == round(statistics.pstdev(scores), 2) == 21.54
    assert (october["q1"], october["q3"], october["iqr"]) == (q1, q3, q3 - q1) == (40.0, 70.0, 30.0)
    assert october["tail_share"] == round(2 / 6, 4)  # B and CCC
    assert october["nr_share"] == round(1 / 6, 4)
    retail = [r for r in credit_power_index(db, by="segment") if r["month"] == "2026-10" and r["group"] == "retail"][0]
    q1, _, q3 = statistics.quantiles([90.0, 50.0, 40.0, 30.0], n=4, method="inclusive")  # interpolated
    assert (retail["q1"], retail["q3"], retail["iqr"]) == (37.5, 60.0, 22.5) == (q1, q3, q3 - q1)
    assert retail["tail_share"] == 0.5 and retail["nr_share"] == 0.0


def test_one_firm_has_no_spread(db, make_enterprise):
    ent = make_enterprise(segment="retail")
    _ev(db, ent, "2026-10-20", "77.00", "A")
    db.flush()
    [row] = credit_power_index(db)
    assert (row["std"], row["q1"], row["q3"], row["iqr"]) == (0.0, 77.0, 77.0, 0.0)


def test_the_api_and_the_page_show_the_new_figures(client, db, firms):
    body = client.get("/api/v1/index").get_json()
    assert body["base_month"] == "2026-09"
    october = body["items"][-1]
    assert october["index_base100"] == 93.33 and october["std"] == 21.54 and october["iqr"] == 30.0
    assert october["tail_share"] == 0.3333 and october["nr_share"] == 0.1667 and october["evaluated"] == 6
    rebased = client.get("/api/v1/index?base=2026-10").get_json()
    assert rebased["base_month"] == "2026-10" and rebased["items"][-1]["index_base100"] == 100.0
    bad = client.get("/api/v1/index?base=2026-13")
    assert bad.status_code == 422 and "query.base" in bad.get_json()["errors"]
    page = client.get("/credit-index").get_data(as_text=True)
    assert "定基指数" in page and "93.33" in page and "21.54" in page and "33.3%" in page and "16.7%" in page


# --- a power group's index ----------------------------------------------------------------------


@pytest.fixture
def group(db, make_enterprise, firms):  # noqa: ANN001, ANN201
    """A group over two of the retail firms (one of them at level 2) and the NR consumer."""
    retail, users = firms
    parent = make_enterprise(segment="generation")
    file_relations(db, Filer(operator="test"), [
        {"parent_uscc": parent.uscc, "child_uscc": retail[0].uscc, "kind": "wholly_owned", "valid_from": "2020-01-01"},
        {"parent_uscc": retail[0].uscc, "child_uscc": retail[3].uscc, "kind": "controlling", "share": "60",
         "valid_from": "2020-01-01"},
        {"parent_uscc": parent.uscc, "child_uscc": users[1].uscc, "kind": "controlling", "share": "51",
         "valid_from": "2020-01-01"},
    ])
    inst = create_institution(db, name="测试电力集团", licence_no=f"G-{parent.uscc}", kind="group", uscc=parent.uscc)
    db.flush()
    return parent, inst


def test_a_groups_index_is_over_its_subsidiaries_at_every_level(db, group):
    parent, _ = group
    rows = credit_power_index(db, by="group")
    assert [(r["month"], r["group"]) for r in rows] == [("2026-09", parent.uscc), ("2026-10", parent.uscc)]
    september, october = rows
    assert september["firms"] == 1 and september["index"] == 60.0  # retail[0] only; retail[3] not yet evaluated
    # October: retail[0] 90 (its later evaluation), retail[3] (level 2) 30, the NR firm in the tail.
    assert (october["firms"], october["evaluated"], october["index"]) == (2, 3, 60.0)
    assert october["tail_share"] == round(1 / 3, 4) and october["nr_share"] == round(1 / 3, 4)
    assert october["index_base100"] == 100.0
    assert credit_power_index(db, by="group", group="91110000053621038D") == []


def test_a_group_warning_goes_to_the_groups_institution(db, group):
    parent, inst = group
    limits = parse_thresholds({"group": {"default": {"max_nr_share": 0.3, "min_firms": 3},
                                         parent.uscc: {"min_index": 61}}})
    found = index_warnings(db, "2026-10", limits)
    assert {w["metric"] for w in found} == {"nr_share", "index"}
    for w in found:
        assert w["scope"] == "group" and w["scope_code"] == parent.uscc and w["institution_id"] == inst.id
        assert w["scope_label"] == "测试电力集团" and w["title"].startswith("2026年10月测试电力集团所属企业")
    fewer = parse_thresholds({"group": {"default": {"max_nr_share": 0.3, "min_firms": 4}}})
    assert index_warnings(db, "2026-10", fewer) == []  # three firms evaluated: too few to warn


# --- thresholds at their edges ------------------------------------------------------------------

# October for the whole sector: index 56, down 4 from 60; std 21.54; IQR 30; B or below 0.3333; NR 0.1667.
EDGES = [("min_index", 56.0, 56.01, "index"), ("max_fall", 4.0, 3.99, "fall"),
         ("max_tail_share", 0.3333, 0.3332, "tail_share"), ("max_nr_share", 0.1667, 0.1666, "nr_share"),
         ("max_std", 21.54, 21.53, "std"), ("max_iqr", 30.0, 29.99, "iqr")]


@pytest.mark.parametrize(("limit", "equal", "beyond", "metric"), EDGES)
def test_each_threshold_at_its_edge(db, firms, limit, equal, beyond, metric):
    assert index_warnings(db, "2026-10", parse_thresholds({"all": {limit: equal}})) == []
    [warning] = index_warnings(db, "2026-10", parse_thresholds({"all": {limit: beyond}}))
    assert (warning["scope"], warning["scope_code"], warning["metric"], warning["threshold"]) == (
        "all", "all", metric, beyond)
    assert warning["value"] == equal and warning["month"] == "2026-10" and "institution_id" not in warning
    assert warning["key"] == f"index.warning:2026-10:all:all:{metric}"
    assert warning["title"].startswith("2026年10月全行业")


def test_segment_and_province_warnings_have_chinese_titles(db, firms):
    limits = parse_thresholds({"segment": {"default": {"max_fall": 2}, "consumer": {"max_fall": None}},
                               "province": {"default": {"min_index": 55}, "11": {"min_index": 80}}})
    found = {(w["scope"], w["scope_code"], w["metric"]): w for w in index_warnings(db, "2026-10", limits)}
    assert set(found) == {("segment", "retail", "fall"), ("province", "33", "index"), ("province", "11", "index")}
    assert found[("segment", "retail", "fall")]["title"] == "2026年10月售电板块信用电力指数环比下降 7.5 点（阈值 2 点）"
    assert found[("segment", "retail", "fall")]["scope_label"] == "售电"
    assert found[("province", "33", "index")]["title"] == "2026年10月浙江省信用电力指数 52.50，低于阈值 55"
    assert found[("province", "11", "index")]["title"] == "2026年10月北京市信用电力指数 70.00，低于阈值 80"


def test_the_shipped_thresholds_file_loads():
    shipped = load_thresholds()
    assert shipped.base_month is None and shipped.limits("all", "all")["min_index"] == 60
    assert shipped.limits("segment", "retail")["min_firms"] == 10


@pytest.mark.parametrize(("document", "key"), [
    ({"al": {}}, "al"),
    ({"base_month": "2026-13"}, "base_month"),
    ({"all": {"min_index": 101}}, "all.min_index"),
    ({"all": {"max_tail_share": 20}}, "all.max_tail_share"),
    ({"all": {"max_fall": "2"}}, "all.max_fall"),
    ({"all": {"max_drop": 2}}, "all.max_drop"),
    ({"segment": {"retial": {"max_fall": 2}}}, "segment.retial"),
    ({"province": {"99": {}}}, "province.99"),
    ({"group": {"91110000053621038X": {}}}, "group.91110000053621038X"),
    ({"group": {"default": {"min_firms": 0}}}, "group.default.min_firms"),
    ({"segment": []}, "segment"),
])
def test_a_bad_thresholds_file_is_a_clear_error_naming_the_key(tmp_path, document, key):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(IndexThresholdsError) as refused:
        load_thresholds(path)
    assert f"{key}：" in str(refused.value) and str(path) in str(refused.value)


def test_a_missing_or_broken_file_says_so(tmp_path):
    with pytest.raises(IndexThresholdsError, match="无法读取"):
        load_thresholds(tmp_path / "none.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(IndexThresholdsError, match="不是有效的 JSON"):
        load_thresholds(broken)


# --- the monthly job and the CLI ------------------------------------------------------------------


def _runtime(app: Any) -> jobs.Runtime:
    return jobs.Runtime(app.extensions["pc_db"], app.extensions["pc_settings"])


def test_the_monthly_job_writes_each_warning_once(app, db, firms, tmp_path, monkeypatch):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"all": {"max_fall": 2, "max_nr_share": 0.1},
                                "segment": {"default": {"min_index": 60}}}))
    monkeypatch.setenv("PC_INDEX_THRESHOLDS", str(path))
    job = jobs.registered()["scoring.monthly_index"]
    assert job.label == "月度信用电力指数与预警"
    first = job.run(_runtime(app))  # the suite's today is 18 November 2026: last month is October
    assert first == "month=2026-10 warnings=3 raised=3"
    assert job.run(_runtime(app)) == "month=2026-10 warnings=3 raised=0"  # run again: nothing new

    events = list(db.scalars(sa.select(MonitoringEvent).where(MonitoringEvent.type == "index.warning")))
    assert len(events) == 3 and all(e.enterprise_id is None and e.public for e in events)
    by_key = {e.data["key"]: e.data for e in events}
    assert set(by_key) == {"index.warning:2026-10:all:all:fall", "index.warning:2026-10:all:all:nr_share",
                           "index.warning:2026-10:segment:retail:index"}
    assert by_key["index.warning:2026-10:all:all:fall"]["title"] == "2026年10月全行业信用电力指数环比下降 4 点（阈值 2 点）"

    # A breach that appears later in the month's figures is raised then, once.
    path.write_text(json.dumps({"all": {"max_fall": 2, "max_nr_share": 0.1, "max_std": 20},
                                "segment": {"default": {"min_index": 60}}}))
    assert job.run(_runtime(app)) == "month=2026-10 warnings=4 raised=1"


def test_the_outbox_refuses_a_second_copy_of_a_keyed_event(db):
    from sqlalchemy.exc import IntegrityError

    from app.monitoring.services import NewEvent, write_events

    warning = NewEvent(type="index.warning", enterprise_id=None, data={"key": "k"}, public=True, dedupe_key="k")
    assert write_events(db, [warning]) == 1
    with pytest.raises(IntegrityError), db.begin_nested():
        write_events(db, [warning])
    unkeyed = NewEvent(type="record.negative", enterprise_id=None, data={}, public=True)
    assert write_events(db, [unkeyed, unkeyed]) == 2  # events without a key are not deduplicated


def test_two_runs_racing_raise_each_warning_once(backend, app, fresh_databases, monkeypatch):
    """Another run commits the same warnings between this run's look and its write: the
    outbox's unique key refuses the second copy, and this run, trying again, raises none.
    (On SQLite a transaction takes the write lock when it begins, so runs cannot interleave.)"""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writing transactions (BEGIN IMMEDIATE): the race cannot happen")
    import app.monitoring.services as services
    import app.scoring.index as index_module
    from app.core.db import Database

    database = Database(fresh_databases.new())
    found = [{"key": f"index.warning:2026-10:all:all:{metric}", "month": "2026-10", "metric": metric,
              "title": f"全行业 {metric}"} for metric in ("fall", "nr_share")]
    monkeypatch.setattr(index_module, "index_warnings", lambda session, month, thresholds=None: found)
    real_write = services.write_events
    calls = []

    def racing(session, events):  # noqa: ANN001, ANN202
        calls.append(len(events))
        if len(calls) == 1:  # after this run looked, the other run, on its own connection, commits
            with database.transaction() as other:
                real_write(other, events)
        return real_write(session, events)

    monkeypatch.setattr(services, "write_events", racing)
    try:
        runtime = jobs.Runtime(database, app.extensions["pc_settings"])
        assert jobs.registered()["scoring.monthly_index"].run(runtime, month="2026-10") == \
            "month=2026-10 warnings=2 raised=0"
        assert calls == [2, 0]  # refused once; tried again, nothing left to raise
        with database.reading() as session:
            keys = sorted(session.scalars(sa.select(MonitoringEvent.dedupe_key)))
        assert keys == ["index.warning:2026-10:all:all:fall", "index.warning:2026-10:all:all:nr_share"]
    finally:
        database.dispose()


def test_the_monthly_job_stops_on_a_bad_thresholds_file(app, db, firms, tmp_path, monkeypatch):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"all": {"max_fal": 2}}))
    monkeypatch.setenv("PC_INDEX_THRESHOLDS", str(path))
    with pytest.raises(IndexThresholdsError, match="all.max_fal"):
        jobs.registered()["scoring.monthly_index"].run(_runtime(app))
    assert db.scalar(sa.select(sa.func.count()).select_from(MonitoringEvent)
                     .where(MonitoringEvent.type == "index.warning")) == 0


def test_the_cli_prints_warnings_and_refuses_a_bad_file(fresh_databases, tmp_path, monkeypatch):
    from app.cli import main
    from app.core.db import Database
    from app.scoring.index import latest_month

    url = fresh_databases.new()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    seeded = CliRunner().invoke(main, ["seed", "--firms", "20", "--seed", "7", "--password", "demo-pass-1"])
    assert seeded.exit_code == 0, seeded.output
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps({"all": {"min_index": 100}}))
    assert CliRunner().invoke(main, ["index"]).exit_code == 0
    database = Database(url)
    try:
        with database.reading() as session:
            latest = latest_month(session)
    finally:
        database.dispose()
    assert latest is not None
    result = CliRunner().invoke(main, ["index", "warnings", "--month", latest, "--thresholds", str(strict)])
    assert result.exit_code == 0, result.output
    assert "全行业" in result.output and "信用电力指数" in result.output and "│ 100  │" in result.output
    as_json = CliRunner().invoke(main, ["index", "warnings", "--month", latest, "--thresholds", str(strict), "--json"])
    assert json.loads(as_json.output)[0]["metric"] == "index"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"province": {"99": {}}}))
    refused = CliRunner().invoke(main, ["index", "warnings", "--month", latest, "--thresholds", str(bad)])
    assert refused.exit_code == 1 and "province.99" in refused.output
    assert CliRunner().invoke(main, ["index", "warnings", "--month", "2026-13"]).exit_code == 1
    assert CliRunner().invoke(main, ["index", "--by", "group"]).exit_code == 0


def test_dispatch_sends_a_group_warning_to_the_group_and_the_rest_to_the_operators(app, db, group, tmp_path,
                                                                                   monkeypatch):
    from app.monitoring.models import Alert
    from app.monitoring.services import dispatch_all

    parent, inst = group
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"all": {"max_fall": 2}, "group": {parent.uscc: {"max_nr_share": 0.3}}}))
    monkeypatch.setenv("PC_INDEX_THRESHOLDS", str(path))
    assert jobs.registered()["scoring.monthly_index"].run(_runtime(app)).endswith("raised=2")
    dispatch_all(app.extensions["pc_db"])
    alerts = {a.title: a for a in db.scalars(sa.select(Alert).where(Alert.type == "index.warning"))}
    assert alerts["2026年10月全行业信用电力指数环比下降 4 点（阈值 2 点）"].institution_id is None
    assert alerts["2026年10月测试电力集团所属企业不予评级（NR）企业占比 33.3%（阈值 30%）"].institution_id == inst.id
