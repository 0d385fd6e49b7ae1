"""Back-testing a scorecard: its grades as of a past day against the defaults that followed.

The event a grade predicts is the scorecard's ``default_definition`` (a loan 90 days or more
past due, or written off, within 12 months).  Outcomes are read from the archive's loan
records (a provider's, or the marketplace's repayments turned into loan records).

At a day D with a horizon of h months, the sample is each firm's latest evaluation under the
scorecard's version with a base date on or before D; firms already in default on D are left
out (they were not performing when observed), and a firm *defaults* when its default date
falls in (D, D + h months].  From that sample: the default rate per grade (it should fall from
the worst grade to the best), AUC / Gini and KS of the score, a calibration table (observed
default rate against the default probability implied by a logistic regression of default on
the score), and the population stability (PSI) of the grade distribution between a base day
and D.  Not rated firms (NR) are counted on their own and left out of AUC, KS and calibration.

The statistics come from scikit-learn (imported when a report is made: it takes a second);
PSI is a one-line formula, written here.  Everything reads the clock through ``app.core.clock``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.archive.models import Category, CreditRecord, RecordStatus
from app.core import clock
from app.core.errors import InvalidInput
from app.scoring.models import Evaluation
from app.scoring.scorecard import (
    GRADES,
    NOT_RATED,
    DefaultDefinition,
    Scorecard,
    scorecard_by_version,
)

MAX_HORIZON_MONTHS = 60
# PSI: a bin empty on either day is floored at this share (ln 0 is undefined); the shares
# are not renormalised afterwards.
PSI_EPSILON = 0.0001
PSI_STABLE, PSI_SHIFT = 0.1, 0.25  # below 0.1 stable; 0.1 to 0.25 some shift; above, significant
PSI_BANDS = {"stable": "稳定", "some_shift": "略有变化", "significant_shift": "显著变化"}
ROC_POINTS = 200  # at most this many points of the ROC curve in a report (the chart's)


@dataclass(frozen=True)
class Observation:
    """One firm in the sample: its grade and score on the observation day, and whether it
    defaulted within the horizon."""

    enterprise_id: int
    grade: str
    score: float | None
    defaulted: bool


# --- outcomes -----------------------------------------------------------------------------------

def _day(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def loan_default_date(payload: Mapping[str, Any], definition: DefaultDefinition) -> dt.date | None:
    """The day a loan record shows the loan in default, or None.

    Written off (when the definition counts write-offs): its ``written_off_on``, else the
    day its status is as of (``reported_on``), else its ``end_on``.  Overdue by
    ``days_past_due`` days or more: the day it crossed that many days, i.e. the status day
    (``reported_on``, else ``end_on``) less the days beyond ``days_past_due``."""
    status = payload.get("status")
    as_of = _day(payload.get("reported_on")) or _day(payload.get("end_on"))
    if status == "written_off" and definition.written_off:
        return _day(payload.get("written_off_on")) or as_of
    if status == "overdue":
        days = payload.get("overdue_days")
        if isinstance(days, int) and days >= definition.days_past_due and as_of is not None:
            return as_of - dt.timedelta(days=days - definition.days_past_due)
    return None


def default_dates(loans: Iterable[tuple[int, Mapping[str, Any]]],
                  definition: DefaultDefinition) -> dict[int, dt.date]:
    """Each firm's default date: the earliest over its loan records (``(firm id, payload)``)."""
    earliest: dict[int, dt.date] = {}
    for ent_id, payload in loans:
        day = loan_default_date(payload, definition)
        if day is not None and (ent_id not in earliest or day < earliest[ent_id]):
            earliest[ent_id] = day
    return earliest


# --- the figures (pure) -------------------------------------------------------------------------

def _rate(defaults: int, count: int) -> float | None:
    return defaults / count if count else None


def grade_order(scale: Sequence[str], grades: Iterable[str]) -> list[str]:
    """The scale's grades, best first, then any other letter grade met in the data (in the
    nine-grade order); NR never."""
    extra = sorted({g for g in grades if g not in scale and g != NOT_RATED},
                   key=lambda g: GRADES.index(g) if g in GRADES else len(GRADES))
    return [*scale, *extra]


def grade_table(observations: Sequence[Observation], order: Sequence[str]) -> tuple[list[dict[str, Any]],
                                                                                    dict[str, Any]]:
    """Per grade (``order``, best first) the firms, defaults and default rate; and NR's."""
    counts = Counter(o.grade for o in observations)
    defaults = Counter(o.grade for o in observations if o.defaulted)
    rows = [{"grade": g, "count": counts[g], "defaults": defaults[g], "default_rate": _rate(defaults[g], counts[g])}
            for g in order]
    nr = {"grade": NOT_RATED, "count": counts[NOT_RATED], "defaults": defaults[NOT_RATED],
          "default_rate": _rate(defaults[NOT_RATED], counts[NOT_RATED])}
    return rows, nr


def monotonicity(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Whether the default rate falls (or stays level) from the worst grade to the best, over
    the grades with firms; each pair of neighbouring grades where the better one defaults
    more is a violation."""
    present = [r for r in rows if r["count"]]
    if len(present) < 2:
        return {"holds": None, "violations": [], "reason": "有企业的等级不足两个，无法判断违约率是否单调。"}
    violations = [
        {"better": a["grade"], "worse": b["grade"], "better_rate": a["default_rate"], "worse_rate": b["default_rate"]}
        for a, b in zip(present, present[1:], strict=False) if a["default_rate"] > b["default_rate"]
    ]
    return {"holds": not violations, "violations": violations, "reason": None}


def _one_class_reason(rated: Sequence[Observation]) -> str | None:
    if not rated:
        return "样本中没有已评级（非 NR）的企业。"
    defaults = sum(o.defaulted for o in rated)
    if defaults == 0:
        return "观察期内已评级企业没有违约（只有一类结果），无法计算。"
    if defaults == len(rated):
        return "观察期内已评级企业全部违约（只有一类结果），无法计算。"
    return None


def _thin(points: list[tuple[float, float]], most: int) -> list[tuple[float, float]]:
    if len(points) <= most:
        return points
    step = (len(points) - 1) / (most - 1)
    return [points[round(i * step)] for i in range(most)]


def discrimination(rated: Sequence[Observation]) -> dict[str, Any]:
    """AUC, Gini (2·AUC − 1) and KS (the largest gap between the cumulative shares of
    defaulters and of the others, max(TPR − FPR)) of the score, a higher score being safer;
    the ROC curve (false positive rate, true positive rate), thinned to ``ROC_POINTS``."""
    empty: dict[str, Any] = {"auc": None, "gini": None, "ks": None, "ks_score": None, "roc": [], "auc_grade": None}
    reason = _one_class_reason(rated)
    if reason:
        return {**empty, "reason": reason}
    import numpy as np
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.array([o.defaulted for o in rated], dtype=int)
    risk = -np.array([o.score for o in rated], dtype=float)  # higher score = safer
    auc = float(roc_auc_score(y, risk))
    fpr, tpr, thresholds = roc_curve(y, risk)
    gap = tpr - fpr
    at = int(np.argmax(gap))
    ks_score = -float(thresholds[at]) if np.isfinite(thresholds[at]) else None
    roc = _thin([(float(f), float(t)) for f, t in zip(fpr, tpr, strict=True)], ROC_POINTS)
    # The same over the grade a lender acts on (after the caps; ties within a grade): the
    # score is the one before the caps.
    rank = np.array([GRADES.index(o.grade) if o.grade in GRADES else len(GRADES) for o in rated], dtype=float)
    return {"auc": auc, "gini": 2 * auc - 1, "ks": float(gap[at]), "ks_score": ks_score,
            "roc": [{"fpr": f, "tpr": t} for f, t in roc], "reason": None,
            "auc_grade": float(roc_auc_score(y, rank))}


def calibration(rated: Sequence[Observation], order: Sequence[str]) -> dict[str, Any]:
    """Per grade the observed default rate and the implied default probability: the mean,
    over the grade's firms, of the PD a logistic regression of default on the score predicts
    (scikit-learn's default L2 penalty, C = 1, keeps the fit finite when the score separates
    the outcomes perfectly); and the Brier score (mean squared gap between PD and outcome)."""
    counts = Counter(o.grade for o in rated)
    defaults = Counter(o.grade for o in rated if o.defaulted)
    rows: list[dict[str, Any]] = [
        {"grade": g, "count": counts[g], "observed_rate": _rate(defaults[g], counts[g]), "implied_pd": None}
        for g in order
    ]
    reason = _one_class_reason(rated)
    if reason:
        return {"rows": rows, "brier": None, "intercept": None, "slope": None, "reason": reason}
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import brier_score_loss

    y = np.array([o.defaulted for o in rated], dtype=int)
    x = np.array([[o.score] for o in rated], dtype=float)
    model = LogisticRegression(max_iter=1000).fit(x, y)
    probs = model.predict_proba(x)[:, 1]
    by_grade: dict[str, list[float]] = {}
    for obs, p in zip(rated, probs, strict=True):
        by_grade.setdefault(obs.grade, []).append(float(p))
    for row in rows:
        pds = by_grade.get(row["grade"])
        row["implied_pd"] = sum(pds) / len(pds) if pds else None
    return {"rows": rows, "brier": float(brier_score_loss(y, probs)), "intercept": float(model.intercept_[0]),
            "slope": float(model.coef_[0][0]), "reason": None}


def psi_band(value: float) -> tuple[str, str]:
    """The usual reading of a PSI: below 0.1 stable, 0.1 to 0.25 some shift, above 0.25 a
    significant shift."""
    code = "stable" if value < PSI_STABLE else "some_shift" if value <= PSI_SHIFT else "significant_shift"
    return code, PSI_BANDS[code]


def population_stability(base: Mapping[str, int], current: Mapping[str, int], bins: Sequence[str],
                         epsilon: float = PSI_EPSILON) -> dict[str, Any]:
    """PSI = Σ (current share − base share) · ln(current share / base share) over ``bins``,
    a share of 0 floored at ``epsilon``."""
    base_total, current_total = sum(base.get(b, 0) for b in bins), sum(current.get(b, 0) for b in bins)
    rows: list[dict[str, Any]] = []
    for b in bins:
        e = base.get(b, 0) / base_total if base_total else 0.0
        a = current.get(b, 0) / current_total if current_total else 0.0
        fe, fa = max(e, epsilon), max(a, epsilon)
        term = (fa - fe) * math.log(fa / fe) if base_total and current_total else None
        rows.append({"grade": b, "base_count": base.get(b, 0), "base_share": e, "current_count": current.get(b, 0),
                     "current_share": a, "contribution": term})
    if not base_total or not current_total:
        which = "比较基准日" if not base_total else "验证基准日"
        return {"psi": None, "band": None, "band_label": None, "rows": rows, "base_firms": base_total,
                "current_firms": current_total, "reason": f"{which}没有该版本评分卡的评价，无法计算 PSI。"}
    value = sum(r["contribution"] for r in rows)
    code, label = psi_band(value)
    return {"psi": value, "band": code, "band_label": label, "rows": rows, "base_firms": base_total,
            "current_firms": current_total, "reason": None}


# --- reading the database -----------------------------------------------------------------------

def latest_evaluations(session: Session, card: Scorecard, day: dt.date) -> list[tuple[int, str, Decimal | None]]:
    """Each firm's latest evaluation under ``card`` with a base date on or before ``day``
    (the later evaluation of the two made on one base date): (firm id, grade, score)."""
    ranked = (
        sa.select(Evaluation.enterprise_id, Evaluation.grade, Evaluation.score,
                  sa.func.row_number().over(
                      partition_by=Evaluation.enterprise_id,
                      order_by=(Evaluation.as_of.desc(), Evaluation.evaluated_at.desc(), Evaluation.id.desc()),
                  ).label("rank"))
        .where(Evaluation.scorecard_id == card.id, Evaluation.scorecard_version == card.version,
               Evaluation.as_of <= day)
        .subquery()
    )
    rows = session.execute(sa.select(ranked.c.enterprise_id, ranked.c.grade, ranked.c.score)
                           .where(ranked.c.rank == 1).order_by(ranked.c.enterprise_id))
    return [(ent_id, str(grade), score) for ent_id, grade, score in rows]


def firm_default_dates(session: Session, card: Scorecard, day: dt.date) -> dict[int, dt.date]:
    """The default date of every firm evaluated under ``card`` by ``day`` that has one, from
    its loan records (revoked ones left out; expired ones are history and count)."""
    evaluated = (sa.select(Evaluation.enterprise_id)
                 .where(Evaluation.scorecard_id == card.id, Evaluation.scorecard_version == card.version,
                        Evaluation.as_of <= day))
    rows = session.execute(
        sa.select(CreditRecord.enterprise_id, CreditRecord.payload)
        .where(CreditRecord.category == Category.loan, CreditRecord.status != RecordStatus.revoked,
               CreditRecord.enterprise_id.in_(evaluated))
    )
    return default_dates(((ent_id, payload or {}) for ent_id, payload in rows), card.default_definition)


def _check_days(as_of: dt.date, horizon: int, compare_as_of: dt.date, today: dt.date) -> None:
    errors: dict[str, list[str]] = {}
    if as_of > today:
        errors["as_of"] = [f"验证基准日 {as_of.isoformat()} 晚于今天，尚无结果可验证。"]
    if not 1 <= horizon <= MAX_HORIZON_MONTHS:
        errors["horizon_months"] = [f"观察期应为 1–{MAX_HORIZON_MONTHS} 个月。"]
    if compare_as_of >= as_of:
        errors["compare_as_of"] = ["比较基准日应早于验证基准日。"]
    if errors:
        raise InvalidInput("验证参数有误", errors=errors)


def validate_scorecard(session: Session, version: str, as_of: dt.date, horizon_months: int | None = None,
                       compare_as_of: dt.date | None = None, *, card: Scorecard | None = None) -> dict[str, Any]:
    """Back-test the scorecard ``version`` at ``as_of`` over ``horizon_months`` (default: its
    default definition's), with population stability against ``compare_as_of`` (default 12
    months before ``as_of``).  A JSON-able report (dates as ``YYYY-MM-DD``); figures that
    cannot be computed are null with the reason in Chinese."""
    card = card or scorecard_by_version(version)  # a loaded file (a regional scorecard) or a bundled version
    definition = card.default_definition
    horizon = definition.horizon_months if horizon_months is None else horizon_months
    base_day = compare_as_of or clock.add_months(as_of, -12)
    today = clock.today()
    _check_days(as_of, horizon, base_day, today)
    end = clock.add_months(as_of, horizon)

    latest = latest_evaluations(session, card, as_of)
    defaults = firm_default_dates(session, card, as_of)
    observations, in_default = [], 0
    for ent_id, grade, score in latest:
        when = defaults.get(ent_id)
        if when is not None and when <= as_of:
            in_default += 1  # not performing when observed
            continue
        observations.append(Observation(ent_id, grade, float(score) if score is not None else None,
                                        when is not None and when <= end))
    base_grades = Counter(g for _, g, _ in latest_evaluations(session, card, base_day))
    current_grades = Counter(g for _, g, _ in latest)
    order = grade_order(card.scale, [*base_grades, *current_grades])
    rows, not_rated = grade_table(observations, order)
    rated = [o for o in observations if o.grade != NOT_RATED and o.score is not None]

    notes = []
    complete = end <= today
    if not complete:
        notes.append(f"观察期尚未结束：{as_of.isoformat()} 起 {horizon} 个月至 {end.isoformat()}，"
                     f"今天是 {today.isoformat()}；期末前的违约尚未全部发生，违约率偏低。")
    if not latest:
        notes.append(f"{as_of.isoformat()} 及以前没有评分卡 {card.version} 的评价，无可验证的样本。")

    stability = population_stability(base_grades, current_grades, [*order, NOT_RATED])
    n_defaults = sum(o.defaulted for o in observations)
    return {
        "scorecard": {"id": card.id, "version": card.version, "name": card.name},
        "definition": {"days_past_due": definition.days_past_due, "written_off": definition.written_off,
                       "horizon_months": definition.horizon_months, "label": definition.label},
        "as_of": as_of.isoformat(),
        "horizon_months": horizon,
        "horizon_end": end.isoformat(),
        "horizon_complete": complete,
        "today": today.isoformat(),
        "notes": notes,
        "population": {
            "evaluated": len(latest), "in_default": in_default, "observed": len(observations),
            "rated": len(rated), "not_rated": not_rated["count"], "defaults": n_defaults,
            "default_rate": _rate(n_defaults, len(observations)),
        },
        "grades": rows,
        "not_rated": not_rated,
        "monotonic": monotonicity(rows),
        "discrimination": discrimination(rated),
        "calibration": calibration(rated, order),
        "stability": {"base_as_of": base_day.isoformat(), "as_of": as_of.isoformat(), "epsilon": PSI_EPSILON,
                      **stability},
    }
