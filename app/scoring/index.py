"""The 信用电力指数 (Credit Power Index).

Definition (also in docs/scoring.md): for a month, a group of firms (all, or one segment, or one
province) and each dimension, the index is the **mean score (0–100)** of each firm's latest
evaluation whose base date falls in that month; the three sub-indices are the means of the
dimension scores.  A firm counts once per month; firms not evaluated that month, and firms
whose latest evaluation that month is NR (不予评级，信息不足), do not count.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.archive.models import Enterprise
from app.scoring.models import Evaluation
from app.scoring.services import main_scorecard_id

GROUPINGS = ("all", "segment", "province")
INDEX_DEFINITION = ("信用电力指数：每月各企业（当月有评价者，取当月最新一次）评价分数的均值（0–100）；"
                    "守信意愿、守信能力、守信表现三个分指数为对应维度得分的均值。")


def month_bounds(first: str | None, last: str | None) -> tuple[dt.date | None, dt.date | None]:
    start = dt.date.fromisoformat(f"{first}-01") if first else None
    end = None
    if last:
        begin = dt.date.fromisoformat(f"{last}-01")
        end = (begin.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    return start, end


def credit_power_index(session: Session, *, segment: str | None = None, province: str | None = None,
                       first: str | None = None, last: str | None = None, by: str = "all") -> list[dict[str, Any]]:
    """Monthly index rows: month (YYYY-MM), group, firms, index and the three sub-indices."""
    month = (sa.extract("year", Evaluation.as_of) * 100 + sa.extract("month", Evaluation.as_of)).label("month")
    start, end = month_bounds(first, last)
    ranked = sa.select(
        Evaluation.enterprise_id, month, Evaluation.score, Evaluation.willingness, Evaluation.capability,
        Evaluation.performance,
        sa.func.row_number().over(
            partition_by=(Evaluation.enterprise_id, month),
            order_by=(Evaluation.evaluated_at.desc(), Evaluation.id.desc()),
        ).label("rn"),
    ).where(Evaluation.scorecard_id == main_scorecard_id())  # not a side (regional) scorecard's
    if start:
        ranked = ranked.where(Evaluation.as_of >= start)
    if end:
        ranked = ranked.where(Evaluation.as_of <= end)
    latest = ranked.subquery()
    group = {"all": sa.literal("all"), "segment": Enterprise.segment, "province": Enterprise.province_code}[by]
    query = (
        sa.select(latest.c.month, group.label("grp"), sa.func.count(),
                  sa.func.avg(latest.c.score), sa.func.avg(latest.c.willingness),
                  sa.func.avg(latest.c.capability), sa.func.avg(latest.c.performance))
        .join(Enterprise, Enterprise.id == latest.c.enterprise_id)
        # A firm whose latest evaluation that month is NR (不予评级) is left out of the index.
        .where(latest.c.rn == 1, latest.c.score.is_not(None))
        .group_by(latest.c.month, group)
        .order_by(latest.c.month, group)
    )
    if segment:
        query = query.where(Enterprise.segment == segment)
    if province:
        query = query.where(Enterprise.province_code == province)
    return [
        {"month": f"{int(m) // 100:04d}-{int(m) % 100:02d}", "group": str(grp), "firms": n,
         "index": round(float(idx), 2), "willingness": _mean(w), "capability": _mean(c), "performance": _mean(p)}
        for m, grp, n, idx, w, c, p in session.execute(query)
    ]


def _mean(value: Any) -> float | None:
    """A sub-index: null when no firm of the group has the dimension rated."""
    return None if value is None else round(float(value), 2)


# --- the index as the public pages and the API serve it -------------------------------------
#
# The index is a monthly statistic over every firm's evaluations: at 100,000 firms one month
# takes a few hundred milliseconds and the whole history seconds — too much to recompute on
# every anonymous hit of the home page.  Evaluations are only ever added (their scores and
# dates never change), so the highest evaluation id says whether what a process holds is
# still what is stored; a held result is also dropped after ``INDEX_CACHE_SECONDS`` (an
# evaluation committed after a later one, a firm moved to another segment or province).

INDEX_CACHE_SECONDS = 60.0
_MAX_HELD = 128
_STAMP = sa.select(sa.func.max(Evaluation.id))
_held: OrderedDict[tuple[Any, ...], tuple[float, Any, list[dict[str, Any]]]] = OrderedDict()
_held_lock = threading.Lock()


def published_index(session: Session, *, segment: str | None = None, province: str | None = None,
                    first: str | None = None, last: str | None = None, by: str = "all") -> list[dict[str, Any]]:
    """:func:`credit_power_index`, reused while no evaluation has been added since it was
    computed (and for at most ``INDEX_CACHE_SECONDS``)."""
    conn = session.connection()
    key = (conn.engine.url.render_as_string(hide_password=True), segment, province, first, last, by)
    stamp = conn.execute(_STAMP).scalar()
    now = time.monotonic()
    with _held_lock:
        held = _held.get(key)
        if held is not None and held[1] == stamp and now - held[0] < INDEX_CACHE_SECONDS:
            _held.move_to_end(key)
            return [dict(row) for row in held[2]]
    rows = credit_power_index(session, segment=segment, province=province, first=first, last=last, by=by)
    with _held_lock:
        _held[key] = (now, stamp, rows)
        _held.move_to_end(key)
        while len(_held) > _MAX_HELD:
            _held.popitem(last=False)
    return [dict(row) for row in rows]


def forget_published_index() -> None:
    """Drop every held result (tests roll back the evaluations they made)."""
    with _held_lock:
        _held.clear()


def latest_month(session: Session) -> str | None:
    """The month (``YYYY-MM``) of the newest evaluation's base date, if any."""
    latest = session.scalar(sa.select(sa.func.max(Evaluation.as_of)))
    return None if latest is None else f"{latest:%Y-%m}"
