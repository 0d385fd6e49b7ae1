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
from app.scoring.scorecard import ENTERPRISE_MEASURES, NOT_RATED, Cap, Factor, Scorecard

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
    registered_capital: Decimal | None  # yuan, subscribed (认缴)
    paid_in_capital: Decimal | None = None  # yuan, where known
    # the record categories some source covers for this firm (scorecards with an evidence
    # rule); None: coverage not known, every factor counts (power-v1)
    covered: frozenset[str] | None = None


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
    known: bool = True  # False: no source covers it (counts for nothing under an evidence rule)


@dataclass
class Outcome:
    score: float | None  # None: not rated (NR)
    grade: str
    uncapped_grade: str | None
    supervision_class: str | None
    dimensions: dict[str, float | None]
    factors: list[FactorResult]
    caps: list[dict[str, Any]]
    digest: str
    coverage: float | None = None  # share of the scorecard's weight whose factors are known
    evidence: dict[str, Any] | None = None  # the evidence rule's figures and, for NR, the reason

    def explanation(self) -> dict[str, Any]:
        out: dict[str, Any] = {"factors": [vars(f) for f in self.factors], "caps": self.caps}
        if self.evidence is not None:
            out["evidence"] = self.evidence
        return out


def _years(later: dt.date, earlier: dt.date) -> float:
    return (later - earlier).days / 365.25


def _allowed(value: Any, allowed: tuple[Any, ...]) -> bool:
    """A payload value among the allowed ones; a list value (penalty types) when any is."""
    if isinstance(value, list):
        return any(v in allowed for v in value)
    return value in allowed


def _matches(rec: RecordFact, categories: tuple[str, ...], where: Mapping[str, tuple[Any, ...]]) -> bool:
    if rec.category not in categories:
        return False
    return all(_allowed(rec.payload.get(k), allowed) for k, allowed in where.items())


def _date(value: Any) -> dt.date | None:
    """A payload date (YYYY-MM-DD) or month (YYYY-MM, its first day)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    text = str(value)
    return dt.date.fromisoformat(text + "-01" if len(text) == 7 else text[:10])


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def known_by(rec: RecordFact, as_of: dt.date) -> bool:
    """Whether the record's status was known on ``as_of``: a status reported as of a later
    数据日期 (``reported_on``) was not."""
    reported = rec.payload.get("reported_on")
    return reported is None or (_date(reported) or as_of) <= as_of


MISSED = float("inf")  # days late of a record never performed (arrears, breach, write-off)


def lateness(rec: RecordFact) -> tuple[float, float] | None:
    """(amount, days late) of a bill, contract or loan; ``MISSED`` for one never performed;
    None when it says nothing about timeliness (a disputed contract)."""
    p = rec.payload
    status = p.get("status")
    if rec.category == "utility":
        amount = _number(p.get("amount_due"))
        if status == "on_time":
            return amount, 0.0
        if status == "late":
            month, paid = _date(p.get("month")), _date(p.get("paid_on"))
            if month is None or paid is None:
                return amount, 1.0
            return amount, float(max(1, (paid - clock.month_end(month)).days))
        return max(amount, _number(p.get("arrears_amount"))), MISSED
    if rec.category == "contract":
        amount = _number(p.get("amount"))
        if status == "on_time":
            return amount, 0.0
        if status == "late":
            due, done = _date(p.get("due_on")), _date(p.get("fulfilled_on"))
            return amount, float(max(1, (done - due).days)) if due and done else 1.0
        if status == "breached":
            return amount, MISSED
        return None
    if rec.category == "loan":
        amount = _number(p.get("amount"))
        if status == "overdue":
            return amount, max(1.0, _number(p.get("overdue_days")))
        if status == "written_off":
            return amount, MISSED
        return amount, 0.0
    return None


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


def _consumption_trend(records: list[RecordFact], as_of: dt.date, min_months: int = 0) -> float | None:
    """Last 12 months' consumption against the 12 before, in %, when both years have data
    (bills for at least ``min_months`` months in each)."""
    recent_start, prior_start = clock.add_years(as_of, -1), clock.add_years(as_of, -2)
    if min_months:
        recent_months = {r.payload.get("month") for r in records if r.occurred_on > recent_start}
        prior_months = {r.payload.get("month") for r in records if prior_start < r.occurred_on <= recent_start}
        if len(recent_months) < min_months or len(prior_months) < min_months:
            return None
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
    if factor.measure == "paid_in_capital":
        if firm.paid_in_capital is not None:
            return float(firm.paid_in_capital / 10_000), []
        if firm.registered_capital is not None and factor.subscribed_ratio is not None:
            return round(float(firm.registered_capital / 10_000) * factor.subscribed_ratio, 4), []
        return None, []
    where = factor.where
    if factor.valid_on_day:  # in force on the day, however long ago it was granted
        used = [r for r in records if r.occurred_on <= as_of
                and (not where or all(_allowed(r.payload.get(k), allowed) for k, allowed in where.items()))
                and (_date(r.payload.get("valid_from")) or r.occurred_on) <= as_of
                and (_date(r.payload.get("valid_to")) or as_of) >= as_of]
    else:
        start = _start(as_of, factor.lookback_years)
        used = [r for r in records if start < r.occurred_on <= as_of
                and (not where or all(_allowed(r.payload.get(k), allowed) for k, allowed in where.items()))]
    if factor.measure == "consumption_trend":
        return _consumption_trend(used, as_of, factor.min_months), used
    if factor.measure == "latest_value":
        if not used:
            return None, []
        latest = max(used, key=lambda r: (r.occurred_on, r.id))
        value = latest.payload.get(factor.field or "")
        return (str(value) if value is not None else None), [latest]
    if factor.measure == "count":
        if factor.distinct_by:  # one text and version once, whatever channel it came by
            once: dict[tuple[Any, ...], RecordFact] = {}
            for r in sorted(used, key=lambda r: (r.occurred_on, r.id)):
                once[tuple(str(r.payload.get(k)) for k in factor.distinct_by)] = r
            used = sorted(once.values(), key=lambda r: r.id)
        if factor.weight_field:
            table, default = factor.weight_map, factor.weight_default
            return round(sum(table.get(str(r.payload.get(factor.weight_field)), default) * _weight(r, factor, as_of)
                             for r in used), 4), used
        return round(sum(_weight(r, factor, as_of) for r in used), 4), used
    if factor.measure == "timeliness":
        total = missed = 0.0
        rated = []
        for r in used:
            late = lateness(r)
            if late is None:
                continue
            weight = max(late[0], 1.0) * _weight(r, factor, as_of)  # by amount (at least 1 yuan)
            total += weight
            missed += weight * min(1.0, late[1] / factor.full_penalty_days)
            rated.append(r)
        return (round(1 - missed / total, 4) if total else None), rated
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
    if cap.min_streak:
        pool = sorted(pool, key=lambda r: (r.occurred_on, r.id), reverse=True)[: cap.min_streak]
        if len(pool) < cap.min_streak:
            return None
    hits = [r for r in pool if _matches(r, cap.categories, cap.where)
            and (cap.min_severity is None or r.severity >= cap.min_severity)
            and all(_number(r.payload.get(k)) >= v for k, v in cap.at_least.items())
            and all(r.payload.get(k) in (None, "") for k in cap.absent)]
    if cap.min_streak and len(hits) < cap.min_streak:
        return None
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
                     str(firm.registered_capital) if firm.registered_capital is not None else None]
            # power-v1's digests stay as they were: these count only when known
            + ([str(firm.paid_in_capital)] if firm.paid_in_capital is not None else [])
            + ([sorted(firm.covered)] if firm.covered is not None else []),
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
    if card.evidence is not None:
        live = [r for r in live if "reported_on" not in r.payload or known_by(r, as_of)]
    by_category: dict[str, list[RecordFact]] = {}
    for r in live:
        by_category.setdefault(r.category, []).append(r)
    if card.evidence is not None:
        return _evaluate_with_coverage(card, firm, live, by_category, lists, as_of)
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
    dimensions: dict[str, float | None] = {d: round(v, 2) for d, v in dims.items()}
    score = round(sum(card.dimension_weights[d] * v for d, v in dims.items()), 2)
    uncapped = grade = card.grade_for(score)
    caps = _caps(card, by_category, lists, as_of)
    for cap in caps:
        grade = card.worse(grade, cap["max_grade"])
    return Outcome(
        score=score, grade=grade, uncapped_grade=uncapped, supervision_class=card.supervision[grade],
        dimensions=dimensions, factors=factors, caps=caps,
        digest=inputs_digest(card, firm, live, lists, as_of),
    )


def _caps(card: Scorecard, by_category: dict[str, list[RecordFact]], lists: set[str],
          as_of: dt.date) -> list[dict[str, Any]]:
    caps = []
    for cap in card.caps:
        hits = _cap_hits(cap, [r for c in cap.categories for r in by_category.get(c, ())], lists, as_of)
        if hits is not None:
            caps.append({"key": cap.key, "label": cap.label, "max_grade": cap.max_grade,
                         "record_ids": sorted(r.id for r in hits)})
    return caps


def history_months(live: list[RecordFact], as_of: dt.date) -> int:
    """Whole months from the firm's earliest record to ``as_of`` (0 with no record)."""
    if not live:
        return 0
    first = min(r.occurred_on for r in live)
    return max(0, (as_of.year - first.year) * 12 + as_of.month - first.month - (as_of.day < first.day))


def _evaluate_with_coverage(card: Scorecard, firm: FirmFact, live: list[RecordFact],
                            by_category: dict[str, list[RecordFact]], lists: set[str],
                            as_of: dt.date) -> Outcome:
    """Scorecards with an evidence rule (power-v2): a factor counts only when known (a
    source covers it and, for shares and latest values, there is something to measure);
    weights are renormalised over the known factors; too little evidence is NR unless a cap
    applies (a default is evidence enough)."""
    rule = card.evidence
    assert rule is not None
    covered = firm.covered if firm.covered is not None else frozenset(by_category)
    factors: list[FactorResult] = []
    sums: dict[str, list[float]] = {d: [0.0, 0.0] for d in card.dimension_weights}  # points·w, w
    known_weight = total_weight = score_sum = 0.0
    for factor in card.factors:
        relevant = [r for c in factor.categories for r in by_category.get(c, ())]
        value, used = measure(factor, firm, relevant, as_of)
        if factor.measure in ENTERPRISE_MEASURES:
            known = value is not None
        else:
            known = value is not None and any(c in covered for c in factor.categories)
        points = factor.points_for(value) if known else 0.0
        weight = card.dimension_weights[factor.dimension] * factor.weight
        total_weight += weight
        if known:
            sums[factor.dimension][0] += factor.weight * points
            sums[factor.dimension][1] += factor.weight
            known_weight += weight
            score_sum += weight * points
        factors.append(FactorResult(
            key=factor.key, label=factor.label, dimension=factor.dimension, weight=factor.weight, value=value,
            points=points, reason=_reason(factor, value, points) if known else _unknown_reason(factor, covered),
            record_ids=sorted(r.id for r in used), disputed_ids=sorted(r.id for r in used if r.status == "disputed"),
            known=known,
        ))
    coverage = round(known_weight / total_weight, 4) if total_weight else 0.0
    known_count = sum(f.known for f in factors)
    months = history_months(live, as_of)
    shortfalls = []
    if known_count < rule.min_known_factors:
        shortfalls.append(f"可评因子 {known_count} 项，少于 {rule.min_known_factors} 项")
    if coverage < rule.min_coverage:
        shortfalls.append(f"数据覆盖 {coverage:.0%}，低于 {rule.min_coverage:.0%}")
    if months < rule.min_history_months:
        shortfalls.append(f"信用记录历史 {months} 个月，不足 {rule.min_history_months} 个月")
    caps = _caps(card, by_category, lists, as_of)
    evidence: dict[str, Any] = {"known_factors": known_count, "factors": len(factors), "coverage": coverage,
                                "history_months": months, "rule": vars(rule).copy()}
    digest = inputs_digest(card, firm, live, lists, as_of)
    if shortfalls and not caps:
        evidence["reason"] = "不予评级（信息不足）：" + "；".join(shortfalls)
        return Outcome(score=None, grade=NOT_RATED, uncapped_grade=None, supervision_class=None,
                       dimensions=dict.fromkeys(card.dimension_weights), factors=factors, caps=[], digest=digest,
                       coverage=coverage, evidence=evidence)
    if shortfalls:
        evidence["note"] = "信息不足（" + "；".join(shortfalls) + "），但封顶规则适用，按现有信息评级"
    score = round(score_sum / known_weight, 2) if known_weight else 0.0
    dimensions: dict[str, float | None] = {d: (round(p / w, 2) if w else None) for d, (p, w) in sums.items()}
    uncapped = grade = card.grade_for(score)
    for cap in caps:
        grade = card.worse(grade, cap["max_grade"])
    return Outcome(score=score, grade=grade, uncapped_grade=uncapped, supervision_class=card.supervision[grade],
                   dimensions=dimensions, factors=factors, caps=caps, digest=digest, coverage=coverage,
                   evidence=evidence)


def _unknown_reason(factor: Factor, covered: frozenset[str]) -> str:
    if factor.measure in ENTERPRISE_MEASURES:
        return f"{factor.reason}：登记信息中没有，不计入"
    if not any(c in covered for c in factor.categories):
        return f"{factor.reason}：没有覆盖该企业的数据来源，情况不明，不计入"
    return f"{factor.reason}：数据来源覆盖但无可评记录，不计入"


def _reason(factor: Factor, value: float | str | None, points: float) -> str:
    if value is None:
        return f"{factor.reason}：无相关数据，按缺省 {points:g} 分计"
    if isinstance(value, float):  # as people write numbers: 25.5, 2, 50,000 — not 25.5113, 2.0, 50000.0
        if factor.measure in ("good_share", "timeliness"):
            shown = f"{value:.0%}"
        elif value.is_integer():
            shown = f"{int(value):,}"
        else:
            shown = f"{value:,.1f}"
    else:
        shown = f"{value}"
    return f"{factor.reason}：{shown}，得 {points:g} 分"
