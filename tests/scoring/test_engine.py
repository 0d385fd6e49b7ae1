"""The pure evaluation: measures, decay, look-back, caps, disputed and expired records, digests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from itertools import count
from typing import Any

import pytest

from app.scoring.engine import FirmFact, RecordFact, evaluate_facts
from app.scoring.scorecard import load_scorecard

AS_OF = dt.date(2026, 6, 30)
CARD = load_scorecard()
FIRM = FirmFact(founded_on=dt.date(2004, 1, 1), registered_capital=Decimal("200000000"))
_ids = count(1)


def rec(category: str, polarity: str = "good", *, days_ago: int = 30, severity: int = 0, status: str = "active",
        **payload: Any) -> RecordFact:
    return RecordFact(next(_ids), category, polarity, severity, AS_OF - dt.timedelta(days=days_ago), status, payload)


def strong_firm() -> list[RecordFact]:
    records = [rec("utility", days_ago=30 * i, consumption_kwh=1000 + i) for i in range(1, 24)]
    records += [rec("commitment", fulfilled=True), rec("commitment", fulfilled=True, days_ago=300)]
    records += [rec("tax", grade="A", days_ago=90), rec("contract"), rec("contract", days_ago=200),
                rec("loan"), rec("bidding"), rec("honour"), rec("honour", days_ago=100), rec("honour", days_ago=200)]
    records += [rec("licence", status="valid", days_ago=100 + i) for i in range(5)]
    return records


def factor(outcome: Any, key: str) -> Any:
    return next(f for f in outcome.factors if f.key == key)


def test_a_strong_firm_grades_aaa_and_lands_in_supervision_class_a() -> None:
    out = evaluate_facts(CARD, FIRM, strong_firm(), set(), AS_OF)
    assert out.score >= 90, [(f.key, f.points) for f in out.factors]
    assert (out.grade, out.supervision_class) == ("AAA", "A")
    assert set(out.dimensions) == {"willingness", "capability", "performance"}
    assert factor(out, "tax_grade").points == 100 and factor(out, "tax_grade").value == "A"


def test_the_score_is_the_weighted_sum_of_the_dimensions() -> None:
    out = evaluate_facts(CARD, FIRM, strong_firm(), set(), AS_OF)
    expected = sum(CARD.dimension_weights[d] * v for d, v in out.dimensions.items())
    assert out.score == pytest.approx(expected, abs=0.01)
    for dim, value in out.dimensions.items():
        assert value == pytest.approx(sum(f.weight * f.points for f in out.factors if f.dimension == dim), abs=0.01)


def test_a_firm_without_records_gets_the_missing_points_everywhere() -> None:
    out = evaluate_facts(CARD, FirmFact(None, None), [], set(), AS_OF)
    for f in out.factors:
        spec = next(s for s in CARD.factors if s.key == f.key)
        expected = spec.missing_points if spec.measure not in ("count", "bad_weight") else spec.points_for(0.0)
        assert f.points == expected, f.key


def test_expired_and_revoked_records_do_not_count() -> None:
    bad = [rec("safety", "bad", severity=3, status="expired", level="major"),
           rec("judicial", "bad", severity=3, status="revoked")]
    out = evaluate_facts(CARD, FIRM, strong_firm() + bad, set(), AS_OF)
    assert out.grade == "AAA" and out.caps == []
    assert factor(out, "safety").points == 100


def test_disputed_records_count_and_are_flagged() -> None:
    disputed = rec("quality", "bad", severity=2, status="disputed", result="fail")
    out = evaluate_facts(CARD, FIRM, strong_firm() + [disputed], set(), AS_OF)
    quality = factor(out, "quality")
    assert quality.disputed_ids == [disputed.id] and disputed.id in quality.record_ids


def test_bad_weight_decays_with_a_half_life() -> None:
    fresh = evaluate_facts(CARD, FIRM, [rec("quality", "bad", severity=2, days_ago=1)], set(), AS_OF)
    assert factor(fresh, "quality").value == pytest.approx(2.0, abs=0.01)
    assert factor(fresh, "quality").points == 80
    two_years = evaluate_facts(CARD, FIRM, [rec("quality", "bad", severity=2, days_ago=730)], set(), AS_OF)
    assert factor(two_years, "quality").value == pytest.approx(1.0, abs=0.01)


def test_records_beyond_the_look_back_window_do_not_count() -> None:
    old = rec("contract", "bad", severity=2, days_ago=4 * 365)
    out = evaluate_facts(CARD, FIRM, [old], set(), AS_OF)
    assert factor(out, "contract_performance").value is None
    assert factor(out, "contract_performance").points == 70  # missing_points


def test_black_list_caps_at_c() -> None:
    out = evaluate_facts(CARD, FIRM, strong_firm(), {"black"}, AS_OF)
    assert (out.uncapped_grade, out.grade, out.supervision_class) == ("AAA", "C", "D")
    assert [c["key"] for c in out.caps] == ["black_list"]


@pytest.mark.parametrize(("record", "cap", "grade"), [
    ({"category": "safety", "polarity": "bad", "severity": 3, "level": "major"}, "serious_safety_accident", "B"),
    ({"category": "safety", "polarity": "bad", "severity": 3, "level": "extraordinary"}, "serious_safety_accident", "B"),
    ({"category": "judicial", "polarity": "bad", "severity": 3}, "dishonest_judgment_debtor", "B"),
])
def test_serious_records_within_three_years_cap_at_b(record: dict[str, Any], cap: str, grade: str) -> None:
    category, polarity, severity = record.pop("category"), record.pop("polarity"), record.pop("severity")
    hit = rec(category, polarity, severity=severity, days_ago=2 * 365, **record)
    out = evaluate_facts(CARD, FIRM, strong_firm() + [hit], set(), AS_OF)
    assert out.grade == grade and cap in [c["key"] for c in out.caps]
    assert next(c for c in out.caps if c["key"] == cap)["record_ids"] == [hit.id]
    older = rec(category, polarity, severity=severity, days_ago=3 * 365 + 10, **record)
    assert cap not in [c["key"] for c in evaluate_facts(CARD, FIRM, strong_firm() + [older], set(), AS_OF).caps]


def test_a_larger_but_not_major_accident_does_not_cap() -> None:
    hit = rec("safety", "bad", severity=2, level="larger")
    out = evaluate_facts(CARD, FIRM, strong_firm() + [hit], set(), AS_OF)
    assert "serious_safety_accident" not in [c["key"] for c in out.caps]


def test_tax_grade_d_caps_only_when_it_is_the_latest() -> None:
    latest_d = [r for r in strong_firm() if r.category != "tax"] + [rec("tax", "bad", severity=3, grade="D")]
    capped = evaluate_facts(CARD, FIRM, latest_d, set(), AS_OF)
    assert capped.uncapped_grade in ("AAA", "AA") and capped.grade == "BB"
    assert [c["key"] for c in capped.caps] == ["tax_grade_d"]
    earlier_d = strong_firm() + [rec("tax", "bad", severity=3, days_ago=500, grade="D")]
    out = evaluate_facts(CARD, FIRM, earlier_d, set(), AS_OF)
    assert "tax_grade_d" not in [c["key"] for c in out.caps]


def test_same_inputs_same_result_and_digest() -> None:
    records = strong_firm() + [rec("penalty", "bad", severity=2)]
    a = evaluate_facts(CARD, FIRM, records, set(), AS_OF)
    b = evaluate_facts(CARD, FIRM, list(reversed(records)), set(), AS_OF)
    assert (a.score, a.grade, a.digest, a.dimensions) == (b.score, b.grade, b.digest, b.dimensions)
    c = evaluate_facts(CARD, FIRM, records + [rec("honour")], set(), AS_OF)
    assert c.digest != a.digest


def test_explanations_are_in_chinese_and_name_their_records() -> None:
    records = strong_firm()
    out = evaluate_facts(CARD, FIRM, records, set(), AS_OF)
    tax = factor(out, "tax_grade")
    assert tax.reason.startswith("最近一个年度的纳税信用等级") and "得 100 分" in tax.reason
    assert tax.record_ids == [r.id for r in records if r.category == "tax"]


def test_reasons_write_numbers_as_people_do():
    from app.scoring.engine import _reason

    factor = next(f for f in CARD.factors if f.measure != "good_share")
    assert _reason(factor, 25.5113, 6).endswith("：25.5，得 6 分")
    assert _reason(factor, 2.0, 3).endswith("：2，得 3 分")
    assert _reason(factor, 50000.0, 4).endswith("：50,000，得 4 分")
    assert _reason(factor, None, 5).endswith("无相关数据，按缺省 5 分计")
