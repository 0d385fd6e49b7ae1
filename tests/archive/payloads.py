"""One valid payload per record category, and the dates they are built from (relative to
``clock.today()``, the suite's fixed calendar), for the category tests."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

import pytest

from app.archive.categories import CATEGORIES, Classification
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


ALL_CATEGORIES = [
    "tax", "contract", "quality", "safety", "environment", "licence", "penalty",
    "judicial", "bidding", "commitment", "loan", "honour", "utility",
]
FUTURE = TOMORROW.isoformat()


def bad(category: str, field: str, case: str, *, drop: tuple[str, ...] = (), **changes: Any) -> Any:
    return pytest.param(category, drop, changes, field, id=f"{category}-{case}")



# Each bad payload, by category: the field the refusal names.
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
