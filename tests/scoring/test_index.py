"""The 信用电力指数 on a hand-built data set, checked against values worked out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.scoring.index import credit_power_index
from app.scoring.models import Evaluation

UTC = dt.UTC


def _ev(db, ent, as_of: str, score: str, w: str, c: str, p: str, at: str, current: bool = True) -> None:  # noqa: ANN001
    db.add(Evaluation(
        enterprise_id=ent.id, scorecard_id="power-credit", scorecard_version="1.0",
        as_of=dt.date.fromisoformat(as_of), score=Decimal(score), grade="A", uncapped_grade="A",
        supervision_class="B", willingness=Decimal(w), capability=Decimal(c), performance=Decimal(p),
        explanation={}, inputs_digest="0" * 64, record_count=0, current=current,
        evaluated_at=dt.datetime.fromisoformat(at).replace(tzinfo=UTC),
    ))


@pytest.fixture
def data(db, make_enterprise):  # noqa: ANN001, ANN201
    a = make_enterprise(segment="retail", region="330106")      # 浙江
    b = make_enterprise(segment="retail", region="110101")      # 北京
    c = make_enterprise(segment="supplier", region="330106")    # 浙江
    # October: a evaluated twice (the later one counts), b once; c not at all.
    _ev(db, a, "2026-10-05", "50.00", "40.00", "50.00", "60.00", "2026-10-05T01:00:00", current=False)
    _ev(db, a, "2026-10-20", "80.00", "70.00", "80.00", "90.00", "2026-10-20T01:00:00", current=False)
    _ev(db, b, "2026-10-31", "60.00", "60.00", "60.00", "60.00", "2026-10-31T01:00:00")
    # November: a and c.
    _ev(db, a, "2026-11-02", "90.00", "90.00", "90.00", "90.00", "2026-11-02T01:00:00")
    _ev(db, c, "2026-11-15", "45.50", "30.00", "50.00", "55.00", "2026-11-15T01:00:00")
    db.flush()
    return a, b, c


def test_the_index_is_the_mean_of_each_firms_latest_score_in_the_month(db, data):
    rows = credit_power_index(db)
    assert [(r["month"], r["firms"]) for r in rows] == [("2026-10", 2), ("2026-11", 2)]
    october, november = rows
    # October: (80 + 60) / 2 = 70; willingness (70 + 60) / 2 = 65; capability 70; performance 75.
    assert (october["index"], october["willingness"], october["capability"], october["performance"]) == (
        70.0, 65.0, 70.0, 75.0)
    # November: (90 + 45.5) / 2 = 67.75; (90 + 30) / 2 = 60; (90 + 50) / 2 = 70; (90 + 55) / 2 = 72.5.
    assert (november["index"], november["willingness"], november["capability"], november["performance"]) == (
        67.75, 60.0, 70.0, 72.5)


def test_filters_and_groupings(db, data):
    retail = credit_power_index(db, segment="retail")
    assert [(r["month"], r["index"]) for r in retail] == [("2026-10", 70.0), ("2026-11", 90.0)]
    zhejiang = credit_power_index(db, province="33")
    assert [(r["month"], r["index"]) for r in zhejiang] == [("2026-10", 80.0), ("2026-11", 67.75)]
    by_segment = credit_power_index(db, by="segment", first="2026-11", last="2026-11")
    assert [(r["group"], r["index"]) for r in by_segment] == [("retail", 90.0), ("supplier", 45.5)]
    by_province = credit_power_index(db, by="province", last="2026-10")
    assert [(r["group"], r["index"]) for r in by_province] == [("11", 60.0), ("33", 80.0)]


def test_the_api_publishes_it_with_its_definition(client, db, data):
    body = client.get("/api/v1/index?region=330106&from=2026-10&to=2026-11").get_json()
    assert "均值" in body["definition"]
    assert [(r["month"], r["index"]) for r in body["items"]] == [("2026-10", 80.0), ("2026-11", 67.75)]
    assert client.get("/api/v1/index?segment=retail&by=segment").get_json()["items"][0]["group"] == "retail"


def test_a_dimension_nobody_in_a_group_has_rated_is_null(client, db, make_enterprise):
    ent = make_enterprise(segment="retail", region="330106")
    _ev(db, ent, "2026-11-02", "70.00", "60.00", "70.00", "80.00", "2026-11-02T01:00:00")
    db.flush()
    db.execute(sa.update(Evaluation).where(Evaluation.enterprise_id == ent.id).values(performance=None))
    [row] = credit_power_index(db, segment="retail")
    assert (row["index"], row["willingness"], row["performance"]) == (70.0, 60.0, None)
    resp = client.get("/api/v1/index?segment=retail")  # was a 500 (float(None))
    assert resp.status_code == 200 and resp.get_json()["items"][-1]["performance"] is None


@pytest.mark.parametrize("query", ["from=0000-01", "to=9999-12", "from=1900-01"])
def test_months_the_calendar_cannot_count_are_refused_not_a_500(client, query):
    resp = client.get(f"/api/v1/index?{query}")
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json", resp.get_data(as_text=True)


@pytest.mark.parametrize(("query", "field"), [("from=2026-13", "query.from"), ("to=26-01", "query.to"),
                                              ("region=3301", "query.region"), ("by=city", "query.by"),
                                              ("from=2026-11&to=2026-10", "query.to")])
def test_bad_index_queries_are_problems_naming_the_field(client, query, field):
    resp = client.get(f"/api/v1/index?{query}")
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert field in resp.get_json()["errors"], resp.get_json()


def test_the_cli_prints_the_index_table(fresh_databases, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from app.cli import main

    monkeypatch.setenv("DATABASE_URL", fresh_databases.new())
    monkeypatch.setenv("PC_INSTANCE_PATH", str(tmp_path / "instance"))
    seeded = CliRunner().invoke(main, ["seed", "--firms", "20", "--seed", "7", "--password", "demo-pass-1"])
    assert seeded.exit_code == 0, seeded.output
    result = CliRunner().invoke(main, ["index", "--by", "segment"])
    assert result.exit_code == 0, result.output
    assert "信用电力指数" in result.output and "均值" in result.output
    assert CliRunner().invoke(main, ["index", "--region", "3301"]).exit_code == 1


def test_the_published_index_is_reused_until_an_evaluation_is_added_or_it_is_a_minute_old(
        db, data, monkeypatch, statements):
    from app.scoring import index

    first = index.published_index(db, first="2026-11", last="2026-11")
    assert first == credit_power_index(db, first="2026-11", last="2026-11")
    assert [(r["month"], r["index"]) for r in first] == [("2026-11", 67.75)]
    statements.clear()
    first[0]["index"] = 0.0  # what a caller does with its copy does not change what is held
    assert index.published_index(db, first="2026-11", last="2026-11")[0]["index"] == 67.75
    assert len(statements) == 1 and "max(evaluation.id)" in statements[0].lower()  # the stamp only

    # A new evaluation (a firm re-evaluated in November) is in the next answer.
    a, _b, _c = data
    _ev(db, a, "2026-11-30", "50.00", "50.00", "50.00", "50.00", "2026-11-30T01:00:00")
    db.flush()
    assert index.published_index(db, first="2026-11", last="2026-11")[0]["index"] == 47.75  # (50 + 45.5) / 2

    # Past its age the result is computed again even when no evaluation was added (a firm
    # may have moved to another segment).
    statements.clear()
    index.published_index(db, first="2026-11", last="2026-11")
    assert len(statements) == 1
    now = index.time.monotonic()
    monkeypatch.setattr(index.time, "monotonic", lambda: now + index.INDEX_CACHE_SECONDS + 1)
    statements.clear()
    index.published_index(db, first="2026-11", last="2026-11")
    # the stamp, the base month, the month asked for, then the base month's own figures (outside the range)
    assert len(statements) == 4 and "max(evaluation.id)" in statements[0].lower()
    assert "min(evaluation.as_of)" in statements[1].lower()


def test_the_public_home_shows_the_newest_month_with_evaluations(client, db, data):
    from app.scoring.index import latest_month

    assert latest_month(db) == "2026-11"
    page = client.get("/").get_data(as_text=True)
    assert "67.75" in page and "2026-11" in page


def test_a_firm_not_rated_that_month_is_left_out_of_the_index(db, data):
    """NR (不予评级) has no score: a firm whose latest evaluation of the month is NR does not
    count, rather than count as zero."""
    _, b, _ = data
    db.add(Evaluation(enterprise_id=b.id, scorecard_id="power-credit", scorecard_version="2.0",
                      as_of=dt.date(2026, 11, 30), score=None, grade="NR", uncapped_grade=None,
                      supervision_class=None, willingness=None, capability=None, performance=None, coverage=Decimal("0.3"),
                      explanation={}, inputs_digest="1" * 64, record_count=1, current=True,
                      evaluated_at=dt.datetime(2026, 11, 30, 1, tzinfo=UTC)))
    db.flush()
    november = credit_power_index(db)[1]
    assert november["month"] == "2026-11" and november["firms"] == 2 and november["index"] == 67.75
