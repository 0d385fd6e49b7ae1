"""Scorecard power-v2 in the pure engine: coverage and 不予评级 at the edge of the evidence
rule, renormalisation over known factors, the caps on the day at their edges, lateness by days
and amount, licences within validity, honours by level, commitments once, paid-in capital,
segment weights and a five-grade regional scorecard."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from app.archive.categories import CATEGORIES
from app.core import clock
from app.scoring.engine import FirmFact, RecordFact, evaluate_facts
from app.scoring.scorecard import (
    PROJECT_SCORECARDS,
    ScorecardError,
    load_scorecard,
    parse_scorecard,
)

AS_OF = dt.date(2026, 6, 30)
V2 = load_scorecard(name="power-v2.json")
ALL = frozenset(CATEGORIES)
_ids = count(1)


def rec(category: str, polarity: str = "good", *, days_ago: int = 30, severity: int = 0, status: str = "active",
        on: dt.date | None = None, **payload: Any) -> RecordFact:
    return RecordFact(next(_ids), category, polarity, severity, on or AS_OF - dt.timedelta(days=days_ago), status,
                      payload)


def firm(covered: frozenset[str] | None = ALL, *, paid_in: str | None = None) -> FirmFact:
    return FirmFact(dt.date(2010, 1, 1), Decimal("50000000"), Decimal(paid_in) if paid_in else None, covered)


def bill(month: dt.date, status: str = "on_time", amount: str = "10000", **extra: Any) -> RecordFact:
    end = clock.month_end(month)
    polarity = "good" if status == "on_time" else "bad"
    paid = {"paid_on": (end - dt.timedelta(days=5)).isoformat()} if status == "on_time" else {}
    payload = {"month": month.strftime("%Y-%m"), "consumption_kwh": "1000", "amount_due": amount, "status": status,
               **paid, **extra}
    return RecordFact(next(_ids), "utility", polarity, 0 if status == "on_time" else 2, end, "active", payload)


def year_of_bills(months: int = 14) -> list[RecordFact]:
    start = clock.month_start(AS_OF)
    return [bill(clock.add_months(start, -k)) for k in range(1, months + 1)]


def factor(outcome: Any, key: str) -> Any:
    return next(f for f in outcome.factors if f.key == key)


def cap_keys(outcome: Any) -> set[str]:
    return {c["key"] for c in outcome.caps}


# --- coverage, renormalisation, NR ----------------------------------------------------------

def test_a_covered_category_without_bad_records_is_clean_and_an_uncovered_one_is_unknown() -> None:
    covered = evaluate_facts(V2, firm(ALL), year_of_bills(), set(), AS_OF)
    assert factor(covered, "quality").known and factor(covered, "quality").points == 100
    bare = evaluate_facts(V2, firm(frozenset({"utility"})), year_of_bills(), set(), AS_OF)
    quality = factor(bare, "quality")
    assert not quality.known and quality.points == 0 and "没有覆盖该企业的数据来源" in quality.reason


def test_weights_are_renormalised_over_the_known_factors() -> None:
    out = evaluate_facts(V2, firm(ALL), year_of_bills(), set(), AS_OF)
    dims = V2.dimension_weights
    known = [f for f in out.factors if f.known]
    weight = sum(dims[f.dimension] * f.weight for f in known)
    assert out.coverage == pytest.approx(weight, abs=1e-4) and out.coverage < 1
    assert out.score == pytest.approx(sum(dims[f.dimension] * f.weight * f.points for f in known) / weight, abs=0.01)
    for dim, value in out.dimensions.items():
        in_dim = [f for f in known if f.dimension == dim]
        assert value == pytest.approx(sum(f.weight * f.points for f in in_dim) / sum(f.weight for f in in_dim),
                                      abs=0.01)
    # An unknown factor counts for nothing: whatever its points would have been.
    assert not factor(out, "bidding").known and not factor(out, "tax_grade").known


def test_a_firm_with_no_records_is_not_rated_and_has_no_score() -> None:
    out = evaluate_facts(V2, FirmFact(None, None, None, frozenset()), [], set(), AS_OF)
    assert (out.grade, out.score, out.supervision_class, out.uncapped_grade) == ("NR", None, None, None)
    assert out.dimensions == {"willingness": None, "capability": None, "performance": None}
    assert out.evidence["reason"].startswith("不予评级（信息不足）") and out.evidence["known_factors"] == 0


@pytest.mark.parametrize(("months", "rated"), [(11, False), (12, True)])
def test_nr_at_the_edge_of_the_history_rule(months: int, rated: bool) -> None:
    first = clock.add_months(AS_OF, -months)
    records = [rec("tax", on=first, year=2025, grade="A")] + year_of_bills(3)
    out = evaluate_facts(V2, firm(ALL), records, set(), AS_OF)
    assert out.evidence["history_months"] == months
    assert (out.grade != "NR") is rated
    if not rated:
        assert "信用记录历史 11 个月，不足 12 个月" in out.evidence["reason"]


def test_nr_at_the_edge_of_the_known_factors_rule() -> None:
    """Five known factors: NR; six: rated (the firm's registration facts count as known).
    Five here weigh half the scorecard (years 6%, paid-in 6%, bills 20%, tax 9%, violations
    9%), so only the count decides."""
    records = [rec("tax", days_ago=500, year=2024, grade="A")] + year_of_bills(12)
    five = evaluate_facts(V2, firm(frozenset({"tax", "utility", "penalty"})), records, set(), AS_OF)
    assert five.evidence["known_factors"] == 5 and five.coverage == pytest.approx(0.5)
    assert five.grade == "NR" and five.evidence["reason"] == "不予评级（信息不足）：可评因子 5 项，少于 6 项"
    six = evaluate_facts(V2, firm(frozenset({"tax", "utility", "penalty", "safety"})), records, set(), AS_OF)
    assert six.evidence["known_factors"] == 6 and six.grade != "NR"


def test_nr_below_the_coverage_share() -> None:
    """Six factors known that weigh under half of the scorecard: NR for coverage alone."""
    records = [rec("tax", days_ago=500, year=2024, grade="A"), rec("honour", days_ago=400, level="national")]
    out = evaluate_facts(V2, firm(frozenset({"tax", "honour", "quality", "licence"})), records, set(), AS_OF)
    assert out.evidence["known_factors"] >= 6 and out.coverage < 0.5
    assert out.grade == "NR" and "数据覆盖" in out.evidence["reason"]


def test_a_cap_grades_a_thin_file_rather_than_hide_a_default() -> None:
    loan = rec("loan", "bad", severity=3, days_ago=400, status="active", amount="1000000", status_="x")
    loan = loan._replace(payload={"amount": "1000000", "status": "overdue", "overdue_days": 120,
                                  "start_on": "2025-01-01", "end_on": "2026-01-01"})
    out = evaluate_facts(V2, firm(frozenset({"loan"})), [loan], set(), AS_OF)
    assert out.grade in ("B", "CCC", "CC", "C") and out.score is not None
    assert "loan_default" in cap_keys(out) and "封顶规则适用" in out.evidence["note"]


# --- caps on the day ----------------------------------------------------------------------------

def rated_with(*extra: RecordFact) -> Any:
    return evaluate_facts(V2, firm(ALL), year_of_bills() + list(extra), set(), AS_OF)


def loan(status: str, **payload: Any) -> RecordFact:
    body = {"amount": "500000", "status": status, "start_on": "2025-03-01", "end_on": "2026-03-01", **payload}
    return RecordFact(next(_ids), "loan", "good" if status in ("normal", "settled") else "bad",
                      3 if status == "written_off" else 2, dt.date(2025, 3, 1), "active", body)


@pytest.mark.parametrize(("days", "capped"), [(89, False), (90, True)])
def test_a_loan_overdue_90_days_caps_at_b(days: int, capped: bool) -> None:
    out = rated_with(loan("overdue", overdue_days=days))
    assert ("loan_default" in cap_keys(out)) is capped
    if capped:
        assert out.grade in ("B", "CCC", "CC", "C")


def test_a_write_off_caps_until_settled() -> None:
    assert "loan_written_off" in cap_keys(rated_with(loan("written_off")))
    assert "loan_written_off" not in cap_keys(rated_with(loan("written_off", settled_on="2026-05-01")))


def test_a_default_reported_after_the_evaluation_day_is_not_seen() -> None:
    later = loan("overdue", overdue_days=120, reported_on=(AS_OF + dt.timedelta(days=1)).isoformat())
    assert "loan_default" not in cap_keys(rated_with(later))
    on_the_day = loan("overdue", overdue_days=120, reported_on=AS_OF.isoformat())
    assert "loan_default" in cap_keys(rated_with(on_the_day))


@pytest.mark.parametrize(("months", "capped"), [(2, False), (3, True)])
def test_utility_arrears_of_three_months_cap_at_bb(months: int, capped: bool) -> None:
    latest = bill(clock.month_start(AS_OF), "arrears", arrears_amount="30000", arrears_months=months)
    out = rated_with(latest)
    assert ("utility_arrears_3_months" in cap_keys(out)) is capped
    if capped:
        assert out.grade in ("BB", "B", "CCC", "CC", "C")


@pytest.mark.parametrize(("streak", "capped"), [(2, False), (3, True)])
def test_three_bills_in_arrears_in_a_row_cap_at_bb(streak: int, capped: bool) -> None:
    start = clock.month_start(AS_OF)
    bills = [bill(clock.add_months(start, -k), "arrears", arrears_amount="10000", arrears_months=1)
             for k in range(streak)]
    older = [bill(clock.add_months(start, -k)) for k in range(streak, 15)]
    out = evaluate_facts(V2, firm(ALL), bills + older, set(), AS_OF)
    assert ("utility_arrears_in_a_row" in cap_keys(out)) is capped


def penalty(on: dt.date, severity: int, **payload: Any) -> RecordFact:
    return RecordFact(next(_ids), "penalty", "bad", severity, on, "active", payload)


def test_a_serious_penalty_caps_on_the_day_within_three_years() -> None:
    inside = penalty(clock.add_years(AS_OF, -3) + dt.timedelta(days=1), 3, penalty_types=["suspension"])
    outside = penalty(clock.add_years(AS_OF, -3), 3, penalty_types=["suspension"])
    assert "serious_penalty" in cap_keys(rated_with(inside))
    assert "serious_penalty" not in cap_keys(rated_with(outside))
    assert rated_with(inside).grade in ("B", "CCC", "CC", "C")  # no list published: the cap acts all the same


@pytest.mark.parametrize(("fine", "capped"), [("99.999999", False), ("100", True)])
def test_a_fine_of_a_million_yuan_caps_at_bb(fine: str, capped: bool) -> None:
    out = rated_with(penalty(AS_OF - dt.timedelta(days=10), 2, penalty_types=["fine"], fine_amount=fine))
    assert ("large_fine" in cap_keys(out)) is capped


def test_a_dishonest_judgment_debtor_and_a_major_accident_cap_at_b() -> None:
    judgment = RecordFact(next(_ids), "judicial", "bad", 3, AS_OF - dt.timedelta(days=100), "active", {})
    accident = RecordFact(next(_ids), "safety", "bad", 3, AS_OF - dt.timedelta(days=100), "active", {"level": "major"})
    assert "dishonest_judgment_debtor" in cap_keys(rated_with(judgment))
    assert "serious_safety_accident" in cap_keys(rated_with(accident))


# --- what the factors measure ---------------------------------------------------------------

def test_lateness_weighs_by_days_and_by_amount() -> None:
    start = clock.month_start(AS_OF)

    def late(days: int, amount: str = "10000") -> RecordFact:
        month = clock.add_months(start, -1)
        paid = clock.month_end(month) + dt.timedelta(days=days)
        return bill(month, "late", amount, paid_on=paid.isoformat())

    def share(*records: RecordFact) -> float:
        return factor(evaluate_facts(V2, firm(ALL), list(records), set(), AS_OF), "utility_payment").value

    one_day, ninety = share(late(1)), share(late(90))
    assert one_day == pytest.approx(1 - 1 / 90, abs=1e-4) and ninety == 0.0  # 1 day late costs 1/90 of the bill, 90 days all of it
    assert share(late(45)) == pytest.approx(0.5, abs=0.001)
    small_late = share(late(90, "1000"), bill(clock.add_months(start, -2), amount="99000"))
    big_late = share(late(90, "99000"), bill(clock.add_months(start, -2), amount="1000"))
    assert small_late > 0.95 > 0.05 > big_late  # by amount, not by count


def licence(valid_from: str, valid_to: str | None, *, decided: dt.date) -> RecordFact:
    body = {"status": "valid", "valid_from": valid_from, **({"valid_to": valid_to} if valid_to else {})}
    return RecordFact(next(_ids), "licence", "good", 0, decided, "active", body)


def test_licences_count_only_within_their_validity() -> None:
    long_ago = dt.date(2017, 1, 1)
    records = [licence("2017-01-01", "2027-01-01", decided=long_ago),  # granted 9 years ago, still valid: counts
               licence("2017-01-01", "2026-06-29", decided=long_ago),  # expired the day before: does not
               licence("2026-07-01", "2029-07-01", decided=AS_OF - dt.timedelta(days=5)),  # not yet valid: does not
               licence("2020-01-01", None, decided=dt.date(2020, 1, 1))]  # no end date: counts
    assert factor(evaluate_facts(V2, firm(ALL), records, set(), AS_OF), "licences").value == 2


def test_honours_count_by_level() -> None:
    honours = [rec("honour", level="national"), rec("honour", level="provincial"), rec("honour", level="municipal"),
               rec("honour")]
    assert factor(evaluate_facts(V2, firm(ALL), honours, set(), AS_OF), "honours").value == 3 + 2 + 1 + 0.5


def test_each_commitment_counts_once_whatever_the_channel() -> None:
    online = rec("commitment", text_version="self_discipline-2024", fulfilled=True, days_ago=10)
    from_provider = rec("commitment", text_version="self_discipline-2024", fulfilled=True, days_ago=40)
    other = rec("commitment", text_version="market_admission-2024", fulfilled=True, days_ago=20)
    assert factor(evaluate_facts(V2, firm(ALL), [online, from_provider], set(), AS_OF), "commitments").value == 1
    assert factor(evaluate_facts(V2, firm(ALL), [online, from_provider, other], set(), AS_OF),
                  "commitments").value == 2


def test_paid_in_capital_is_used_where_known() -> None:
    known = evaluate_facts(V2, firm(ALL, paid_in="8000000"), year_of_bills(), set(), AS_OF)
    assert factor(known, "paid_in_capital").value == 800  # 万元, not the 5,000 subscribed
    unknown = evaluate_facts(V2, firm(ALL), year_of_bills(), set(), AS_OF)
    assert factor(unknown, "paid_in_capital").value == 1500  # 30% of the subscribed 5,000 万元


# --- segments and scales ----------------------------------------------------------------------

def test_each_segment_has_its_own_weights() -> None:
    generation, supplier = V2.for_segment("generation"), V2.for_segment("supplier")
    weight = {c.segment: {f.key: f.weight for f in c.factors} for c in (generation, supplier)}
    assert weight["generation"]["safety"] == 0.25 and weight["supplier"]["quality"] == 0.2
    assert V2.for_segment("retail").dimension_weights["willingness"] == 0.3
    assert V2.for_segment("grid") is V2  # no override: the base weights
    records = year_of_bills() + [RecordFact(next(_ids), "safety", "bad", 2, AS_OF - dt.timedelta(days=60), "active",
                                            {"level": "larger"})]
    assert evaluate_facts(generation, firm(ALL), records, set(), AS_OF).score < \
        evaluate_facts(supplier, firm(ALL), records, set(), AS_OF).score  # an accident weighs more in 发电


def test_a_five_grade_regional_scorecard_loads_and_grades_on_its_scale() -> None:
    card = load_scorecard(PROJECT_SCORECARDS / "regional" / "retail-five-grade.json")
    assert card.scale == ("AAA", "AA", "A", "B", "C") and card.serves == ("retail",)
    out = evaluate_facts(card.for_segment("retail"), firm(ALL), year_of_bills(), set(), AS_OF)
    assert out.grade in card.scale and out.supervision_class in "ABCD"
    capped = evaluate_facts(card.for_segment("retail"), firm(ALL), year_of_bills() + [loan("written_off")], set(),
                            AS_OF)
    assert capped.grade in ("B", "C")


def test_a_scorecard_with_a_scale_of_its_own_invention_is_refused(tmp_path: Path) -> None:
    raw = __import__("json").loads((PROJECT_SCORECARDS / "power-v2.json").read_text("utf-8"))
    raw["grades"] = [{"grade": "AAA", "min_score": 90}, {"grade": "BBB", "min_score": 60}, {"grade": "C", "min_score": 0}]
    with pytest.raises(ScorecardError, match="九级.*五级"):
        parse_scorecard(raw)
    raw = __import__("json").loads((PROJECT_SCORECARDS / "power-v2.json").read_text("utf-8"))
    raw["segments"]["generation"]["factor_weights"]["safety"] = 0.5
    with pytest.raises(ScorecardError, match="segments.generation.factor_weights"):
        parse_scorecard(raw)
