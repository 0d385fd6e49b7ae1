"""The demo as a new user gets it (300 firms, seed 2026, today), graded by the current
scorecard: a spread over the grades (at least six letter grades, and NR for the thin files
while most firms are rated), every factor known for a good share of the firms and telling
them apart, and grades that a back-test confirms: as of a year before the demo's day, the
default rate over the next twelve months falls from the worst grade to the best."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import sqlalchemy as sa

from app.core import clock
from app.core.db import Database
from app.scoring.models import Evaluation
from app.scoring.scorecard import GRADES, NOT_RATED
from app.scoring.services import current_scorecard
from app.scoring.validation import validate_scorecard

FIRMS = 300


def current_evaluations(url: str) -> list[tuple[str, dict[str, Any]]]:
    """Each firm's current grade and explanation."""
    db = Database(url)
    try:
        with db.session() as s:
            return [(g, x) for g, x in s.execute(sa.select(Evaluation.grade, Evaluation.explanation)
                                                  .where(Evaluation.current.is_(True)))]
    finally:
        db.dispose()


def test_the_demo_spreads_over_the_grades_and_leaves_thin_files_not_rated(demo):
    grades = Counter(g for g, _ in current_evaluations(demo.url))
    assert sum(grades.values()) == FIRMS
    assert sum(1 for g in GRADES if grades[g]) >= 6, grades
    assert 0 < grades[NOT_RATED] <= FIRMS * 0.15, grades  # thin files not rated, most firms rated
    assert grades["AAA"] + grades["AA"] >= FIRMS * 0.2, grades  # the marketplace's best products have firms
    # the seed's summary says what the database holds
    line = next(x for x in demo.output.splitlines() if x.startswith("信用评价"))
    printed = dict(part.split() for part in line.split("等级分布 ")[1].split("，"))
    assert {g: int(n) for g, n in printed.items()} == {g: grades[g] for g in printed}, line


def test_every_factor_is_known_for_a_good_share_of_the_firms_and_tells_them_apart(demo):
    rated = [x for g, x in current_evaluations(demo.url) if g != NOT_RATED]
    known: dict[str, list[float]] = {}
    for explanation in rated:
        for f in explanation["factors"]:
            if f.get("known", True):
                known.setdefault(f["key"], []).append(f["points"])
    for factor in current_scorecard().factors:
        points = known.get(factor.key, [])
        assert len(points) >= len(rated) * 0.3, f"{factor.key}: known for {len(points)} of {len(rated)} firms"
        assert len(set(points)) >= 2, f"{factor.key}: every firm scores {set(points)}"


def back_test(url: str, years_back: int = 1) -> tuple[dt.date, dict[str, Any]]:
    db = Database(url)
    try:
        with db.session() as s:
            day = s.scalar(sa.select(sa.func.max(Evaluation.as_of)))
            assert day is not None
            as_of = clock.add_months(dt.date.fromisoformat(str(day)[:10]), -12 * years_back)
            return as_of, validate_scorecard(s, current_scorecard().version, as_of, 12)
    finally:
        db.dispose()


def test_a_back_test_a_year_ago_shows_the_default_rate_falling_as_the_grade_rises(demo):
    as_of, report = back_test(demo.url)
    assert report["horizon_complete"], report["notes"]
    rows = [r for r in report["grades"] if r["count"]]
    table = "  ".join(f"{r['grade']} {r['defaults']}/{r['count']}" for r in rows)
    assert len(rows) >= 6, table
    assert report["population"]["defaults"] >= 20, table  # enough defaults for the rates to mean something
    assert report["monotonic"]["holds"], f"{as_of}: {table}"
    assert rows[0]["default_rate"] < 0.02 and rows[-1]["default_rate"] > 0.3, table
    assert report["discrimination"]["auc"] > 0.8
    assert report["not_rated"]["count"] > 0  # the thin files of a year ago, counted apart
