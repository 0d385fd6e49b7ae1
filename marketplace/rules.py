"""Eligibility: one rule set, as data, for both directions (a firm's eligible products and a
product's eligible firms).

A product states its conditions as data (``min_grade``, ``segments``, ``provinces``,
``min_years_in_business`` and ``requirements``: ``min_tax_grade``, ``no_dishonest``,
``max_queries_3m``); :data:`RULES` says how each is checked against a firm's facts and how a
failure reads ("要求 AA 及以上，当前 A").  A rule the product does not use is not applicable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.archive.models import SEGMENT_LABELS, Segment
from app.archive.regions import PROVINCES
from app.scoring.scorecard import GRADES

TAX_GRADE_ORDER = ("A", "B", "M", "C", "D")  # M: new taxpayers, between B and C


@dataclass(frozen=True)
class FirmFacts:
    """What eligibility looks at, read once per firm."""

    enterprise_id: int
    uscc: str
    name: str
    segment: str
    province_code: str
    founded_on: dt.date | None
    grade: str | None
    score: Decimal | None
    tax_grade: str | None  # the latest year's
    dishonest: bool  # a live 失信被执行人 record
    queries_3m: int  # report queries by institutions in the last 3 months


@dataclass(frozen=True)
class Outcome:
    rule: str
    label: str
    ok: bool
    reason: str


@dataclass(frozen=True)
class Rule:
    key: str
    label: str
    # (product conditions, firm facts, today) -> None when the product does not use the rule,
    # else (ok, reason)
    check: Callable[[Any, FirmFacts, dt.date], tuple[bool, str] | None]


def _years(founded: dt.date | None, today: dt.date) -> int | None:
    if founded is None:
        return None
    return today.year - founded.year - ((today.month, today.day) < (founded.month, founded.day))


def _grade(p: Any, f: FirmFacts, _: dt.date) -> tuple[bool, str]:
    need = p.min_grade
    if f.grade is None:
        return False, f"要求信用等级 {need} 及以上，当前尚未评价"
    ok = GRADES.index(f.grade) <= GRADES.index(need)
    return ok, f"要求信用等级 {need} 及以上，当前 {f.grade}"


def _segment(p: Any, f: FirmFacts, _: dt.date) -> tuple[bool, str] | None:
    if not p.segments:
        return None
    names = "、".join(SEGMENT_LABELS.get(Segment(s), s) for s in p.segments)
    return f.segment in p.segments, f"限{names}领域，当前 {SEGMENT_LABELS.get(Segment(f.segment), f.segment)}"


def _province(p: Any, f: FirmFacts, _: dt.date) -> tuple[bool, str] | None:
    if not p.provinces:
        return None
    names = "、".join(PROVINCES.get(c, c) for c in p.provinces)
    return f.province_code in p.provinces, f"限{names}，当前 {PROVINCES.get(f.province_code, f.province_code)}"


def _years_in_business(p: Any, f: FirmFacts, today: dt.date) -> tuple[bool, str] | None:
    need = p.min_years_in_business or 0
    if need <= 0:
        return None
    years = _years(f.founded_on, today)
    if years is None:
        return False, f"要求成立满 {need} 年，成立日期未知"
    return years >= need, f"要求成立满 {need} 年，当前 {years} 年"


def _tax(p: Any, f: FirmFacts, _: dt.date) -> tuple[bool, str] | None:
    need = (p.requirements or {}).get("min_tax_grade")
    if not need:
        return None
    if f.tax_grade is None:
        return False, f"要求纳税信用 {need} 级及以上，当前无纳税信用记录"
    ok = TAX_GRADE_ORDER.index(f.tax_grade) <= TAX_GRADE_ORDER.index(need)
    return ok, f"要求纳税信用 {need} 级及以上，当前 {f.tax_grade} 级"


def _dishonest(p: Any, f: FirmFacts, _: dt.date) -> tuple[bool, str] | None:
    if not (p.requirements or {}).get("no_dishonest"):
        return None
    return not f.dishonest, "要求无失信被执行人记录" + ("，当前有" if f.dishonest else "")


def _queries(p: Any, f: FirmFacts, _: dt.date) -> tuple[bool, str] | None:
    cap = (p.requirements or {}).get("max_queries_3m")
    if cap is None:
        return None
    return f.queries_3m <= cap, f"要求近 3 个月被机构查询不超过 {cap} 次，当前 {f.queries_3m} 次"


RULES: tuple[Rule, ...] = (
    Rule("min_grade", "信用等级", _grade),
    Rule("segment", "所属领域", _segment),
    Rule("province", "所在地区", _province),
    Rule("min_years_in_business", "经营年限", _years_in_business),
    Rule("min_tax_grade", "纳税信用", _tax),
    Rule("no_dishonest", "失信记录", _dishonest),
    Rule("max_queries_3m", "近期查询次数", _queries),
)
REQUIREMENT_KEYS = ("min_tax_grade", "no_dishonest", "max_queries_3m")


def assess(product: Any, firm: FirmFacts, today: dt.date) -> list[Outcome]:
    """Every applicable rule's outcome for this product and firm."""
    out = []
    for rule in RULES:
        result = rule.check(product, firm, today)
        if result is not None:
            out.append(Outcome(rule.key, rule.label, result[0], result[1]))
    return out


def eligible(outcomes: list[Outcome]) -> bool:
    return all(o.ok for o in outcomes)
