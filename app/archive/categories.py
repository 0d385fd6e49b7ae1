"""Record categories: the payload schema of each and the rules that classify a payload.

A provider sends facts; the platform decides what they mean.  For every category the
payload schema is strict (unknown fields, wrong types, impossible dates and negative
amounts are refused) and ``classify`` derives polarity, severity (0 none, 1 轻微, 2 一般,
3 严重), the date the behaviour occurred and the date it ended, from the payload alone.
Negative records expire five years after the behaviour ended (征信业管理条例 art. 16).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.archive.models import Category, Polarity
from app.archive.uscc import check_uscc
from app.core import clock
from app.core.schemas_base import (
    Amount,
    Day,
    Flag,
    Int,
    Month,
    PastDate,
    StrictSchema,
    StrList,
    one_of,
    text,
)
from app.core.schemas_fast import FastLoader

RETENTION_YEARS = 5


@dataclass(frozen=True)
class Classification:
    polarity: Polarity
    severity: int
    occurred_on: dt.date
    ended_on: dt.date | None = None
    # Behaviour still going on (a judgment not yet performed, a loan still overdue, a bill
    # still unpaid): its 5-year retention counts from when it ends, so until a correction
    # gives that day it does not expire (征信业管理条例 art. 16).
    ongoing: bool = False


class UsccField(fields.String):
    """A 统一社会信用代码, checked in full (check characters included) and upper-cased.
    ``allow_legacy`` admits the allow-listed early pilot codes: for naming a firm already in
    the archive (some were imported with one), never for registering a new one."""

    def __init__(self, *, allow_legacy: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allow_legacy = allow_legacy

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        raw = super()._deserialize(value, attr, data, **kwargs)
        verdict = check_uscc(raw, allow_legacy=self.allow_legacy)
        if not verdict.ok:
            raise ValidationError(verdict.error or "统一社会信用代码无效。")
        return verdict.code


def _not_before(errors: dict[str, list[str]], data: dict[str, Any], later: str, earlier: str,
                labels: tuple[str, str]) -> None:
    if data.get(later) and data.get(earlier) and data[later] < data[earlier]:
        errors.setdefault(later, []).append(f"{labels[0]}不能早于{labels[1]}。")


def _raise(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


# --- tax 纳税信用 ----------------------------------------------------------------------
TAX_GRADES = ("A", "B", "M", "C", "D")


class TaxPayload(StrictSchema):
    year = Int(required=True, validate=validate.Range(min=2014, error="纳税信用评价始于 2014 年度。"))
    grade = fields.String(required=True, validate=one_of(TAX_GRADES))
    points = Int(validate=validate.Range(min=0, max=100, error="评价得分应为 0–100。"))
    arrears_amount = Amount(load_default=None)
    assessed_on = PastDate()

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        today = clock.today()
        latest = today.year - 1 if today.month >= 4 else today.year - 2
        if data["year"] > latest:
            errors["year"] = [f"{data['year']} 年度的纳税信用评价尚未发布（次年 4 月发布）。"]
        points, grade = data.get("points"), data["grade"]
        if points is not None:
            expected = "A" if points >= 90 else "B" if points >= 70 else "C" if points >= 40 else "D"
            # M (new firm or no income, >= 70) and a directly assigned D are allowed too.
            allowed = {expected} | ({"M"} if points >= 70 else set()) | {"D"}
            if grade not in allowed:
                errors["grade"] = [f"得分 {points} 对应的等级应为 {expected}，不应为 {grade}。"]
        if data.get("assessed_on") and data["assessed_on"].year <= data["year"]:
            errors["assessed_on"] = ["评价日期应在评价年度之后。"]
        _raise(errors)


def classify_tax(p: dict[str, Any]) -> Classification:
    grade = p["grade"]
    polarity = {"A": Polarity.good, "B": Polarity.good, "M": Polarity.neutral}.get(grade, Polarity.bad)
    severity = {"C": 2, "D": 3}.get(grade, 0)
    if p.get("arrears_amount"):
        polarity, severity = Polarity.bad, max(severity, 2)
    return Classification(polarity, severity, dt.date(p["year"], 12, 31))


# --- contract 合同履约 -------------------------------------------------------------------
CONTRACT_STATUSES = ("on_time", "late", "breached", "disputed")


class ContractPayload(StrictSchema):
    contract_no = text(64)
    counterparty_uscc = UsccField(required=True)
    counterparty_name = text(200, required=False)
    subject = text(200, required=False)
    amount = Amount(required=True, positive=True)
    signed_on = PastDate()
    due_on = Day(required=True)
    fulfilled_on = PastDate()
    status = fields.String(required=True, validate=one_of(CONTRACT_STATUSES))
    breach_amount = Amount()

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        _not_before(errors, data, "due_on", "signed_on", ("到期日", "签订日"))
        _not_before(errors, data, "fulfilled_on", "signed_on", ("履约日", "签订日"))
        status, due, done = data["status"], data["due_on"], data.get("fulfilled_on")
        if status in ("on_time", "late") and done is None:
            errors.setdefault("fulfilled_on", []).append("已履约的合同须提供履约日期。")
        elif status == "on_time" and done > due:
            errors.setdefault("status", []).append("履约日晚于到期日，应为 late。")
        elif status == "late" and done <= due:
            errors.setdefault("status", []).append("履约日不晚于到期日，应为 on_time。")
        if done is None and due > clock.today():
            errors.setdefault("due_on", []).append("未履约合同的到期日不能晚于今天。")
        _raise(errors)


def classify_contract(p: dict[str, Any]) -> Classification:
    status = p["status"]
    polarity = {"on_time": Polarity.good, "disputed": Polarity.neutral}.get(status, Polarity.bad)
    severity = {"late": 1, "breached": 3}.get(status, 0)
    occurred = p.get("fulfilled_on") or p["due_on"]
    return Classification(polarity, severity, occurred, p.get("fulfilled_on") or p["due_on"])


# --- quality 产品质量 --------------------------------------------------------------------
DEFECT_CLASSES = ("critical", "major", "minor")  # 致命 / 严重 / 一般


class QualityPayload(StrictSchema):
    product = text(200)
    batch_no = text(64, required=False)
    inspection_on = PastDate(required=True)
    inspector = text(200, required=False)
    result = fields.String(required=True, validate=one_of(("pass", "fail")))
    defect_class = fields.String(validate=one_of(DEFECT_CLASSES))
    recall = Flag(load_default=False)

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        if data["result"] == "fail" and not data.get("defect_class"):
            raise ValidationError({"defect_class": ["抽检不合格须注明缺陷等级。"]})
        if data["result"] == "pass" and (data.get("defect_class") or data.get("recall")):
            raise ValidationError({"result": ["合格产品不应有缺陷等级或召回。"]})


def classify_quality(p: dict[str, Any]) -> Classification:
    if p["result"] == "pass":
        return Classification(Polarity.good, 0, p["inspection_on"])
    severity = {"critical": 3, "major": 2, "minor": 1}[p["defect_class"]]
    if p.get("recall"):
        severity = 3
    return Classification(Polarity.bad, severity, p["inspection_on"])


# --- safety 安全生产 ---------------------------------------------------------------------
ACCIDENT_LEVELS = ("ordinary", "larger", "major", "extraordinary")  # 一般/较大/重大/特别重大
ACCIDENT_LEVEL_LABELS = {"ordinary": "一般", "larger": "较大", "major": "重大", "extraordinary": "特别重大"}
LICENCE_STATUSES = ("valid", "suspended", "revoked")


class SafetyPayload(StrictSchema):
    accident_on = PastDate(required=True)
    level = fields.String(required=True, validate=one_of(ACCIDENT_LEVELS))
    deaths = Int(load_default=0, validate=validate.Range(min=0, error="不能为负数。"))
    injuries = Int(load_default=0, validate=validate.Range(min=0, error="不能为负数。"))
    direct_loss = Amount()
    description = text(1000, required=False)
    licence_status = fields.String(load_default="valid", validate=one_of(LICENCE_STATUSES))
    closed_on = PastDate()

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        _not_before(errors, data, "closed_on", "accident_on", ("结案日期", "事故日期"))
        # 生产安全事故报告和调查处理条例 art. 3: deaths decide the level at its lower bound.
        deaths, level = data["deaths"], data["level"]
        minimum = "extraordinary" if deaths >= 30 else "major" if deaths >= 10 else "larger" if deaths >= 3 else "ordinary"
        if ACCIDENT_LEVELS.index(level) < ACCIDENT_LEVELS.index(minimum):
            errors.setdefault("level", []).append(
                f"死亡 {deaths} 人的事故至少为{ACCIDENT_LEVEL_LABELS[minimum]}事故。"
            )
        _raise(errors)


def classify_safety(p: dict[str, Any]) -> Classification:
    severity = {"ordinary": 1, "larger": 2, "major": 3, "extraordinary": 3}[p["level"]]
    if p.get("licence_status") == "revoked":
        severity = 3
    return Classification(Polarity.bad, severity, p["accident_on"], p.get("closed_on") or p["accident_on"])


# --- environment 环保 --------------------------------------------------------------------
ENV_RATINGS = ("green", "blue", "yellow", "red", "black")  # 环保诚信/良好/警示/不良/严重失信


class EnvironmentPayload(StrictSchema):
    event_on = PastDate(required=True)
    violation = text(500, required=False)
    penalty_amount = Amount()
    rating = fields.String(validate=one_of(ENV_RATINGS))
    authority = text(200, required=False)
    rectified_on = PastDate()

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        if not data.get("violation") and not data.get("rating"):
            errors["violation"] = ["须提供违法事实或环境信用评价等级之一。"]
        if data.get("penalty_amount") and not data.get("violation"):
            errors["penalty_amount"] = ["有罚款须同时说明违法事实。"]
        _not_before(errors, data, "rectified_on", "event_on", ("整改日期", "发生日期"))
        _raise(errors)


def classify_environment(p: dict[str, Any]) -> Classification:
    if p.get("violation"):
        severity = 3 if p.get("rating") == "black" else 2 if p.get("penalty_amount") else 1
        return Classification(Polarity.bad, severity, p["event_on"], p.get("rectified_on") or p["event_on"])
    rating = p["rating"]
    polarity = {"green": Polarity.good, "blue": Polarity.good, "yellow": Polarity.neutral}.get(rating, Polarity.bad)
    severity = {"red": 2, "black": 3}.get(rating, 0)
    return Classification(polarity, severity, p["event_on"])


# --- licence 行政许可 (双公示) ------------------------------------------------------------
LICENCE_CATEGORIES = ("general", "franchise", "recognition", "approval", "registration", "other")
# 普通 / 特许 / 认可 / 核准 / 登记 / 其他


class LicencePayload(StrictSchema):
    decision_doc_name = text(200)
    decision_doc_no = text(100)
    licence_category = fields.String(required=True, validate=one_of(LICENCE_CATEGORIES))
    certificate_name = text(200, required=False)
    certificate_no = text(100, required=False)
    content = text(2000)
    decided_on = PastDate(required=True)
    valid_from = Day(required=True)
    valid_to = Day()
    authority = text(200)
    authority_uscc = UsccField(required=True)
    status = fields.String(load_default="valid", validate=one_of(("valid", "invalid", "revoked")))
    data_source = text(200, required=False)

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        _not_before(errors, data, "valid_from", "decided_on", ("有效期自", "许可决定日期"))
        _not_before(errors, data, "valid_to", "valid_from", ("有效期至", "有效期自"))
        _raise(errors)


def classify_licence(p: dict[str, Any]) -> Classification:
    polarity = Polarity.good if p.get("status", "valid") == "valid" else Polarity.neutral
    return Classification(polarity, 0, p["decided_on"], p.get("valid_to"))


# --- penalty 行政处罚 (双公示) ------------------------------------------------------------
PENALTY_TYPES = (
    "warning", "fine", "confiscation", "suspension", "licence_suspension",
    "licence_revocation", "qualification_downgrade", "detention", "other",
)  # 警告/罚款/没收违法所得/责令停产停业/暂扣许可证/吊销许可证/降低资质等级/行政拘留/其他
SERIOUS_PENALTY_TYPES = {"suspension", "licence_revocation", "detention"}


class PenaltyPayload(StrictSchema):
    decision_no = text(100)
    violation_type = text(200)
    facts = text(2000)
    legal_basis = text(1000)
    penalty_types = StrList(fields.String(validate=one_of(PENALTY_TYPES)), required=True,
                            validate=validate.Length(min=1, error="至少一种处罚类别。"))
    content = text(2000)
    fine_amount = Amount(places=6)  # 万元
    confiscated_amount = Amount(places=6)  # 万元
    decided_on = PastDate(required=True)
    publish_until = Day(required=True)  # 公示截止期
    authority = text(200)
    authority_uscc = UsccField(required=True)
    serious = Flag(load_default=False)  # 严重失信行为
    data_source = text(200, required=False)

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        decided, until = data["decided_on"], data["publish_until"]
        # Publication periods: general penalties 3 months to 1 year, serious ones 1 to 3 years.
        serious = data.get("serious")
        if until <= decided:
            errors["publish_until"] = ["公示截止期应晚于处罚决定日期。"]
        elif until > clock.add_years(decided, 3):
            errors["publish_until"] = ["公示期最长 3 年。"]
        elif not serious and until > clock.add_years(decided, 1):
            errors["publish_until"] = ["一般行政处罚公示期最长 1 年（严重失信行为最长 3 年）。"]
        elif serious and until < clock.add_years(decided, 1):
            errors["publish_until"] = ["严重失信行为的行政处罚公示期最短 1 年。"]
        elif not serious and until < clock.add_months(decided, 3):
            errors["publish_until"] = ["一般行政处罚公示期最短 3 个月。"]
        if "fine" in data["penalty_types"] and not data.get("fine_amount"):
            errors["fine_amount"] = ["处罚类别含罚款，须填写罚款金额（万元）。"]
        if "confiscation" in data["penalty_types"] and not data.get("confiscated_amount"):
            errors["confiscated_amount"] = ["处罚类别含没收违法所得，须填写没收金额（万元）。"]
        _raise(errors)


def classify_penalty(p: dict[str, Any]) -> Classification:
    types = set(p["penalty_types"])
    if p.get("serious") or types & SERIOUS_PENALTY_TYPES:
        severity = 3
    elif types - {"warning"}:
        severity = 2
    else:
        severity = 1
    return Classification(Polarity.bad, severity, p["decided_on"], p["decided_on"])


# --- judicial 司法 -----------------------------------------------------------------------
CASE_NO = re.compile(r"^[（(]\d{4}[）)][\u4e00-\u9fa5]{1,2}\d{0,6}[\u4e00-\u9fa5]{1,4}\d{1,6}号$")
PERFORMANCE = ("none", "partial", "full")  # 全部未履行 / 部分未履行 / 全部履行
DISHONEST_TYPES = (
    "evade_enforcement", "false_litigation", "violate_property_report", "violate_consumption_limit",
    "refuse_with_ability", "obstruct_enforcement",
)  # 规避执行/虚假诉讼/违反财产报告制度/违反限制消费令/有履行能力而拒不履行/妨碍执行


class JudicialPayload(StrictSchema):
    case_no = fields.String(
        required=True, validate=validate.Regexp(CASE_NO, error="案号格式应如 (2019)皖1122执1194号。")
    )
    court = text(200)
    filed_on = PastDate(required=True)
    obligation = text(2000)
    performance = fields.String(required=True, validate=one_of(PERFORMANCE))
    dishonest_conduct = fields.String(validate=one_of(DISHONEST_TYPES))  # 失信被执行人 when set
    published_on = PastDate()
    performed_on = PastDate()
    amount = Amount()

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        _not_before(errors, data, "published_on", "filed_on", ("发布日期", "立案日期"))
        _not_before(errors, data, "performed_on", "filed_on", ("履行日期", "立案日期"))
        if data["performance"] == "full" and not data.get("performed_on"):
            errors.setdefault("performed_on", []).append("已全部履行须提供履行日期。")
        if data["performance"] != "full" and data.get("performed_on"):
            errors.setdefault("performed_on", []).append("未全部履行不应有履行完毕日期。")
        if data.get("dishonest_conduct") and not data.get("published_on"):
            errors.setdefault("published_on", []).append("失信被执行人须提供发布日期。")
        _raise(errors)


def classify_judicial(p: dict[str, Any]) -> Classification:
    if p["performance"] == "full" and not p.get("dishonest_conduct"):
        severity = 1
    else:
        severity = 3 if p.get("dishonest_conduct") else 2
    occurred = p.get("published_on") or p["filed_on"]
    return Classification(Polarity.bad, severity, occurred, p.get("performed_on"), ongoing=p["performance"] != "full")


# --- bidding 招投标 ----------------------------------------------------------------------
BID_RESULTS = ("won", "lost", "disqualified")
BID_VIOLATIONS = ("collusion", "fraud", "bribery", "bid_rigging", "other")  # 串标/弄虚作假/行贿/围标/其他


class BiddingPayload(StrictSchema):
    project = text(300)
    project_no = text(100, required=False)
    tenderer = text(200, required=False)
    bid_on = PastDate(required=True)
    result = fields.String(required=True, validate=one_of(BID_RESULTS))
    amount = Amount()
    violation = fields.String(validate=one_of(BID_VIOLATIONS))
    ban_until = Day()

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        if data.get("violation") and data["result"] == "won":
            errors["result"] = ["有违规行为的投标结果不应为中标。"]
        if data.get("ban_until") and not data.get("violation"):
            errors["ban_until"] = ["禁止投标期限须有对应的违规行为。"]
        _not_before(errors, data, "ban_until", "bid_on", ("禁投截止日", "投标日期"))
        _raise(errors)


def classify_bidding(p: dict[str, Any]) -> Classification:
    if p.get("violation"):
        return Classification(Polarity.bad, 3 if p.get("ban_until") else 2, p["bid_on"], p["bid_on"])
    polarity = Polarity.good if p["result"] == "won" else Polarity.neutral
    return Classification(polarity, 0, p["bid_on"])


# --- commitment 信用承诺 -----------------------------------------------------------------
class CommitmentPayload(StrictSchema):
    text_version = text(64)
    title = text(200, required=False)
    signed_on = PastDate(required=True)
    signatory = text(100, required=False)
    fulfilled = Flag(load_default=True)


def classify_commitment(p: dict[str, Any]) -> Classification:
    if not p.get("fulfilled", True):  # a commitment broken (违诺) is bad
        return Classification(Polarity.bad, 2, p["signed_on"], p["signed_on"])
    return Classification(Polarity.good, 0, p["signed_on"])


# --- loan 信贷 ---------------------------------------------------------------------------
LOAN_STATUSES = ("normal", "overdue", "written_off", "settled")


class LoanPayload(StrictSchema):
    lender = text(200)
    lender_uscc = UsccField()
    amount = Amount(required=True, positive=True)
    start_on = PastDate(required=True)
    end_on = Day(required=True)
    status = fields.String(required=True, validate=one_of(LOAN_STATUSES))
    overdue_days = Int(validate=validate.Range(min=1, error="逾期天数应大于 0。"))
    overdue_amount = Amount()
    settled_on = PastDate()
    written_off_on = PastDate()  # 核销日期
    # 数据日期: the day the status above is as of (a bank reports its loans monthly); a
    # default is known from the day it is reported, not from the loan's start
    reported_on = PastDate()

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        _not_before(errors, data, "end_on", "start_on", ("到期日", "发放日"))
        _not_before(errors, data, "settled_on", "start_on", ("结清日", "发放日"))
        if data["status"] == "overdue" and not data.get("overdue_days"):
            errors["overdue_days"] = ["逾期贷款须填写逾期天数。"]
        if data["status"] != "overdue" and data.get("overdue_days"):
            errors["overdue_days"] = ["非逾期贷款不应有逾期天数。"]
        if data["status"] == "settled" and not data.get("settled_on"):
            errors["settled_on"] = ["已结清贷款须填写结清日期。"]
        if data.get("written_off_on") and data["status"] != "written_off":
            errors["written_off_on"] = ["只有已核销贷款才有核销日期。"]
        _not_before(errors, data, "written_off_on", "start_on", ("核销日期", "发放日"))
        _not_before(errors, data, "reported_on", "start_on", ("数据日期", "发放日"))
        _raise(errors)


def classify_loan(p: dict[str, Any]) -> Classification:
    status = p["status"]
    if status == "overdue":
        severity = 3 if p["overdue_days"] > 90 else 2 if p["overdue_days"] > 30 else 1
        return Classification(Polarity.bad, severity, p["start_on"], None, ongoing=True)
    if status == "written_off":
        return Classification(Polarity.bad, 3, p["start_on"], p.get("settled_on"), ongoing=not p.get("settled_on"))
    return Classification(Polarity.good, 0, p["start_on"], p.get("settled_on"))


# --- honour 荣誉 -------------------------------------------------------------------------
class HonourPayload(StrictSchema):
    award = text(200)
    issuer = text(200)
    awarded_on = PastDate(required=True)
    level = fields.String(validate=one_of(("national", "provincial", "municipal", "industry")))


def classify_honour(p: dict[str, Any]) -> Classification:
    return Classification(Polarity.good, 0, p["awarded_on"])


# --- utility 电费 ------------------------------------------------------------------------
UTILITY_STATUSES = ("on_time", "late", "arrears")


class UtilityPayload(StrictSchema):
    account_no = text(64, required=False)
    month = Month(required=True)
    consumption_kwh = Amount(required=True, places=3)
    amount_due = Amount(required=True)
    status = fields.String(required=True, validate=one_of(UTILITY_STATUSES))
    paid_on = PastDate()
    arrears_amount = Amount()
    arrears_months = Int(validate=validate.Range(min=1, error="欠费月数应大于 0。"))

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        status = data["status"]
        if status in ("on_time", "late") and not data.get("paid_on"):
            errors["paid_on"] = ["已缴费须填写缴费日期。"]
        if data.get("paid_on") and data["paid_on"] < data["month"]:
            errors["paid_on"] = ["缴费日期不能早于计费月份。"]
        if status == "arrears" and not data.get("arrears_amount"):
            errors["arrears_amount"] = ["欠费须填写欠费金额。"]
        if status != "arrears" and (data.get("arrears_amount") or data.get("arrears_months")):
            errors["status"] = ["有欠费金额或欠费月数时状态应为 arrears。"]
        _raise(errors)


def classify_utility(p: dict[str, Any]) -> Classification:
    month = p["month"]
    month_end = month.replace(day=calendar.monthrange(month.year, month.month)[1])
    status = p["status"]
    paid_on = p.get("paid_on")
    # A bill is due from its month's end; one paid before that (within the month) happened
    # when it was paid.
    occurred = min(month_end, paid_on) if paid_on else month_end
    if status == "on_time":
        return Classification(Polarity.good, 0, occurred, paid_on)
    if status == "late":
        return Classification(Polarity.bad, 1, occurred, paid_on)
    months = p.get("arrears_months") or 1
    return Classification(Polarity.bad, 3 if months > 3 else 2, month_end, None, ongoing=True)


@dataclass(frozen=True)
class CategorySpec:
    category: Category
    schema: Schema
    classify: Callable[[dict[str, Any]], Classification]
    fast: FastLoader = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fast", FastLoader(self.schema))


CATEGORIES: dict[str, CategorySpec] = {
    spec.category.value: spec
    for spec in (
        CategorySpec(Category.tax, TaxPayload(), classify_tax),
        CategorySpec(Category.contract, ContractPayload(), classify_contract),
        CategorySpec(Category.quality, QualityPayload(), classify_quality),
        CategorySpec(Category.safety, SafetyPayload(), classify_safety),
        CategorySpec(Category.environment, EnvironmentPayload(), classify_environment),
        CategorySpec(Category.licence, LicencePayload(), classify_licence),
        CategorySpec(Category.penalty, PenaltyPayload(), classify_penalty),
        CategorySpec(Category.judicial, JudicialPayload(), classify_judicial),
        CategorySpec(Category.bidding, BiddingPayload(), classify_bidding),
        CategorySpec(Category.commitment, CommitmentPayload(), classify_commitment),
        CategorySpec(Category.loan, LoanPayload(), classify_loan),
        CategorySpec(Category.honour, HonourPayload(), classify_honour),
        CategorySpec(Category.utility, UtilityPayload(), classify_utility),
    )
}
