"""Unit tests for the record categories' classification (polarity, severity, dates, what
is still going on) and the fast path bulk ingestion uses (no database)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from marshmallow import ValidationError

from app.archive.categories import CATEGORIES, Classification
from app.archive.models import Polarity
from app.core import clock
from tests.archive.payloads import (
    ALL_CATEGORIES,
    BAD_PAYLOADS,
    FUTURE,
    LAST_YEAR,
    LEGACY_USCC,
    PREV_MONTH,
    THIS_MONTH,
    TODAY,
    USCC_BAD,
    classify,
    d,
    load,
    month_end,
    month_str,
    payload,
)

# --- classification edges ------------------------------------------------------------------


def cls(category: str, case: str, polarity: Polarity, severity: int, *, drop: tuple[str, ...] = (),
        **changes: Any) -> Any:
    return pytest.param(category, drop, changes, polarity, severity, id=f"{category}-{case}")


CLASSIFICATIONS = [
    # tax
    cls("tax", "A-good", Polarity.good, 0),
    cls("tax", "B-good", Polarity.good, 0, grade="B", points=75),
    cls("tax", "M-neutral", Polarity.neutral, 0, grade="M", drop=("points",)),
    cls("tax", "C-bad-2", Polarity.bad, 2, grade="C", points=50),
    cls("tax", "D-bad-3", Polarity.bad, 3, grade="D", drop=("points",)),
    cls("tax", "D-assigned-despite-points", Polarity.bad, 3, grade="D", points=95),
    cls("tax", "A-with-arrears-bad-2", Polarity.bad, 2, arrears_amount="1000.00"),
    cls("tax", "A-zero-arrears-good", Polarity.good, 0, arrears_amount="0"),
    cls("tax", "D-with-arrears-stays-3", Polarity.bad, 3, grade="D", arrears_amount="1"),
    # contract
    cls("contract", "on-time-good", Polarity.good, 0),
    cls("contract", "on-time-on-due-day", Polarity.good, 0, fulfilled_on=d(30)),
    cls("contract", "late-bad-1", Polarity.bad, 1, status="late", fulfilled_on=d(29)),
    cls("contract", "breached-bad-3", Polarity.bad, 3, status="breached", drop=("fulfilled_on",),
        breach_amount="50000"),
    cls("contract", "disputed-neutral", Polarity.neutral, 0, status="disputed", drop=("fulfilled_on",)),
    # quality
    cls("quality", "pass-good", Polarity.good, 0),
    cls("quality", "fail-minor-1", Polarity.bad, 1, result="fail", defect_class="minor"),
    cls("quality", "fail-major-2", Polarity.bad, 2, result="fail", defect_class="major"),
    cls("quality", "fail-critical-3", Polarity.bad, 3, result="fail", defect_class="critical"),
    cls("quality", "fail-minor-recall-3", Polarity.bad, 3, result="fail", defect_class="minor",
        recall=True),
    # safety
    cls("safety", "ordinary-1", Polarity.bad, 1),
    cls("safety", "2-deaths-ordinary-1", Polarity.bad, 1, deaths=2),
    cls("safety", "3-deaths-larger-2", Polarity.bad, 2, deaths=3, level="larger"),
    cls("safety", "larger-no-deaths-2", Polarity.bad, 2, level="larger"),
    cls("safety", "10-deaths-major-3", Polarity.bad, 3, deaths=10, level="major"),
    cls("safety", "30-deaths-extraordinary-3", Polarity.bad, 3, deaths=30, level="extraordinary"),
    cls("safety", "ordinary-licence-revoked-3", Polarity.bad, 3, licence_status="revoked"),
    cls("safety", "ordinary-licence-suspended-1", Polarity.bad, 1, licence_status="suspended"),
    # environment
    cls("environment", "violation-with-penalty-2", Polarity.bad, 2),
    cls("environment", "violation-no-penalty-1", Polarity.bad, 1, drop=("penalty_amount",)),
    cls("environment", "violation-black-3", Polarity.bad, 3, rating="black"),
    cls("environment", "green-good", Polarity.good, 0, rating="green",
        drop=("violation", "penalty_amount", "rectified_on")),
    cls("environment", "blue-good", Polarity.good, 0, rating="blue",
        drop=("violation", "penalty_amount", "rectified_on")),
    cls("environment", "yellow-neutral", Polarity.neutral, 0, rating="yellow",
        drop=("violation", "penalty_amount", "rectified_on")),
    cls("environment", "red-bad-2", Polarity.bad, 2, rating="red",
        drop=("violation", "penalty_amount", "rectified_on")),
    cls("environment", "black-bad-3", Polarity.bad, 3, rating="black",
        drop=("violation", "penalty_amount", "rectified_on")),
    # licence
    cls("licence", "valid-good", Polarity.good, 0),
    cls("licence", "default-status-good", Polarity.good, 0, drop=("status",)),
    cls("licence", "revoked-neutral", Polarity.neutral, 0, status="revoked"),
    cls("licence", "invalid-neutral", Polarity.neutral, 0, status="invalid"),
    # penalty
    cls("penalty", "warning-only-1", Polarity.bad, 1),
    cls("penalty", "fine-2", Polarity.bad, 2, penalty_types=["fine"], fine_amount="1.5"),
    cls("penalty", "warning-and-fine-2", Polarity.bad, 2, penalty_types=["warning", "fine"],
        fine_amount="0.000001"),
    cls("penalty", "confiscation-2", Polarity.bad, 2, penalty_types=["confiscation"],
        confiscated_amount="12.345678"),
    cls("penalty", "warning-serious-3", Polarity.bad, 3, serious=True, publish_until=d(-700)),
    cls("penalty", "serious-string-flag-3", Polarity.bad, 3, serious="是", publish_until=d(-700)),
    cls("penalty", "licence-revocation-3", Polarity.bad, 3, penalty_types=["licence_revocation"]),
    cls("penalty", "suspension-3", Polarity.bad, 3, penalty_types=["suspension"]),
    cls("penalty", "detention-3", Polarity.bad, 3, penalty_types=["detention"]),
    cls("penalty", "licence-suspension-2", Polarity.bad, 2, penalty_types=["licence_suspension"]),
    # judicial
    cls("judicial", "partial-2", Polarity.bad, 2),
    cls("judicial", "none-2", Polarity.bad, 2, performance="none"),
    cls("judicial", "full-1", Polarity.bad, 1, performance="full", performed_on=d(10)),
    cls("judicial", "dishonest-3", Polarity.bad, 3, dishonest_conduct="refuse_with_ability",
        published_on=d(200)),
    cls("judicial", "dishonest-full-3", Polarity.bad, 3, dishonest_conduct="evade_enforcement",
        published_on=d(200), performance="full", performed_on=d(10)),
    cls("judicial", "fullwidth-brackets-2", Polarity.bad, 2, case_no=f"（{LAST_YEAR}）京0105民初12345号"),
    # bidding
    cls("bidding", "won-good", Polarity.good, 0),
    cls("bidding", "lost-neutral", Polarity.neutral, 0, result="lost"),
    cls("bidding", "disqualified-no-violation-neutral", Polarity.neutral, 0, result="disqualified"),
    cls("bidding", "violation-2", Polarity.bad, 2, result="disqualified", violation="collusion"),
    cls("bidding", "violation-with-ban-3", Polarity.bad, 3, result="disqualified", violation="bid_rigging",
        ban_until=(TODAY + dt.timedelta(days=365)).isoformat()),
    # commitment
    cls("commitment", "fulfilled-default-good", Polarity.good, 0),
    cls("commitment", "fulfilled-true-good", Polarity.good, 0, fulfilled=True),
    cls("commitment", "broken-bad-2", Polarity.bad, 2, fulfilled=False),
    cls("commitment", "broken-string-bad-2", Polarity.bad, 2, fulfilled="否"),
    # loan
    cls("loan", "normal-good", Polarity.good, 0),
    cls("loan", "settled-good", Polarity.good, 0, status="settled", settled_on=d(40)),
    cls("loan", "overdue-1-day-1", Polarity.bad, 1, status="overdue", overdue_days=1),
    cls("loan", "overdue-30-days-1", Polarity.bad, 1, status="overdue", overdue_days=30),
    cls("loan", "overdue-31-days-2", Polarity.bad, 2, status="overdue", overdue_days=31),
    cls("loan", "overdue-90-days-2", Polarity.bad, 2, status="overdue", overdue_days=90),
    cls("loan", "overdue-91-days-3", Polarity.bad, 3, status="overdue", overdue_days=91),
    cls("loan", "overdue-365-days-3", Polarity.bad, 3, status="overdue", overdue_days=365,
        overdue_amount="5000000"),
    cls("loan", "written-off-3", Polarity.bad, 3, status="written_off"),
    # honour
    cls("honour", "good", Polarity.good, 0),
    cls("honour", "no-level-good", Polarity.good, 0, drop=("level",)),
    # utility
    cls("utility", "on-time-good", Polarity.good, 0),
    cls("utility", "late-bad-1", Polarity.bad, 1, status="late"),
    cls("utility", "arrears-no-months-2", Polarity.bad, 2, status="arrears", arrears_amount="100",
        drop=("paid_on",)),
    cls("utility", "arrears-3-months-2", Polarity.bad, 2, status="arrears", arrears_amount="100",
        arrears_months=3, drop=("paid_on",)),
    cls("utility", "arrears-4-months-3", Polarity.bad, 3, status="arrears", arrears_amount="100",
        arrears_months=4, drop=("paid_on",)),
    cls("utility", "arrears-12-months-3", Polarity.bad, 3, status="arrears", arrears_amount="100",
        arrears_months=12, drop=("paid_on",)),
]


@pytest.mark.parametrize(("category", "drop", "changes", "polarity", "severity"), CLASSIFICATIONS)
def test_classification(
    category: str, drop: tuple[str, ...], changes: dict[str, Any], polarity: Polarity, severity: int
) -> None:
    result = classify(category, payload(category, drop=drop, **changes))
    assert (result.polarity, result.severity) == (polarity, severity)
    assert 0 <= result.severity <= 3
    assert isinstance(result.occurred_on, dt.date)
    assert result.occurred_on <= TODAY


def test_tax_grade_d_is_bad_severity_3_dated_end_of_year() -> None:
    result = classify("tax", payload("tax", grade="D", year=LAST_YEAR - 1, drop=("points",)))
    assert result == Classification(Polarity.bad, 3, dt.date(LAST_YEAR - 1, 12, 31))


def test_tax_grade_a_is_good() -> None:
    result = classify("tax", payload("tax"))
    assert result.polarity is Polarity.good
    assert result.severity == 0


def test_tax_current_year_refused_but_last_year_accepted() -> None:
    assert load("tax", payload("tax", year=LAST_YEAR))["year"] == LAST_YEAR
    with pytest.raises(ValidationError) as info:
        load("tax", payload("tax", year=TODAY.year, drop=("assessed_on",)))
    assert set(info.value.messages) == {"year"}


@pytest.mark.parametrize(
    ("points", "grade"),
    [(90, "A"), (89, "B"), (70, "M"), (70, "B"), (69, "C"), (40, "C"), (39, "D"), (0, "D"), (100, "D")],
    ids=["90-A", "89-B", "70-M", "70-B", "69-C", "40-C", "39-D", "0-D", "100-D-assigned"],
)
def test_tax_grade_points_boundaries_accepted(points: int, grade: str) -> None:
    assert load("tax", payload("tax", points=points, grade=grade))["grade"] == grade


@pytest.mark.parametrize(
    ("points", "grade"),
    [(89, "A"), (90, "B"), (69, "B"), (69, "M"), (39, "C"), (40, "A")],
    ids=["89-A", "90-B", "69-B", "69-M", "39-C", "40-A"],
)
def test_tax_grade_points_mismatch_refused(points: int, grade: str) -> None:
    with pytest.raises(ValidationError) as info:
        load("tax", payload("tax", points=points, grade=grade))
    assert set(info.value.messages) == {"grade"}


def test_contract_on_time_late_breached_dates() -> None:
    on_time = classify("contract", payload("contract"))
    assert (on_time.polarity, on_time.severity) == (Polarity.good, 0)
    assert on_time.occurred_on == TODAY - dt.timedelta(days=40)

    late = classify("contract", payload("contract", status="late", fulfilled_on=d(20)))
    assert (late.polarity, late.severity) == (Polarity.bad, 1)
    assert late.occurred_on == late.ended_on == TODAY - dt.timedelta(days=20)

    breached = classify("contract", payload("contract", status="breached", drop=("fulfilled_on",)))
    assert (breached.polarity, breached.severity) == (Polarity.bad, 3)
    assert breached.occurred_on == breached.ended_on == TODAY - dt.timedelta(days=30)


def test_contract_fulfilled_in_future_due_in_future_ok_when_fulfilled() -> None:
    # Fulfilled early, due date still ahead: a valid on-time contract.
    result = classify("contract", payload("contract", due_on=(TODAY + dt.timedelta(days=60)).isoformat()))
    assert (result.polarity, result.severity) == (Polarity.good, 0)


def test_safety_three_deaths_at_ordinary_level_refused_on_level() -> None:
    with pytest.raises(ValidationError) as info:
        load("safety", payload("safety", deaths=3, level="ordinary"))
    assert set(info.value.messages) == {"level"}
    assert "3" in info.value.messages["level"][0]


@pytest.mark.parametrize(
    ("deaths", "lowest_ok", "too_low"),
    [(2, "ordinary", None), (3, "larger", "ordinary"), (9, "larger", "ordinary"),
     (10, "major", "larger"), (29, "major", "larger"), (30, "extraordinary", "major")],
    ids=["2", "3", "9", "10", "29", "30"],
)
def test_safety_level_minimum_by_deaths(deaths: int, lowest_ok: str, too_low: str | None) -> None:
    assert load("safety", payload("safety", deaths=deaths, level=lowest_ok))["level"] == lowest_ok
    if too_low is not None:
        with pytest.raises(ValidationError) as info:
            load("safety", payload("safety", deaths=deaths, level=too_low))
        assert set(info.value.messages) == {"level"}


def test_safety_higher_level_than_deaths_require_is_allowed() -> None:
    result = classify("safety", payload("safety", deaths=0, level="major"))
    assert result.severity == 3


def test_safety_default_deaths_and_licence_status() -> None:
    loaded = load("safety", payload("safety", drop=("deaths", "injuries", "licence_status")))
    assert loaded["deaths"] == 0
    assert loaded["injuries"] == 0
    assert loaded["licence_status"] == "valid"


def test_safety_ended_on_defaults_to_accident_day() -> None:
    result = classify("safety", payload("safety", drop=("closed_on",)))
    assert result.ended_on == result.occurred_on == TODAY - dt.timedelta(days=100)


def test_penalty_serious_is_severity_3_and_warning_only_is_1() -> None:
    serious = classify("penalty", payload("penalty", serious=True,
                                          publish_until=(TODAY + dt.timedelta(days=700)).isoformat()))
    assert (serious.polarity, serious.severity) == (Polarity.bad, 3)
    warning = classify("penalty", payload("penalty"))
    assert (warning.polarity, warning.severity) == (Polarity.bad, 1)
    assert warning.occurred_on == warning.ended_on == TODAY - dt.timedelta(days=30)


def test_penalty_publish_until_three_years_accepted() -> None:
    decided = TODAY - dt.timedelta(days=30)
    until = clock.add_years(decided, 3)
    loaded = load("penalty", payload("penalty", publish_until=until.isoformat(), serious=True))
    assert loaded["publish_until"] == until


@pytest.mark.parametrize(("serious", "days", "ok"), [
    (False, 89, False), (False, 92, True),  # general: at least 3 months (decided 30 days ago)
    (True, 364, False), (True, 366, True),  # serious: at least 1 year
])
def test_penalties_are_published_at_least_their_minimum_period(serious, days, ok) -> None:
    decided = TODAY - dt.timedelta(days=30)
    body = payload("penalty", publish_until=(decided + dt.timedelta(days=days)).isoformat(), serious=serious)
    if ok:
        assert load("penalty", body)["serious"] is serious
    else:
        with pytest.raises(ValidationError) as err:
            load("penalty", body)
        assert list(err.value.messages) == ["publish_until"] and "最短" in err.value.messages["publish_until"][0]


def test_general_penalty_published_over_one_year_is_refused() -> None:
    decided = TODAY - dt.timedelta(days=30)
    until = decided + dt.timedelta(days=400)
    with pytest.raises(ValidationError) as err:
        load("penalty", payload("penalty", publish_until=until.isoformat(), serious=False))
    assert list(err.value.messages) == ["publish_until"]


def test_judicial_dishonest_conduct_is_severity_3_dated_by_publication() -> None:
    result = classify("judicial", payload("judicial", dishonest_conduct="obstruct_enforcement",
                                          published_on=d(250)))
    assert result == Classification(Polarity.bad, 3, TODAY - dt.timedelta(days=250), None, ongoing=True)


def test_judicial_full_performance_ends_on_performed_date() -> None:
    result = classify("judicial", payload("judicial", performance="full", performed_on=d(7)))
    assert result == Classification(Polarity.bad, 1, TODAY - dt.timedelta(days=300),
                                    TODAY - dt.timedelta(days=7), ongoing=False)


def test_utility_arrears_over_three_months_is_severity_3() -> None:
    base = {"status": "arrears", "arrears_amount": "2000.00"}
    three = classify("utility", payload("utility", drop=("paid_on",), arrears_months=3, **base))
    four = classify("utility", payload("utility", drop=("paid_on",), arrears_months=4, **base))
    assert (three.polarity, three.severity) == (Polarity.bad, 2)
    assert (four.polarity, four.severity) == (Polarity.bad, 3)
    assert four.occurred_on == month_end(PREV_MONTH)
    assert four.ended_on is None and four.ongoing and three.ongoing  # unpaid: going on


def test_utility_month_accepts_its_first_day_as_the_archive_serves_it() -> None:
    loaded = load("utility", payload("utility", month=PREV_MONTH.isoformat()))  # "YYYY-MM-01"
    assert loaded["month"] == PREV_MONTH


def test_utility_bill_paid_within_its_month_occurred_when_paid() -> None:
    first = THIS_MONTH if TODAY.day > 1 else PREV_MONTH
    paid = first + dt.timedelta(days=min(1, (TODAY - first).days))  # in the month, not after today
    result = classify("utility", payload("utility", month=month_str(first), paid_on=paid.isoformat()))
    assert result == Classification(Polarity.good, 0, paid, paid)
    assert result.ended_on >= result.occurred_on  # type: ignore[operator]


def test_utility_current_month_accepted() -> None:
    loaded = load("utility", payload("utility", month=month_str(THIS_MONTH)))
    assert loaded["month"] == THIS_MONTH


def test_loan_overdue_over_90_days_is_severity_3() -> None:
    def sev(days: int) -> int:
        return classify("loan", payload("loan", status="overdue", overdue_days=days)).severity

    assert sev(90) == 2
    assert sev(91) == 3
    overdue = classify("loan", payload("loan", status="overdue", overdue_days=120))
    assert overdue == Classification(Polarity.bad, 3, TODAY - dt.timedelta(days=400), None, ongoing=True)


def test_loan_written_off_and_settled() -> None:
    written_off = classify("loan", payload("loan", status="written_off"))
    assert (written_off.polarity, written_off.severity, written_off.ongoing) == (Polarity.bad, 3, True)
    recovered = classify("loan", payload("loan", status="written_off", settled_on=d(35)))
    assert (recovered.ended_on, recovered.ongoing) == (TODAY - dt.timedelta(days=35), False)
    settled = classify("loan", payload("loan", status="settled", settled_on=d(35)))
    assert settled == Classification(Polarity.good, 0, TODAY - dt.timedelta(days=400),
                                     TODAY - dt.timedelta(days=35))


def test_today_counts_as_past() -> None:
    for category, field in [("honour", "awarded_on"), ("commitment", "signed_on"),
                            ("quality", "inspection_on"), ("bidding", "bid_on")]:
        loaded = load(category, payload(category, **{field: TODAY.isoformat()}))
        assert loaded[field] == TODAY


@pytest.mark.parametrize(
    ("category", "field"),
    [("honour", "awarded_on"), ("commitment", "signed_on"), ("quality", "inspection_on"),
     ("bidding", "bid_on"), ("judicial", "filed_on"), ("loan", "start_on")],
    ids=["honour", "commitment", "quality", "bidding", "judicial", "loan"],
)
def test_future_date_message_mentions_future(category: str, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        load(category, payload(category, **{field: FUTURE}))
    assert field in info.value.messages
    assert "未来" in info.value.messages[field][0]


# --- the fast path used by bulk ingestion (app/schemas_fast.py) ----------------------------


def _agrees(category: str, body: Any) -> Any:
    """The fast path returns what schema.load returns, or None; never accepts what it refuses."""
    spec = CATEGORIES[category]
    fast = spec.fast.load(body)
    try:
        slow = spec.schema.load(body)
    except ValidationError:
        assert fast is None, (category, body, fast)
        return None
    assert fast is None or fast == slow, (category, body, fast, slow)
    return fast


@pytest.mark.parametrize("category", ALL_CATEGORIES, ids=ALL_CATEGORIES)
def test_fast_path_loads_every_valid_payload_exactly_like_the_schema(category: str) -> None:
    assert CATEGORIES[category].fast.supported
    assert _agrees(category, payload(category)) is not None


@pytest.mark.parametrize(("category", "drop", "changes", "field"), BAD_PAYLOADS)
def test_fast_path_never_accepts_a_bad_payload(
    category: str, drop: tuple[str, ...], changes: dict[str, Any], field: str
) -> None:
    assert _agrees(category, payload(category, drop=drop, **changes)) is None


@pytest.mark.parametrize(("category", "drop", "changes", "polarity", "severity"), CLASSIFICATIONS)
def test_fast_path_agrees_on_every_classification_case(
    category: str, drop: tuple[str, ...], changes: dict[str, Any], polarity: Polarity, severity: int
) -> None:
    assert _agrees(category, payload(category, drop=drop, **changes)) is not None


JUNK = ["", " ", "abc", "2099-01-01", FUTURE, "1900-01-01", "-1", "1e3", "12.345", -1, 0, 1.5, True,
        None, [], {}, ["a"], "０", "9" * 30, "2024-13", "2024-02-30", USCC_BAD, LEGACY_USCC, "a\u0000b"]


@pytest.mark.parametrize("category", ALL_CATEGORIES, ids=ALL_CATEGORIES)
def test_fast_path_agrees_with_the_schema_on_junk_in_every_field(category: str) -> None:
    body = payload(category)
    fields_ = list(CATEGORIES[category].schema.load_fields)
    checked = 0
    for name in fields_:
        for junk in JUNK:
            _agrees(category, {**body, name: junk})
            checked += 1
        without = {k: v for k, v in body.items() if k != name}
        _agrees(category, without)
    assert checked == len(fields_) * len(JUNK)


@pytest.mark.parametrize("value", ["1e3", "1E3", "1,000", "1000元", "0x10", ".5", "1 000", "Infinity", "NaN",
                                   "１０００", "١٢٣"])
def test_amount_strings_in_anything_but_plain_notation_are_refused_on_their_field(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        load("contract", payload("contract", amount=value))
    assert set(info.value.messages) == {"amount"}, info.value.messages
    assert "普通数字写法" in info.value.messages["amount"][0]


@pytest.mark.parametrize(("value", "kept"), [("1000.50", "1000.50"), (" 1000 ", "1000"), (1000, "1000"),
                                             (Decimal("1E+3"), "1000"), (12.5, "12.5"), ("-0", "0"),
                                             ("-0.00", "0.00")])
def test_amounts_are_kept_in_plain_notation(value: Any, kept: str) -> None:
    from app.core.schemas_base import Amount

    assert str(Amount()._deserialize(value, "amount", {})) == kept
