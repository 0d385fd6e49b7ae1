"""The 信用电力指数 (Credit Power Index).

Definition (also in the README): for a month, a group of firms (all, or one segment, or one
province) and each dimension, the index is the **mean score (0–100)** of each firm's latest
evaluation whose base date falls in that month; the three sub-indices are the means of the
dimension scores.  A firm counts once per month; firms not evaluated that month do not count.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.archive.models import Enterprise
from app.scoring.models import Evaluation

GROUPINGS = ("all", "segment", "province")


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
    )
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
        .where(latest.c.rn == 1)
        .group_by(latest.c.month, group)
        .order_by(latest.c.month, group)
    )
    if segment:
        query = query.where(Enterprise.segment == segment)
    if province:
        query = query.where(Enterprise.province_code == province)
    return [
        {"month": f"{int(m) // 100:04d}-{int(m) % 100:02d}", "group": str(grp), "firms": n,
         "index": round(float(idx), 2), "willingness": round(float(w), 2), "capability": round(float(c), 2),
         "performance": round(float(p), 2)}
        for m, grp, n, idx, w, c, p in session.execute(query)
    ]
