"""Eligibility: one rule set, as data, for both directions (a firm's eligible products and a
product's eligible firms).

A product states its conditions as data (``min_grade``, ``segments``, ``provinces``,
``min_years_in_business`` and ``requirements``: ``min_tax_grade``, ``no_dishonest``,
``max_queries_3m``); :data:`RULES` says how each is checked against a firm's facts and how a
failure reads ("要求 AA 及以上，当前 A").  A rule the product does not use is not applicable.  Each rule's test is separate from
its reason, so a list over many firms tests cheaply and words only what it shows.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from app.archive.models import SEGMENT_LABELS, Segment
from app.archive.regions import PROVINCES
from app.scoring.scorecard import GRADES, NOT_RATED

TAX_GRADE_ORDER = ("A", "B", "M", "C", "D")  # M: new taxpayers, between B and C


class FirmFacts(NamedTuple):
    """What eligibility looks at, read once per firm (a named tuple: a bank's list builds
    tens of thousands)."""

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
    queries_3m: int  # credit inquiries by institutions in the last 3 months (consent.models.CREDIT_INQUIRY_PURPOSES)


@dataclass(frozen=True)
class Outcome:
    rule: str
    label: str
    ok: bool
    reason: str


@dataclass(frozen=True)
class Rule:
    """One eligibility condition: whether a product uses it, the test (cheap: no text), the
    reason as the firm reads it, and which ``FirmFacts`` fields it needs (so a bulk loader
    reads only those)."""

    key: str
    label: str
    applies: Callable[[Any], bool]
    test: Callable[[Any, FirmFacts, dt.date], bool]
    reason: Callable[[Any, FirmFacts, dt.date], str]
    # The same condition as a SQL predicate over a firm's fact columns (``FactColumns``), so
    # a bank's list ranks and pages in the database; tests check both forms agree.
    where: Callable[[Any, Any, dt.date], Any]
    facts: frozenset[str] = frozenset()


def founded_by(today: dt.date, years: int) -> dt.date:
    """The latest founding date that makes ``years`` full years by ``today`` (a firm founded
    on 29 February counts its years on 28 February in other years, as :func:`_years` does)."""
    year = today.year - years
    day = today.day if not (today.month == 2 and today.day == 29 and not calendar.isleap(year)) else 28
    return dt.date(year, today.month, day)


def _years(founded: dt.date | None, today: dt.date) -> int | None:
    if founded is None:
        return None
    return today.year - founded.year - ((today.month, today.day) < (founded.month, founded.day))


def _req(p: Any, key: str) -> Any:
    return (p.requirements or {}).get(key)


def _segment_reason(p: Any, f: FirmFacts, _: dt.date) -> str:
    names = "、".join(SEGMENT_LABELS.get(Segment(s), s) for s in p.segments)
    return f"限{names}领域，当前 {SEGMENT_LABELS.get(Segment(f.segment), f.segment)}"


def _province_reason(p: Any, f: FirmFacts, _: dt.date) -> str:
    names = "、".join(PROVINCES.get(c, c) for c in p.provinces)
    return f"限{names}，当前 {PROVINCES.get(f.province_code, f.province_code)}"


def _years_test(p: Any, f: FirmFacts, today: dt.date) -> bool:
    years = _years(f.founded_on, today)
    return years is not None and years >= p.min_years_in_business


def _years_reason(p: Any, f: FirmFacts, today: dt.date) -> str:
    years = _years(f.founded_on, today)
    need = p.min_years_in_business
    return f"要求成立满 {need} 年，成立日期未知" if years is None else f"要求成立满 {need} 年，当前 {years} 年"


def _tax_test(p: Any, f: FirmFacts, _: dt.date) -> bool:
    return f.tax_grade is not None and TAX_GRADE_ORDER.index(f.tax_grade) <= TAX_GRADE_ORDER.index(
        _req(p, "min_tax_grade"))


def _tax_reason(p: Any, f: FirmFacts, _: dt.date) -> str:
    need = _req(p, "min_tax_grade")
    return f"要求纳税信用 {need} 级及以上，当前" + ("无纳税信用记录" if f.tax_grade is None else f" {f.tax_grade} 级")


RULES: tuple[Rule, ...] = (
    Rule("min_grade", "信用等级", lambda p: True,
         lambda p, f, _: f.grade in GRADES and GRADES.index(f.grade) <= GRADES.index(p.min_grade),
         lambda p, f, _: f"要求信用等级 {p.min_grade} 及以上，当前" + (
             "不予评级（信息不足）" if f.grade == NOT_RATED else f" {f.grade}" if f.grade else "尚未评价"),
         lambda p, c, _: c.grade.in_(GRADES[: GRADES.index(p.min_grade) + 1])),
    Rule("segment", "所属领域", lambda p: bool(p.segments), lambda p, f, _: f.segment in p.segments,
         _segment_reason, lambda p, c, _: c.segment.in_(p.segments)),
    Rule("province", "所在地区", lambda p: bool(p.provinces), lambda p, f, _: f.province_code in p.provinces,
         _province_reason, lambda p, c, _: c.province_code.in_(p.provinces)),
    Rule("min_years_in_business", "经营年限", lambda p: (p.min_years_in_business or 0) > 0, _years_test,
         _years_reason, lambda p, c, today: c.founded_on <= founded_by(today, p.min_years_in_business)),
    Rule("min_tax_grade", "纳税信用", lambda p: bool(_req(p, "min_tax_grade")), _tax_test, _tax_reason,
         lambda p, c, _: c.tax_grade.in_(TAX_GRADE_ORDER[: TAX_GRADE_ORDER.index(_req(p, "min_tax_grade")) + 1]),
         frozenset({"tax_grade"})),
    Rule("no_dishonest", "失信记录", lambda p: bool(_req(p, "no_dishonest")), lambda p, f, _: not f.dishonest,
         lambda p, f, _: "要求无失信被执行人记录" + ("，当前有" if f.dishonest else ""),
         lambda p, c, _: ~c.dishonest, frozenset({"dishonest"})),
    Rule("max_queries_3m", "近期查询次数", lambda p: _req(p, "max_queries_3m") is not None,
         lambda p, f, _: f.queries_3m <= _req(p, "max_queries_3m"),
         lambda p, f, _: f"要求近 3 个月被机构授信查询不超过 {_req(p, 'max_queries_3m')} 次，当前 {f.queries_3m} 次",
         lambda p, c, _: c.queries_3m <= _req(p, "max_queries_3m"), frozenset({"queries_3m"})),
)
REQUIREMENT_KEYS = ("min_tax_grade", "no_dishonest", "max_queries_3m")
EXTRA_FACTS = frozenset({"tax_grade", "dishonest", "queries_3m"})  # read from records and the query log


def applicable(product: Any) -> tuple[Rule, ...]:
    """The rules a product uses (work it out once per product, not once per firm)."""
    return tuple(rule for rule in RULES if rule.applies(product))


def facts_needed(rules: tuple[Rule, ...]) -> frozenset[str]:
    return frozenset().union(*(rule.facts for rule in rules))


def failures(product: Any, rules: tuple[Rule, ...], firm: FirmFacts, today: dt.date, stop_after: int = 99) -> int:
    """How many of ``rules`` the firm fails (counting stops past ``stop_after``): no text is
    built, so a bank's list can test every candidate."""
    failed = 0
    for rule in rules:
        if not rule.test(product, firm, today):
            failed += 1
            if failed > stop_after:
                break
    return failed


def assess(product: Any, firm: FirmFacts, today: dt.date, rules: tuple[Rule, ...] | None = None) -> list[Outcome]:
    """Every applicable rule's outcome for this product and firm, with its reason."""
    return [Outcome(rule.key, rule.label, rule.test(product, firm, today), rule.reason(product, firm, today))
            for rule in (applicable(product) if rules is None else rules)]


def eligible(outcomes: list[Outcome]) -> bool:
    return all(o.ok for o in outcomes)
