"""The evaluation itself, as a pure function: a scorecard, one firm's facts and records, the
lists it is on and a date in; score, grade, dimensions and a factor-by-factor explanation
out.  No database: the service loads records in bulk and calls this, the benchmark calls it
directly, and the same inputs always give the same result (the digest says which inputs).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

from app.core import clock
from app.scoring.scorecard import Cap, Factor, Scorecard

LIVE = ("active", "corrected", "disputed")  # expired and revoked records never count
SEVERITY_WEIGHT = {0: 0.0, 1: 1.0, 2: 2.0, 3: 4.0}  # 轻微 / 一般 / 严重


class RecordFact(NamedTuple):
    """One live record as the engine sees it (a tuple: cheap to build by the hundred thousand)."""

    id: int
    category: str
    polarity: str
    severity: int
    occurred_on: dt.date
    status: str
    payload: Mapping[str, Any]  # only what the scorecard reads (may be empty)
    digest: str = ""  # the record's content digest (over its full payload)


class FirmFact(NamedTuple):
    founded_on: dt.date | None
    registered_capital: Decimal | None  # yuan


@dataclass
class FactorResult:
    key: str
    label: str
    dimension: str
    weight: float
    value: float | str | None
    points: float
    reason: str
    record_ids: list[int] = field(default_factory=list)
    disputed_ids: list[int] = field(default_factory=list)


@dataclass
class Outcome:
    score: float
    grade: str
    uncapped_grade: str
    supervision_class: str
    dimensions: dict[str, float]
    factors: list[FactorResult]
    caps: list[dict[str, Any]]
    digest: str

    def explanation(self) -> dict[str, Any]:
        return {
            "factors": [vars(f) for f in self.factors],
            "caps": self.caps,
        }


def _years(later: dt.date, earlier: dt.date) -> float:
    return (later - earlier).days / 365.25


def _matches(rec: RecordFact, categories: tuple[str, ...], where: Mapping[str, tuple[Any, ...]]) -> bool:
    if rec.category not in categories:
        return False
    return all(rec.payload.get(k) in allowed for k, allowed in where.items())


@lru_cache(maxsize=256)
def _start(as_of: dt.date, years: int) -> dt.date:
    return clock.add_years(as_of, -years)


def _window(factor_years: int, records: Iterable[RecordFact], as_of: dt.date) -> list[RecordFact]:
    start = _start(as_of, factor_years)
    return [r for r in records if start < r.occurred_on <= as_of]


def _weight(rec: RecordFact, factor: Factor, as_of: dt.date) -> float:
    if not factor.half_life_years:
        return 1.0
    return float(0.5 ** (_years(as_of, rec.occurred_on) / factor.half_life_years))


def _consumption_trend(records: list[RecordFact], as_of: dt.date) -> float | None:
    """Last 12 months' consumption against the 12 before, in %, when both years have data."""
    recent_start, prior_start = clock.add_years(as_of, -1), clock.add_years(as_of, -2)
    recent = sum(float(r.payload.get("consumption_kwh", 0)) for r in records if r.occurred_on > recent_start)
    prior = sum(float(r.payload.get("consumption_kwh", 0))
                for r in records if prior_start < r.occurred_on <= recent_start)
    if recent <= 0 or prior <= 0:
        return None
    return round((recent - prior) / prior * 100, 4)


def measure(factor: Factor, firm: FirmFact, records: list[RecordFact],
            as_of: dt.date) -> tuple[float | str | None, list[RecordFact]]:
    """The factor's measured value and the records that produced it."""
    if factor.measure == "years_in_business":
        return (round(_years(as_of, firm.founded_on), 4) if firm.founded_on else None), []
    if factor.measure == "registered_capital":
        return (float(firm.registered_capital / 10_000) if firm.registered_capital is not None else None), []
    start = _start(as_of, factor.lookback_years)
    where = factor.where
    used = [r for r in records if start < r.occurred_on <= as_of
            and (not where or all(r.payload.get(k) in allowed for k, allowed in where.items()))]
    if factor.measure == "consumption_trend":
        return _consumption_trend(used, as_of), used
    if factor.measure == "latest_value":
        if not used:
            return None, []
        latest = max(used, key=lambda r: (r.occurred_on, r.id))
        value = latest.payload.get(factor.field or "")
        return (str(value) if value is not None else None), [latest]
    if factor.measure == "count":
        return round(sum(_weight(r, factor, as_of) for r in used), 4), used
    if factor.measure == "bad_weight":
        bad = [r for r in used if r.polarity == "bad"]
        return round(sum(SEVERITY_WEIGHT[r.severity] * _weight(r, factor, as_of) for r in bad), 4), bad
    # good_share: good against good + bad, neutral records left out
    rated = [r for r in used if r.polarity in ("good", "bad")]
    if not rated:
        return None, []
    total = sum(_weight(r, factor, as_of) for r in rated)
    good = sum(_weight(r, factor, as_of) for r in rated if r.polarity == "good")
    return round(good / total, 4), rated


def _cap_hits(cap: Cap, records: list[RecordFact], lists: set[str], as_of: dt.date) -> list[RecordFact] | None:
    """The records that trigger the cap ([] for a list membership), or None."""
    if cap.on_list:
        return [] if cap.on_list in lists else None
    pool = [r for r in records if r.category in cap.categories]
    if cap.latest_only:
        if not pool:
            return None
        pool = [max(pool, key=lambda r: (r.occurred_on, r.id))]
    if cap.within_years:
        pool = _window(cap.within_years, pool, as_of)
    hits = [r for r in pool if _matches(r, cap.categories, cap.where)
            and (cap.min_severity is None or r.severity >= cap.min_severity)]
    return hits or None


def _payload_digest(rec: RecordFact) -> str:
    text = json.dumps([rec.category, dict(rec.payload)], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def inputs_digest(card: Scorecard, firm: FirmFact, records: list[RecordFact], lists: set[str],
                  as_of: dt.date) -> str:
    canonical = json.dumps(
        {
            "scorecard": [card.id, card.version],
            "as_of": as_of.isoformat(),
            "firm": [firm.founded_on.isoformat() if firm.founded_on else None,
                     str(firm.registered_capital) if firm.registered_capital is not None else None],
            "lists": sorted(lists),
            "records": sorted(
                f"{r.id}:{r.digest or _payload_digest(r)}:{r.status}:{r.polarity}:{r.severity}:{r.occurred_on}"
                for r in records
            ),
        },
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def evaluate_facts(card: Scorecard, firm: FirmFact, records: Iterable[RecordFact], lists: set[str],
                   as_of: dt.date) -> Outcome:
    live = [r for r in records if r.status in LIVE and r.occurred_on <= as_of]
    by_category: dict[str, list[RecordFact]] = {}
    for r in live:
        by_category.setdefault(r.category, []).append(r)
    factors: list[FactorResult] = []
    dims = dict.fromkeys(card.dimension_weights, 0.0)
    for factor in card.factors:
        relevant = [r for c in factor.categories for r in by_category.get(c, ())]
        value, used = measure(factor, firm, relevant, as_of)
        points = factor.points_for(value)
        dims[factor.dimension] += factor.weight * points
        factors.append(FactorResult(
            key=factor.key, label=factor.label, dimension=factor.dimension, weight=factor.weight, value=value,
            points=points, reason=_reason(factor, value, points),
            record_ids=sorted(r.id for r in used), disputed_ids=sorted(r.id for r in used if r.status == "disputed"),
        ))
    dimensions = {d: round(v, 2) for d, v in dims.items()}
    score = round(sum(card.dimension_weights[d] * v for d, v in dims.items()), 2)
    uncapped = grade = card.grade_for(score)
    caps = []
    for cap in card.caps:
        hits = _cap_hits(cap, [r for c in cap.categories for r in by_category.get(c, ())], lists, as_of)
        if hits is None:
            continue
        caps.append({"key": cap.key, "label": cap.label, "max_grade": cap.max_grade,
                     "record_ids": sorted(r.id for r in hits)})
        grade = card.worse(grade, cap.max_grade)
    return Outcome(
        score=score, grade=grade, uncapped_grade=uncapped, supervision_class=card.supervision[grade],
        dimensions=dimensions, factors=factors, caps=caps,
        digest=inputs_digest(card, firm, live, lists, as_of),
    )


def _reason(factor: Factor, value: float | str | None, points: float) -> str:
    if value is None:
        return f"{factor.reason}：无相关数据，按缺省 {points:g} 分计"
    if isinstance(value, float):  # as people write numbers: 25.5, 2, 50,000 — not 25.5113, 2.0, 50000.0
        if factor.measure == "good_share":
            shown = f"{value:.0%}"
        elif value.is_integer():
            shown = f"{int(value):,}"
        else:
            shown = f"{value:,.1f}"
    else:
        shown = f"{value}"
    return f"{factor.reason}：{shown}，得 {points:g} 分"
