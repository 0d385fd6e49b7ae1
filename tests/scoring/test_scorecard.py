"""The scorecard file: loaded strictly (a bad entry is named), and its points functions."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from app.scoring.scorecard import GRADES, ScorecardError, load_scorecard, parse_scorecard

BUNDLED = json.loads((Path(__file__).resolve().parents[2] / "app/scoring/scorecards/power-v1.json")
                     .read_text("utf-8"))


def raw() -> dict[str, Any]:
    return copy.deepcopy(BUNDLED)


def test_the_bundled_scorecard_loads_with_three_dimensions_and_nine_grades() -> None:
    card = load_scorecard()
    assert (card.id, card.version) == ("power-credit", "1.0")
    assert set(card.dimension_weights) == {"willingness", "capability", "performance"}
    assert abs(sum(card.dimension_weights.values()) - 1) < 1e-9
    for dim in card.dimension_weights:
        assert abs(sum(f.weight for f in card.factors if f.dimension == dim) - 1) < 1e-9
    assert [g for g, _ in card.thresholds] == list(GRADES)
    assert {card.supervision[g] for g in GRADES} == {"A", "B", "C", "D"}


@pytest.mark.parametrize(("score", "grade"), [
    (100, "AAA"), (90, "AAA"), (89.99, "AA"), (80, "AA"), (79.99, "A"), (70, "A"), (60, "BBB"),
    (59.99, "BB"), (50, "BB"), (40, "B"), (39.99, "CCC"), (30, "CCC"), (20, "CC"), (19.99, "C"), (0, "C"),
])
def test_grade_thresholds_at_their_edges(score: float, grade: str) -> None:
    assert load_scorecard().grade_for(score) == grade


@pytest.mark.parametrize(("grade", "cls"), [("AAA", "A"), ("AA", "A"), ("A", "B"), ("BBB", "B"), ("BB", "C"),
                                            ("B", "C"), ("CCC", "D"), ("CC", "D"), ("C", "D")])
def test_supervision_classes_follow_domain_md(grade: str, cls: str) -> None:
    assert load_scorecard().supervision[grade] == cls


def _factor(key: str) -> Any:
    return next(f for f in load_scorecard().factors if f.key == key)


@pytest.mark.parametrize(("value", "points"), [
    (0.0, 0), (0.4999, 0), (0.5, 30), (0.7999, 30), (0.8, 60), (0.8999, 60), (0.9, 80), (0.9699, 80),
    (0.97, 100), (1.0, 100), (None, 60),
])
def test_utility_payment_bands_at_their_edges(value: float | None, points: float) -> None:
    assert _factor("utility_payment").points_for(value) == points


@pytest.mark.parametrize(("value", "points"), [(0, 100), (0.99, 100), (1, 80), (2.99, 80), (3, 50), (5.99, 50),
                                               (6, 20), (9.99, 20), (10, 0), (50, 0)])
def test_quality_bad_weight_bands_at_their_edges(value: float, points: float) -> None:
    assert _factor("quality").points_for(value) == points


@pytest.mark.parametrize(("value", "points"), [("A", 100), ("B", 85), ("M", 70), ("C", 40), ("D", 0), (None, 60)])
def test_tax_grade_is_mapped(value: str | None, points: float) -> None:
    assert _factor("tax_grade").points_for(value) == points


def test_below_the_first_band_gets_the_first_bands_points() -> None:
    assert _factor("consumption_trend").points_for(-500) == 20


def _refused(card: dict[str, Any]) -> str:
    with pytest.raises(ScorecardError) as info:
        parse_scorecard(card, "test.json")
    return str(info.value)


def test_factor_weights_not_summing_to_one_are_named() -> None:
    card = raw()
    card["dimensions"][1]["factors"][0]["weight"] = 0.5
    message = _refused(card)
    assert "dimensions[1].factors" in message and "capability" in message and "1.25" in message


def test_dimension_weights_not_summing_to_one_are_refused() -> None:
    card = raw()
    card["dimensions"][0]["weight"] = 0.3
    assert "维度权重之和应为 1" in _refused(card)


def test_an_unknown_measure_is_named_by_its_path() -> None:
    card = raw()
    card["dimensions"][2]["factors"][3]["measure"] = "vibes"
    assert "dimensions[2].factors[3].measure" in _refused(card)


def test_bands_must_increase() -> None:
    card = raw()
    card["dimensions"][0]["factors"][1]["bands"][2]["from"] = 0.1
    assert "dimensions[0].factors[1].bands" in _refused(card)


def test_points_outside_0_100_are_refused() -> None:
    card = raw()
    card["dimensions"][0]["factors"][0]["bands"][0]["points"] = 140
    assert "dimensions[0].factors[0].bands[0].points" in _refused(card)


def test_grades_out_of_order_are_refused() -> None:
    card = raw()
    card["grades"][0], card["grades"][1] = card["grades"][1], card["grades"][0]
    assert "grades" in _refused(card)


def test_thresholds_must_decrease_and_end_at_zero() -> None:
    card = raw()
    card["grades"][2]["min_score"] = 85
    assert "严格递减" in _refused(card)
    card = raw()
    card["grades"][-1]["min_score"] = 5
    assert "C" in _refused(card)


def test_every_grade_needs_exactly_one_supervision_class() -> None:
    card = raw()
    card["supervision"]["D"] = ["CCC", "CC"]
    assert "supervision" in _refused(card)


def test_duplicate_factor_keys_are_named() -> None:
    card = raw()
    card["dimensions"][2]["factors"][1]["key"] = "tax_grade"
    assert "dimensions[2].factors[1].key" in _refused(card)


def test_an_unknown_field_is_named() -> None:
    card = raw()
    card["dimensions"][0]["factors"][0]["wieght"] = 1
    assert "dimensions[0].factors[0].wieght" in _refused(card)


def test_a_category_filter_that_does_not_exist_is_refused() -> None:
    card = raw()
    card["dimensions"][0]["factors"][1]["categories"] = ["weather"]
    assert "dimensions[0].factors[1].categories[0]" in _refused(card)


def test_latest_value_needs_a_field_and_a_map() -> None:
    card = raw()
    del card["dimensions"][2]["factors"][0]["field"]
    assert "dimensions[2].factors[0].field" in _refused(card)


def test_a_file_that_is_not_json_is_refused_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ScorecardError, match="broken.json"):
        load_scorecard(bad)


def test_a_version_bump_changes_the_digest_source() -> None:
    card = raw()
    card["version"] = "1.1"
    assert parse_scorecard(card).digest_source != load_scorecard().digest_source


def test_cli_checks_a_scorecard_and_refuses_a_bad_one(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from app.cli import main

    good = CliRunner().invoke(main, ["scorecard", "check"])
    assert good.exit_code == 0, good.output
    assert "power-credit" in good.output and "AAA ≥ 90" in good.output
    card = raw()
    card["dimensions"][2]["factors"][0]["map"]["A"] = 101
    bad_file = tmp_path / "v2.json"
    bad_file.write_text(json.dumps(card), encoding="utf-8")
    bad = CliRunner().invoke(main, ["scorecard", "check", str(bad_file)])
    assert bad.exit_code == 1
