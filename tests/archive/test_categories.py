"""Unit tests for the record categories: strict payload schemas and classification rules.

Pure unit tests (no database).  Dates are computed relative to ``clock.today()`` so the tests
do not rot.
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from marshmallow import ValidationError

from app.archive.categories import CATEGORIES, Classification
from app.archive.models import Category, Polarity
from app.core import clock

TODAY = clock.today()
TOMORROW = TODAY + dt.timedelta(days=1)
LAST_YEAR = TODAY.year - 1
THIS_MONTH = TODAY.replace(day=1)
PREV_MONTH = (THIS_MONTH - dt.timedelta(days=1)).replace(day=1)
NEXT_MONTH = (THIS_MONTH + dt.timedelta(days=32)).replace(day=1)
USCC = "91110000053621038D"  # real, passes
USCC_BAD = "91110000053621038E"  # wrong check character
LEGACY_USCC = "91350100M0001TGQXM"  # allow-listed for imports only, never in payloads


def d(days_ago: int) -> str:
    return (TODAY - dt.timedelta(days=days_ago)).isoformat()


def month_str(day: dt.date) -> str:
    return day.strftime("%Y-%m")


# One valid payload per category (field names exactly as in app/archive/categories.py).
def _valid() -> dict[str, dict[str, Any]]:
    return {
        "tax": {
            "year": LAST_YEAR,
            "grade": "A",
            "points": 95,
            "assessed_on": TODAY.replace(month=1, day=1).isoformat(),
        },
        "contract": {
            "contract_no": "HT-2024-0001",
            "counterparty_uscc": USCC,
            "counterparty_name": "国网某省电力公司",
            "subject": "变压器采购",
            "amount": "1200000.00",
            "signed_on": d(200),
            "due_on": d(30),
            "fulfilled_on": d(40),
            "status": "on_time",
        },
        "quality": {
            "product": "10kV 电力电缆",
            "batch_no": "B-001",
            "inspection_on": d(15),
            "inspector": "国家电线电缆质量检验检测中心",
            "result": "pass",
        },
        "safety": {
            "accident_on": d(100),
            "level": "ordinary",
            "deaths": 0,
            "injuries": 2,
            "direct_loss": "350000.00",
            "description": "高处坠落",
            "licence_status": "valid",
            "closed_on": d(20),
        },
        "environment": {
            "event_on": d(60),
            "violation": "超标排放",
            "penalty_amount": "50000",
            "authority": "某市生态环境局",
            "rectified_on": d(10),
        },
        "licence": {
            "decision_doc_name": "准予行政许可决定书",
            "decision_doc_no": "X许准字〔2024〕第 12 号",
            "licence_category": "general",
            "certificate_name": "承装（修、试）电力设施许可证",
            "certificate_no": "6-1-00123-2024",
            "content": "承装类四级",
            "decided_on": d(100),
            "valid_from": d(100),
            "valid_to": (TODAY + dt.timedelta(days=365 * 5)).isoformat(),
            "authority": "国家能源局某监管办公室",
            "authority_uscc": USCC,
            "status": "valid",
            "data_source": "信用中国",
        },
        "penalty": {
            "decision_no": "X能监罚〔2024〕1 号",
            "violation_type": "违规承装",
            "facts": "超越许可范围承揽工程",
            "legal_basis": "《承装（修、试）电力设施许可证管理办法》第三十三条",
            "penalty_types": ["warning"],
            "content": "警告",
            "decided_on": d(30),
            "publish_until": (TODAY + dt.timedelta(days=300)).isoformat(),
            "authority": "国家能源局某监管办公室",
            "authority_uscc": USCC,
        },
        "judicial": {
            "case_no": f"({LAST_YEAR})皖1122执1194号",
            "court": "安徽省某县人民法院",
            "filed_on": d(300),
            "obligation": "支付货款 120 万元",
            "performance": "partial",
            "amount": "1200000",
        },
        "bidding": {
            "project": "某 220kV 变电站新建工程",
            "project_no": "ZB-2024-01",
            "tenderer": "国网某省电力公司",
            "bid_on": d(50),
            "result": "won",
            "amount": "8800000.00",
        },
        "commitment": {
            "text_version": "v2024.1",
            "title": "信用承诺书",
            "signed_on": d(5),
            "signatory": "张三",
        },
        "loan": {
            "lender": "某银行",
            "lender_uscc": USCC,
            "amount": "5000000",
            "start_on": d(400),
            "end_on": d(35),
            "status": "normal",
        },
        "honour": {
            "award": "守合同重信用企业",
            "issuer": "某省市场监督管理局",
            "awarded_on": d(90),
            "level": "provincial",
        },
        "utility": {
            "account_no": "0101234567",
            "month": month_str(PREV_MONTH),
            "consumption_kwh": "125000.125",
            "amount_due": "86250.50",
            "status": "on_time",
            "paid_on": TODAY.isoformat(),
        },
    }


def payload(category: str, drop: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
    body = _valid()[category]
    for key in drop:
        del body[key]
    body.update(changes)
    return body


def load(category: str, body: dict[str, Any]) -> dict[str, Any]:
    return CATEGORIES[category].schema.load(body)


def classify(category: str, body: dict[str, Any]) -> Classification:
    spec = CATEGORIES[category]
    return spec.classify(spec.schema.load(body))


def month_end(first: dt.date) -> dt.date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


# --- registry ----------------------------------------------------------------------------

ALL_CATEGORIES = [
    "tax", "contract", "quality", "safety", "environment", "licence", "penalty",
    "judicial", "bidding", "commitment", "loan", "honour", "utility",
]


def test_registry_covers_every_category() -> None:
    assert set(CATEGORIES) == set(ALL_CATEGORIES) == {c.value for c in Category}
    assert set(_valid()) == set(CATEGORIES)
    for name, spec in CATEGORIES.items():
        assert spec.category.value == name


# --- one valid payload per category --------------------------------------------------------

VALID_EXPECTATIONS = {
    "tax": (Polarity.good, 0, dt.date(LAST_YEAR, 12, 31), None),
    "contract": (Polarity.good, 0, TODAY - dt.timedelta(days=40), TODAY - dt.timedelta(days=40)),
    "quality": (Polarity.good, 0, TODAY - dt.timedelta(days=15), None),
    "safety": (Polarity.bad, 1, TODAY - dt.timedelta(days=100), TODAY - dt.timedelta(days=20)),
    "environment": (Polarity.bad, 2, TODAY - dt.timedelta(days=60), TODAY - dt.timedelta(days=10)),
    "licence": (Polarity.good, 0, TODAY - dt.timedelta(days=100), TODAY + dt.timedelta(days=365 * 5)),
    "penalty": (Polarity.bad, 1, TODAY - dt.timedelta(days=30), TODAY - dt.timedelta(days=30)),
    "judicial": (Polarity.bad, 2, TODAY - dt.timedelta(days=300), None),
    "bidding": (Polarity.good, 0, TODAY - dt.timedelta(days=50), None),
    "commitment": (Polarity.good, 0, TODAY - dt.timedelta(days=5), None),
    "loan": (Polarity.good, 0, TODAY - dt.timedelta(days=400), None),
    "honour": (Polarity.good, 0, TODAY - dt.timedelta(days=90), None),
    "utility": (Polarity.good, 0, month_end(PREV_MONTH), TODAY),
}


@pytest.mark.parametrize("category", ALL_CATEGORIES, ids=ALL_CATEGORIES)
def test_valid_payload_loads_and_classifies(category: str) -> None:
    polarity, severity, occurred, ended = VALID_EXPECTATIONS[category]
    result = classify(category, payload(category))
    # Only the judgment, not (fully) performed, is behaviour still going on.
    assert result == Classification(polarity, severity, occurred, ended, ongoing=category == "judicial")


@pytest.mark.parametrize("category", ALL_CATEGORIES, ids=ALL_CATEGORIES)
def test_valid_payload_loads_typed_values(category: str) -> None:
    loaded = load(category, payload(category))
    body = payload(category)
    assert set(loaded) >= set(body)
    for key, value in loaded.items():
        if key.endswith("_on") or key == "valid_from" or key == "valid_to" or key == "due_on":
            assert isinstance(value, dt.date), key
        if key in ("amount", "amount_due", "consumption_kwh", "direct_loss", "penalty_amount"):
            assert isinstance(value, Decimal), key
            assert value == Decimal(body[key]), key


def test_amounts_are_decimal_never_float() -> None:
    loaded = load("contract", payload("contract", amount=0.1))
    assert loaded["amount"] == Decimal("0.1")
    assert isinstance(loaded["amount"], Decimal)


def test_utility_month_loads_to_first_day() -> None:
    loaded = load("utility", payload("utility"))
    assert loaded["month"] == PREV_MONTH
    assert loaded["consumption_kwh"] == Decimal("125000.125")


def test_int_accepts_digit_string_for_csv() -> None:
    loaded = load("tax", payload("tax", year=str(LAST_YEAR), points=" 95 "))
    assert loaded["year"] == LAST_YEAR
    assert loaded["points"] == 95


def test_penalty_types_accept_csv_separated_string() -> None:
    loaded = load("penalty", payload("penalty", penalty_types="warning;fine", fine_amount="1.5"))
    assert loaded["penalty_types"] == ["warning", "fine"]


def test_uscc_field_normalises_case() -> None:
    loaded = load("contract", payload("contract", counterparty_uscc=f" {USCC.lower()} "))
    assert loaded["counterparty_uscc"] == USCC


# --- bad payloads --------------------------------------------------------------------------

FUTURE = TOMORROW.isoformat()


def bad(category: str, field: str, case: str, *, drop: tuple[str, ...] = (), **changes: Any) -> Any:
    return pytest.param(category, drop, changes, field, id=f"{category}-{case}")


BAD_PAYLOADS = [
    # tax
    bad("tax", "foo", "unknown-field", foo=1),
    bad("tax", "year", "year-string", year="twenty"),
    bad("tax", "year", "year-float", year=2020.0),
    bad("tax", "year", "year-bool", year=True),
    bad("tax", "year", "year-current", year=TODAY.year, drop=("assessed_on",)),
    bad("tax", "year", "year-future", year=TODAY.year + 1, drop=("assessed_on",)),
    bad("tax", "year", "year-before-2014", year=2013),
    bad("tax", "year", "missing-year", drop=("year",)),
    bad("tax", "grade", "missing-grade", drop=("grade",)),
    bad("tax", "grade", "grade-unknown", grade="E"),
    bad("tax", "grade", "grade-not-matching-points", grade="B"),
    bad("tax", "grade", "grade-M-below-70", grade="M", points=60),
    bad("tax", "points", "points-over-100", points=101),
    bad("tax", "points", "points-float", points=95.5),
    bad("tax", "assessed_on", "assessed-future", assessed_on=FUTURE),
    bad("tax", "assessed_on", "assessed-in-evaluated-year", assessed_on=f"{LAST_YEAR}-12-31"),
    bad("tax", "assessed_on", "assessed-bad-format", assessed_on="2024/05/01"),
    bad("tax", "arrears_amount", "arrears-negative", arrears_amount="-1"),
    bad("tax", "arrears_amount", "arrears-bool", arrears_amount=True),
    bad("tax", "arrears_amount", "arrears-three-decimals", arrears_amount="1.234"),
    # contract
    bad("contract", "foo", "unknown-field", foo="x"),
    bad("contract", "contract_no", "missing-contract-no", drop=("contract_no",)),
    bad("contract", "contract_no", "empty-contract-no", contract_no=""),
    bad("contract", "counterparty_uscc", "missing-uscc", drop=("counterparty_uscc",)),
    bad("contract", "counterparty_uscc", "bad-uscc", counterparty_uscc=USCC_BAD),
    bad("contract", "counterparty_uscc", "legacy-uscc-not-for-payloads", counterparty_uscc=LEGACY_USCC),
    bad("contract", "counterparty_uscc", "uscc-int", counterparty_uscc=911100000536210380),
    bad("contract", "amount", "missing-amount", drop=("amount",)),
    bad("contract", "amount", "amount-negative", amount="-100"),
    bad("contract", "amount", "amount-zero", amount=0),
    bad("contract", "amount", "amount-bool", amount=True),
    bad("contract", "amount", "amount-text", amount="一百万"),
    bad("contract", "amount", "amount-nan", amount="NaN"),
    bad("contract", "amount", "amount-infinity", amount="Infinity"),
    bad("contract", "amount", "amount-list", amount=[1]),
    bad("contract", "signed_on", "signed-future", signed_on=FUTURE),
    bad("contract", "signed_on", "signed-before-1949", signed_on="1948-12-31"),
    bad("contract", "due_on", "due-before-signed", due_on=d(201), status="breached",
        drop=("fulfilled_on",)),
    bad("contract", "due_on", "unfulfilled-due-in-future", status="breached",
        drop=("fulfilled_on",), due_on=FUTURE),
    bad("contract", "fulfilled_on", "fulfilled-future", fulfilled_on=FUTURE),
    bad("contract", "fulfilled_on", "fulfilled-before-signed", fulfilled_on=d(201)),
    bad("contract", "fulfilled_on", "on-time-without-fulfilled", drop=("fulfilled_on",)),
    bad("contract", "fulfilled_on", "late-without-fulfilled", status="late", drop=("fulfilled_on",)),
    bad("contract", "status", "on-time-but-fulfilled-after-due", fulfilled_on=d(10)),
    bad("contract", "status", "late-but-fulfilled-before-due", status="late"),
    bad("contract", "status", "status-unknown", status="cancelled"),
    bad("contract", "breach_amount", "breach-negative", status="breached", breach_amount="-1"),
    # quality
    bad("quality", "foo", "unknown-field", foo=None),
    bad("quality", "product", "missing-product", drop=("product",)),
    bad("quality", "inspection_on", "inspection-future", inspection_on=FUTURE),
    bad("quality", "inspection_on", "missing-inspection", drop=("inspection_on",)),
    bad("quality", "inspection_on", "inspection-datetime-int", inspection_on=20240101),
    bad("quality", "result", "result-unknown", result="ok"),
    bad("quality", "result", "pass-with-defect", defect_class="minor"),
    bad("quality", "result", "pass-with-recall", recall=True),
    bad("quality", "defect_class", "fail-without-defect", result="fail"),
    bad("quality", "defect_class", "defect-unknown", result="fail", defect_class="fatal"),
    bad("quality", "recall", "recall-not-bool", result="fail", defect_class="minor", recall="maybe"),
    # safety
    bad("safety", "foo", "unknown-field", foo=1),
    bad("safety", "level", "missing-level", drop=("level",)),
    bad("safety", "level", "level-unknown", level="small"),
    bad("safety", "level", "3-deaths-ordinary", deaths=3, level="ordinary"),
    bad("safety", "level", "10-deaths-larger", deaths=10, level="larger"),
    bad("safety", "level", "30-deaths-major", deaths=30, level="major"),
    bad("safety", "deaths", "deaths-negative", deaths=-1),
    bad("safety", "deaths", "deaths-float", deaths=1.5),
    bad("safety", "deaths", "deaths-whole-float", deaths=2.0),
    bad("safety", "deaths", "deaths-string", deaths="two"),
    bad("safety", "deaths", "deaths-null", deaths=None),
    bad("safety", "injuries", "injuries-bool", injuries=True),
    bad("safety", "injuries", "injuries-negative", injuries=-3),
    bad("safety", "direct_loss", "loss-negative", direct_loss=-1),
    bad("safety", "accident_on", "accident-future", accident_on=FUTURE, drop=("closed_on",)),
    bad("safety", "accident_on", "missing-accident", drop=("accident_on",)),
    bad("safety", "closed_on", "closed-before-accident", closed_on=d(101)),
    bad("safety", "closed_on", "closed-future", closed_on=FUTURE),
    bad("safety", "licence_status", "licence-status-unknown", licence_status="cancelled"),
    # environment
    bad("environment", "foo", "unknown-field", foo=1),
    bad("environment", "event_on", "missing-event", drop=("event_on",)),
    bad("environment", "event_on", "event-future", event_on=FUTURE, drop=("rectified_on",)),
    bad("environment", "rectified_on", "rectified-before-event", rectified_on=d(61)),
    bad("environment", "rectified_on", "rectified-future", rectified_on=FUTURE),
    bad("environment", "penalty_amount", "penalty-negative", penalty_amount="-50"),
    bad("environment", "penalty_amount", "penalty-bool", penalty_amount=False),
    bad("environment", "penalty_amount", "penalty-without-violation", rating="red",
        drop=("violation",)),
    bad("environment", "violation", "neither-violation-nor-rating", drop=("violation", "penalty_amount")),
    bad("environment", "rating", "rating-unknown", rating="purple"),
    bad("environment", "violation", "violation-int", violation=42),
    # licence
    bad("licence", "foo", "unknown-field", foo=1),
    bad("licence", "decision_doc_no", "missing-doc-no", drop=("decision_doc_no",)),
    bad("licence", "content", "empty-content", content=""),
    bad("licence", "licence_category", "category-unknown", licence_category="special"),
    bad("licence", "decided_on", "decided-future", decided_on=FUTURE, valid_from=FUTURE),
    bad("licence", "valid_from", "valid-from-before-decided", valid_from=d(101)),
    bad("licence", "valid_from", "missing-valid-from", drop=("valid_from",)),
    bad("licence", "valid_to", "valid-to-before-valid-from", valid_to=d(102)),
    bad("licence", "authority_uscc", "bad-authority-uscc", authority_uscc=USCC_BAD),
    bad("licence", "authority_uscc", "missing-authority-uscc", drop=("authority_uscc",)),
    bad("licence", "status", "status-unknown", status="expired"),
    # penalty
    bad("penalty", "foo", "unknown-field", foo=1),
    bad("penalty", "decision_no", "missing-decision-no", drop=("decision_no",)),
    bad("penalty", "penalty_types", "types-empty", penalty_types=[]),
    bad("penalty", "penalty_types", "types-unknown", penalty_types=["flogging"]),
    bad("penalty", "penalty_types", "types-not-list", penalty_types=3),
    bad("penalty", "penalty_types", "missing-types", drop=("penalty_types",)),
    bad("penalty", "fine_amount", "fine-without-amount", penalty_types=["fine"]),
    bad("penalty", "fine_amount", "fine-amount-zero", penalty_types=["fine"], fine_amount=0),
    bad("penalty", "fine_amount", "fine-negative", penalty_types=["fine"], fine_amount="-0.5"),
    bad("penalty", "fine_amount", "fine-bool", penalty_types=["fine"], fine_amount=True),
    bad("penalty", "fine_amount", "fine-seven-decimals", penalty_types=["fine"], fine_amount="0.1234567"),
    bad("penalty", "confiscated_amount", "confiscation-without-amount", penalty_types=["confiscation"]),
    bad("penalty", "decided_on", "decided-future", decided_on=FUTURE),
    bad("penalty", "publish_until", "publish-until-same-day", publish_until=d(30)),
    bad("penalty", "publish_until", "publish-until-before-decided", publish_until=d(31)),
    bad("penalty", "publish_until", "publish-over-3-years",
        publish_until=(TODAY + dt.timedelta(days=3 * 366)).isoformat()),
    bad("penalty", "authority_uscc", "bad-authority-uscc", authority_uscc=USCC_BAD),
    bad("penalty", "serious", "serious-not-bool", serious="maybe"),
    # judicial
    bad("judicial", "foo", "unknown-field", foo=1),
    bad("judicial", "case_no", "case-no-bad-format", case_no="2019-皖-1194"),
    bad("judicial", "case_no", "case-no-missing-hao", case_no=f"({LAST_YEAR})皖1122执1194"),
    bad("judicial", "case_no", "missing-case-no", drop=("case_no",)),
    bad("judicial", "court", "missing-court", drop=("court",)),
    bad("judicial", "filed_on", "filed-future", filed_on=FUTURE),
    bad("judicial", "performance", "performance-unknown", performance="some"),
    bad("judicial", "performed_on", "full-without-performed", performance="full"),
    bad("judicial", "performed_on", "partial-with-performed", performed_on=d(5)),
    bad("judicial", "performed_on", "performed-before-filed", performance="full", performed_on=d(301)),
    bad("judicial", "performed_on", "performed-future", performance="full", performed_on=FUTURE),
    bad("judicial", "published_on", "published-before-filed", published_on=d(301)),
    bad("judicial", "published_on", "dishonest-without-published", dishonest_conduct="evade_enforcement"),
    bad("judicial", "dishonest_conduct", "dishonest-unknown", dishonest_conduct="rude",
        published_on=d(10)),
    bad("judicial", "amount", "amount-negative", amount="-1"),
    bad("judicial", "amount", "amount-bool", amount=True),
    # bidding
    bad("bidding", "foo", "unknown-field", foo=1),
    bad("bidding", "project", "missing-project", drop=("project",)),
    bad("bidding", "bid_on", "bid-future", bid_on=FUTURE),
    bad("bidding", "result", "result-unknown", result="tie"),
    bad("bidding", "result", "violation-but-won", violation="collusion"),
    bad("bidding", "ban_until", "ban-without-violation", ban_until=FUTURE),
    bad("bidding", "ban_until", "ban-before-bid", result="disqualified", violation="fraud",
        ban_until=d(51)),
    bad("bidding", "violation", "violation-unknown", result="lost", violation="cheating"),
    bad("bidding", "amount", "amount-negative", amount="-8800000"),
    # commitment
    bad("commitment", "foo", "unknown-field", foo=1),
    bad("commitment", "text_version", "missing-text-version", drop=("text_version",)),
    bad("commitment", "text_version", "text-version-too-long", text_version="v" * 65),
    bad("commitment", "signed_on", "signed-future", signed_on=FUTURE),
    bad("commitment", "signed_on", "missing-signed", drop=("signed_on",)),
    bad("commitment", "signed_on", "signed-bad-format", signed_on="2024/01/01"),
    bad("commitment", "fulfilled", "fulfilled-not-bool", fulfilled="maybe"),
    # loan
    bad("loan", "foo", "unknown-field", foo=1),
    bad("loan", "lender", "missing-lender", drop=("lender",)),
    bad("loan", "lender_uscc", "bad-lender-uscc", lender_uscc=USCC_BAD),
    bad("loan", "amount", "amount-zero", amount="0.00"),
    bad("loan", "amount", "amount-negative", amount=-5),
    bad("loan", "amount", "amount-bool", amount=True),
    bad("loan", "start_on", "start-future", start_on=FUTURE),
    bad("loan", "end_on", "end-before-start", end_on=d(401)),
    bad("loan", "end_on", "missing-end", drop=("end_on",)),
    bad("loan", "status", "status-unknown", status="late"),
    bad("loan", "overdue_days", "overdue-without-days", status="overdue"),
    bad("loan", "overdue_days", "normal-with-days", overdue_days=5),
    bad("loan", "overdue_days", "overdue-days-zero", status="overdue", overdue_days=0),
    bad("loan", "overdue_days", "overdue-days-float", status="overdue", overdue_days=2.5),
    bad("loan", "overdue_days", "overdue-days-string", status="overdue", overdue_days="ninety"),
    bad("loan", "overdue_amount", "overdue-amount-negative", status="overdue", overdue_days=5,
        overdue_amount="-1"),
    bad("loan", "settled_on", "settled-without-date", status="settled"),
    bad("loan", "settled_on", "settled-before-start", status="settled", settled_on=d(401)),
    bad("loan", "settled_on", "settled-future", status="settled", settled_on=FUTURE),
    # honour
    bad("honour", "foo", "unknown-field", foo=1),
    bad("honour", "award", "missing-award", drop=("award",)),
    bad("honour", "award", "award-too-long", award="奖" * 201),
    bad("honour", "issuer", "issuer-int", issuer=7),
    bad("honour", "awarded_on", "awarded-future", awarded_on=FUTURE),
    bad("honour", "level", "level-unknown", level="galactic"),
    # utility
    bad("utility", "foo", "unknown-field", foo=1),
    bad("utility", "month", "missing-month", drop=("month",)),
    bad("utility", "month", "month-future", month=month_str(NEXT_MONTH), drop=("paid_on",),
        status="arrears", arrears_amount="1"),
    bad("utility", "month", "month-13", month=f"{LAST_YEAR}-13"),
    bad("utility", "month", "month-int", month=202401),
    bad("utility", "month", "month-full-date", month=PREV_MONTH.replace(day=15).isoformat()),
    bad("utility", "consumption_kwh", "consumption-negative", consumption_kwh="-1"),
    bad("utility", "consumption_kwh", "consumption-four-decimals", consumption_kwh="1.2345"),
    bad("utility", "consumption_kwh", "missing-consumption", drop=("consumption_kwh",)),
    bad("utility", "amount_due", "amount-due-bool", amount_due=True),
    bad("utility", "amount_due", "amount-due-negative", amount_due=-0.01),
    bad("utility", "status", "status-unknown", status="paid"),
    bad("utility", "status", "on-time-with-arrears", arrears_amount="10"),
    bad("utility", "paid_on", "on-time-without-paid", drop=("paid_on",)),
    bad("utility", "paid_on", "paid-before-month", paid_on=(PREV_MONTH - dt.timedelta(days=1)).isoformat()),
    bad("utility", "paid_on", "paid-future", paid_on=FUTURE),
    bad("utility", "arrears_amount", "arrears-without-amount", status="arrears", drop=("paid_on",)),
    bad("utility", "arrears_amount", "arrears-amount-negative", status="arrears", drop=("paid_on",),
        arrears_amount="-3"),
    bad("utility", "arrears_months", "arrears-months-zero", status="arrears", drop=("paid_on",),
        arrears_amount="10", arrears_months=0),
    bad("utility", "arrears_months", "arrears-months-float", status="arrears", drop=("paid_on",),
        arrears_amount="10", arrears_months=4.0),
]


@pytest.mark.parametrize(("category", "drop", "changes", "field"), BAD_PAYLOADS)
def test_bad_payload_refused_on_field(
    category: str, drop: tuple[str, ...], changes: dict[str, Any], field: str
) -> None:
    body = payload(category, drop=drop, **changes)
    with pytest.raises(ValidationError) as info:
        load(category, body)
    messages = info.value.messages
    assert isinstance(messages, dict)
    assert field in messages, messages
    assert set(messages) == {field}, messages


@pytest.mark.parametrize("category", ALL_CATEGORIES, ids=ALL_CATEGORIES)
def test_every_category_refuses_unknown_field(category: str) -> None:
    with pytest.raises(ValidationError) as info:
        load(category, payload(category, surprise="x"))
    assert set(info.value.messages) == {"surprise"}
    assert info.value.messages["surprise"] == ["未知字段。"]


REQUIRED = {
    "tax": ["year", "grade"],
    "contract": ["contract_no", "counterparty_uscc", "amount", "due_on", "status"],
    "quality": ["product", "inspection_on", "result"],
    "safety": ["accident_on", "level"],
    "environment": ["event_on"],
    "licence": ["decision_doc_name", "decision_doc_no", "licence_category", "content",
                "decided_on", "valid_from", "authority", "authority_uscc"],
    "penalty": ["decision_no", "violation_type", "facts", "legal_basis", "penalty_types", "content",
                "decided_on", "publish_until", "authority", "authority_uscc"],
    "judicial": ["case_no", "court", "filed_on", "obligation", "performance"],
    "bidding": ["project", "bid_on", "result"],
    "commitment": ["text_version", "signed_on"],
    "loan": ["lender", "amount", "start_on", "end_on", "status"],
    "honour": ["award", "issuer", "awarded_on"],
    "utility": ["month", "consumption_kwh", "amount_due", "status"],
}


@pytest.mark.parametrize(
    ("category", "field"),
    [(c, f) for c in ALL_CATEGORIES for f in REQUIRED[c]],
    ids=[f"{c}-{f}" for c in ALL_CATEGORIES for f in REQUIRED[c]],
)
def test_missing_required_field_refused(category: str, field: str) -> None:
    body = payload(category)
    body.pop(field, None)
    with pytest.raises(ValidationError) as info:
        load(category, body)
    assert field in info.value.messages, info.value.messages
    assert info.value.messages[field] == ["缺少必填字段。"]


@pytest.mark.parametrize("category", ALL_CATEGORIES, ids=ALL_CATEGORIES)
def test_every_category_refuses_non_object(category: str) -> None:
    with pytest.raises(ValidationError):
        load(category, ["not", "an", "object"])  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["1e30", 1e30, "9" * 40], ids=["str-1e30", "float-1e30", "40-digits"])
def test_huge_amount_refused_with_validation_error(value: Any) -> None:
    """An absurdly large amount must be a ValidationError on its field, not a crash."""
    with pytest.raises(ValidationError) as info:
        load("contract", payload("contract", amount=value))
    assert set(info.value.messages) == {"amount"}


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
