"""The lists' entry criteria, as data (``app/oversight/data/lists-v*.json``), and how each
kind of criterion is checked against one firm's facts.

Kinds of criterion:

- ``records`` — live records of ``category`` whose payload matches ``where`` (a field's
  value in the list given, or ``"*"``: present), optionally within the last
  ``within_months`` (by when they occurred), with the numeric fields of ``at_least`` at
  least as given, at least ``min_count`` of them (default 1);
- ``latest`` — the firm's latest live record of ``category`` matches ``where``;
- ``grade_clean`` — the current grade is one of ``grades`` and no live negative record
  occurred in the last ``clean_years``;
- ``grade_drop`` — the current grade is at least ``steps`` grades below the best grade
  the firm had in the last ``within_months``.

A list's ``period_months`` (or, for a criterion, its own) is how long an entry lasts from
publication; ``repair_min_months`` is how long after publication a firm may apply for
credit repair (``null``: the list cannot be repaired — it is not a penalty).  Records or
evaluations that grounded an entry which ended by its period or by repair never ground a
new one.  A malformed file is refused naming the bad entry.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from app.archive.models import Category, Polarity
from app.core import clock
from app.scoring.scorecard import GRADES

DATA = Path(__file__).with_name("data")
DEFAULT_FILE = DATA / "lists-v1.json"
KINDS = ("records", "latest", "grade_clean", "grade_drop")
LIST_NAMES = ("red", "black", "watch")


class CriteriaError(ValueError):
    pass


class Rec(NamedTuple):
    """A live record as the criteria see it."""

    id: int
    category: str
    polarity: str
    occurred_on: dt.date
    payload: dict[str, Any]


@dataclass(frozen=True)
class FirmState:
    enterprise_id: int
    grade: str | None
    best_recent_grade: str | None  # the best grade within the grade-drop window
    evaluation_id: int | None
    records: list[Rec] = field(default_factory=list)


@dataclass(frozen=True)
class Criterion:
    key: str
    label: str
    kind: str
    category: str | None = None
    where: dict[str, Any] = field(default_factory=dict)
    at_least: dict[str, int] = field(default_factory=dict)
    within_months: int | None = None
    min_count: int = 1
    grades: tuple[str, ...] = ()
    clean_years: int = 3
    steps: int = 2
    period_months: int | None = None

    def _matches(self, rec: Rec) -> bool:
        if rec.category != self.category:
            return False
        for name, allowed in self.where.items():
            value = rec.payload.get(name)
            if allowed == "*":
                if value in (None, "", False):
                    return False
            elif value not in allowed:
                return False
        for name, minimum in self.at_least.items():
            value = rec.payload.get(name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < minimum:
                return False
        return True

    def basis(self, firm: FirmState, as_of: dt.date, consumed: set[tuple[str, int]]) -> dict[str, Any] | None:
        """What meets this criterion for the firm (records / evaluations), or ``None``."""
        if self.kind == "records":
            since = clock.add_months(as_of, -self.within_months) if self.within_months else None
            hits = [r for r in firm.records if self._matches(r) and (since is None or r.occurred_on > since)
                    and ("record", r.id) not in consumed]
            if len(hits) < self.min_count:
                return None
            return {"criterion": self.key, "label": self.label, "records": sorted(r.id for r in hits)}
        if self.kind == "latest":
            of_category = [r for r in firm.records if r.category == self.category]
            if not of_category:
                return None
            latest = max(of_category, key=lambda r: (r.occurred_on, r.id))
            if not self._matches(latest) or ("record", latest.id) in consumed:
                return None
            return {"criterion": self.key, "label": self.label, "records": [latest.id]}
        if self.kind == "grade_clean":
            if firm.grade not in self.grades or firm.evaluation_id is None:
                return None
            since = clock.add_months(as_of, -12 * self.clean_years)
            if any(r.polarity == Polarity.bad and r.occurred_on > since for r in firm.records):
                return None
            return {"criterion": self.key, "label": self.label, "evaluations": [firm.evaluation_id]}
        # grade_drop
        if firm.grade not in GRADES or firm.best_recent_grade not in GRADES or firm.evaluation_id is None:
            return None
        if GRADES.index(firm.grade) - GRADES.index(firm.best_recent_grade) < self.steps:
            return None
        if ("evaluation", firm.evaluation_id) in consumed:
            return None
        return {"criterion": self.key, "label": f"{self.label}（{firm.best_recent_grade} → {firm.grade}）",
                "evaluations": [firm.evaluation_id]}


@dataclass(frozen=True)
class ListRule:
    name: str
    label: str
    criteria: tuple[Criterion, ...]
    period_months: int | None
    repair_min_months: int | None

    def basis(self, firm: FirmState, as_of: dt.date, consumed: set[tuple[str, int]]) -> list[dict[str, Any]]:
        return [b for c in self.criteria if (b := c.basis(firm, as_of, consumed)) is not None]

    def ends_on(self, published_on: dt.date, basis: list[dict[str, Any]]) -> dt.date | None:
        """A fixed period from publication: the longest of the criteria met (or the list's)."""
        by_key = {c.key: c for c in self.criteria}
        months = [m for b in basis if b["criterion"] in by_key
                  if (m := by_key[b["criterion"]].period_months or self.period_months)]
        return clock.add_months(published_on, max(months)) if months else None


@dataclass(frozen=True)
class Criteria:
    version: str
    lists: dict[str, ListRule]

    def categories(self) -> set[str]:
        return {c.category for rule in self.lists.values() for c in rule.criteria if c.category}

    def clean_years(self) -> int:
        years = [c.clean_years for rule in self.lists.values() for c in rule.criteria if c.kind == "grade_clean"]
        return max(years, default=0)

    def drop_months(self) -> int:
        months = [c.within_months or 12 for rule in self.lists.values() for c in rule.criteria
                  if c.kind == "grade_drop"]
        return max(months, default=0)


def _int(value: Any, where: str, minimum: int = 0, allow_none: bool = True) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise CriteriaError(f"{where} 应为不小于 {minimum} 的整数")
    return value


def _criterion(raw: Any, where: str) -> Criterion:
    if not isinstance(raw, dict):
        raise CriteriaError(f"{where} 应为对象")
    known = {"key", "label", "kind", "category", "where", "at_least", "within_months", "min_count", "grades", "clean_years",
             "steps", "period_months"}
    unknown = set(raw) - known
    if unknown:
        raise CriteriaError(f"{where} 有未知字段：{', '.join(sorted(unknown))}")
    key, label, kind = raw.get("key"), raw.get("label"), raw.get("kind")
    if not isinstance(key, str) or not key:
        raise CriteriaError(f"{where}.key 缺失")
    if not isinstance(label, str) or not label:
        raise CriteriaError(f"{where}.label 缺失")
    if kind not in KINDS:
        raise CriteriaError(f"{where}.kind 应为 {'、'.join(KINDS)} 之一")
    category = raw.get("category")
    if kind in ("records", "latest"):
        if category not in set(Category):
            raise CriteriaError(f"{where}.category 不是已知的记录类别：{category}")
        cond = raw.get("where", {})
        if not isinstance(cond, dict) or not all(v == "*" or isinstance(v, list) for v in cond.values()):
            raise CriteriaError(f"{where}.where 应为 {{字段: [取值…] 或 \"*\"}}")
    at_least = raw.get("at_least", {})
    if not isinstance(at_least, dict) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                 for v in at_least.values()):
        raise CriteriaError(f"{where}.at_least 应为 {{字段: 最小值}}")
    grades = tuple(raw.get("grades", ()))
    if any(g not in GRADES for g in grades):
        raise CriteriaError(f"{where}.grades 含未知等级")
    if kind == "grade_clean" and not grades:
        raise CriteriaError(f"{where}.grades 缺失")
    return Criterion(key=key, label=label, kind=kind, category=category, where=dict(raw.get("where", {})), at_least=dict(at_least),
                     within_months=_int(raw.get("within_months"), f"{where}.within_months", 1),
                     min_count=_int(raw.get("min_count", 1), f"{where}.min_count", 1) or 1,
                     grades=grades, clean_years=_int(raw.get("clean_years", 3), f"{where}.clean_years", 1) or 3,
                     steps=_int(raw.get("steps", 2), f"{where}.steps", 1) or 2,
                     period_months=_int(raw.get("period_months"), f"{where}.period_months", 1))


def parse_criteria(doc: Any) -> Criteria:
    if not isinstance(doc, dict) or not isinstance(doc.get("version"), str):
        raise CriteriaError("缺少 version")
    lists = doc.get("lists")
    if not isinstance(lists, dict) or set(lists) != set(LIST_NAMES):
        raise CriteriaError(f"lists 应恰好包含 {'、'.join(LIST_NAMES)}")
    out = {}
    for name, raw in lists.items():
        where = f"lists.{name}"
        if not isinstance(raw, dict) or not isinstance(raw.get("criteria"), list) or not raw["criteria"]:
            raise CriteriaError(f"{where}.criteria 应为非空列表")
        criteria = tuple(_criterion(c, f"{where}.criteria[{i}]") for i, c in enumerate(raw["criteria"]))
        keys = [c.key for c in criteria]
        if len(set(keys)) != len(keys):
            raise CriteriaError(f"{where}.criteria 的 key 重复")
        out[name] = ListRule(name=name, label=str(raw.get("label") or name), criteria=criteria,
                             period_months=_int(raw.get("period_months"), f"{where}.period_months", 1),
                             repair_min_months=_int(raw.get("repair_min_months"), f"{where}.repair_min_months", 0))
    return Criteria(version=doc["version"], lists=out)


def load_criteria_file(path: Path) -> Criteria:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CriteriaError(f"无法读取 {path}：{exc}") from exc
    return parse_criteria(doc)


@cache
def current_criteria() -> Criteria:
    return load_criteria_file(DEFAULT_FILE)
