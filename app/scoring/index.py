"""The 信用电力指数 (Credit Power Index) and its early warnings.

Definition (also in docs/scoring.md): for a month, a group of firms (all, one segment, one
province, or a power group's subsidiaries) and each dimension, the index is the **mean score
(0–100)** of each firm's latest evaluation whose base date falls in that month; the three
sub-indices are the means of the dimension scores.  A firm counts once per month; firms not
evaluated that month, and firms whose latest evaluation that month is NR (不予评级，信息不足),
do not count in the mean.

Beside the mean each row carries:

- ``index_base100``: the index over the same group's index in the base month × 100 (the base
  month is named in the thresholds file, else the first month with a rated evaluation);
- the dispersion of the scores: the (population) standard deviation and the inter-quartile
  range (quartiles by linear interpolation, as ``statistics.quantiles(method="inclusive")``
  and PostgreSQL's ``percentile_cont``);
- the tail: the shares of the firms evaluated that month (NR included) graded B or below
  (B, CCC, CC, C) and graded NR.

Thresholds in ``index_thresholds.json`` (``PC_INDEX_THRESHOLDS`` names another file) turn the
figures into warnings (:func:`index_warnings`); the roof's monthly job writes them as
monitoring events.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Institution, InstitutionKind
from app.archive.models import SEGMENT_LABELS, Enterprise, Segment
from app.archive.regions import PROVINCES
from app.archive.services import subsidiaries
from app.archive.uscc import check_uscc
from app.core import clock
from app.core.config import ConfigError
from app.scoring.models import Evaluation
from app.scoring.scorecard import NOT_RATED
from app.scoring.services import main_scorecard_id

log = logging.getLogger(__name__)
GROUPINGS = ("all", "segment", "province", "group")
PUBLIC_GROUPINGS = ("all", "segment", "province")  # a group's index is for the group and operators
TAIL_GRADES = ("B", "CCC", "CC", "C")  # 「B 级及以下」
INDEX_DEFINITION = ("信用电力指数：每月各企业（当月有评价者，取当月最新一次）评价分数的均值（0–100）；"
                    "守信意愿、守信能力、守信表现三个分指数为对应维度得分的均值。"
                    "定基指数以基期（默认为首个有评价的月份）为 100；离散度为分数的标准差与四分位距；"
                    "尾部为当月参评企业中 B 级及以下与不予评级（NR）企业的占比。")
MONTH_PATTERN = re.compile(r"\A\d{4}-(0[1-9]|1[0-2])\Z")


def month_bounds(first: str | None, last: str | None) -> tuple[dt.date | None, dt.date | None]:
    start = dt.date.fromisoformat(f"{first}-01") if first else None
    end = None
    if last:
        begin = dt.date.fromisoformat(f"{last}-01")
        end = (begin.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    return start, end


def previous_month(month: str) -> str:
    """``YYYY-MM`` of the month before ``month``."""
    start = dt.date.fromisoformat(f"{month}-01")
    return f"{start - dt.timedelta(days=1):%Y-%m}"


def last_month(today: dt.date | None = None) -> str:
    """The previous calendar month (Beijing time) as ``YYYY-MM``."""
    return previous_month(f"{today or clock.today():%Y-%m}")


# --- the figures ----------------------------------------------------------------------------


def credit_power_index(session: Session, *, segment: str | None = None, province: str | None = None,
                       first: str | None = None, last: str | None = None, by: str = "all",
                       group: str | None = None, base_month: str | None = None,
                       thresholds: IndexThresholds | None = None) -> list[dict[str, Any]]:
    """Monthly index rows: month (YYYY-MM), group, firms (rated), index, the three
    sub-indices, ``index_base100``, the dispersion (``std``, ``q1``, ``q3``, ``iqr``) and the
    tail (``evaluated`` firms, NR included; ``tail_share``, ``nr_share``).

    ``by="group"`` gives one row per power group (its parent's USCC) over its subsidiaries at
    every level as they stand at the end of ``last`` (today without it or when that is later);
    ``group`` keeps one group only.  A month and group with no rated firm has no row."""
    return [row for row in index_figures(session, segment=segment, province=province, first=first, last=last,
                                         by=by, group=group, base_month=base_month, thresholds=thresholds)
            if row["index"] is not None]


def index_figures(session: Session, *, segment: str | None = None, province: str | None = None,
                  first: str | None = None, last: str | None = None, by: str = "all", group: str | None = None,
                  base_month: str | None = None, thresholds: IndexThresholds | None = None) -> list[dict[str, Any]]:
    """:func:`credit_power_index`, with the rows of groups whose firms are all NR (their
    ``index`` and dispersion null, their NR share 1): the warnings need them."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}")
    base = base_month or index_base_month(session, thresholds)
    filters = {"segment": segment, "province": province}
    rows = _grouped(session, first=first, last=last, by=by, group=group, **filters)
    base_rows = rows
    if base is not None and not _within(base, first, last):
        base_rows = _grouped(session, first=base, last=base, by=by, group=group, as_of_month=last, **filters)
    base_index = {r["group"]: r["_mean"] for r in base_rows if r["month"] == base and r["_mean"]}
    out = []
    for row in rows:
        mean, at_base = row.pop("_mean"), base_index.get(row["group"])
        row["index_base100"] = None if mean is None or at_base is None else round(mean / at_base * 100, 2)
        out.append(row)
    return out


def index_base_month(session: Session, thresholds: IndexThresholds | None = None) -> str | None:
    """The base period (= 100): ``base_month`` of the thresholds file, else the first month
    with a rated evaluation (of the scorecard that grades)."""
    if thresholds is None:
        try:
            thresholds = load_thresholds()
        except IndexThresholdsError as exc:  # the public pages keep working; the monthly job says why
            log.warning("%s；定基指数的基期取首个有评价的月份", exc)
            thresholds = IndexThresholds()
    if thresholds.base_month:
        return thresholds.base_month
    first = session.scalar(sa.select(sa.func.min(Evaluation.as_of)).where(
        Evaluation.scorecard_id == main_scorecard_id(), Evaluation.score.is_not(None)))
    return None if first is None else f"{first:%Y-%m}"


def _within(month: str, first: str | None, last: str | None) -> bool:
    return (first is None or month >= first) and (last is None or month <= last)


@dataclass(frozen=True)
class PowerGroup:
    """A power group (an institution of kind ``group``) and its parent enterprise."""

    institution_id: int
    name: str
    uscc: str
    enterprise_id: int


def power_groups(session: Session, uscc: str | None = None) -> list[PowerGroup]:
    stmt = (sa.select(Institution.id, Institution.name, Enterprise.uscc, Enterprise.id)
            .join(Enterprise, Enterprise.uscc == Institution.uscc)
            .where(Institution.kind == InstitutionKind.group)
            .order_by(Enterprise.uscc))
    if uscc:
        stmt = stmt.where(Enterprise.uscc == uscc)
    return [PowerGroup(*row) for row in session.execute(stmt)]


def _grouped(session: Session, *, segment: str | None, province: str | None, first: str | None,
             last: str | None, by: str, group: str | None, as_of_month: str | None = None) -> list[dict[str, Any]]:
    if by != "group":
        return _aggregate(session, segment=segment, province=province, first=first, last=last, by=by)
    _, end = month_bounds(None, as_of_month or last)
    day = min(end, clock.today()) if end else clock.today()
    rows: list[dict[str, Any]] = []
    for pg in power_groups(session, group):
        members = [s.enterprise_id for s in subsidiaries(session, pg.enterprise_id, as_of=day)]
        if members:
            rows += _aggregate(session, segment=segment, province=province, first=first, last=last, by=by,
                               members=members, code=pg.uscc)
    return sorted(rows, key=lambda r: (r["month"], r["group"]))


def _aggregate(session: Session, *, segment: str | None, province: str | None, first: str | None,
               last: str | None, by: str, members: list[int] | None = None, code: str = "") -> list[dict[str, Any]]:
    """One SQL statement, portable to SQLite and PostgreSQL: each firm's latest evaluation of
    the month, ranked by score within its month and group (NR last), then per month and group
    the counts, the means, the mean square (for the standard deviation), the tail counts and
    the scores at the ranks either side of each quartile."""
    month = (sa.extract("year", Evaluation.as_of) * 100 + sa.extract("month", Evaluation.as_of)).label("month")
    start, end = month_bounds(first, last)
    ranked = sa.select(
        Evaluation.enterprise_id, month, Evaluation.score, Evaluation.grade, Evaluation.willingness,
        Evaluation.capability, Evaluation.performance,
        sa.func.row_number().over(
            partition_by=(Evaluation.enterprise_id, month),
            order_by=(Evaluation.evaluated_at.desc(), Evaluation.id.desc()),
        ).label("rn"),
    ).where(Evaluation.scorecard_id == main_scorecard_id())  # not a side (regional) scorecard's
    if start:
        ranked = ranked.where(Evaluation.as_of >= start)
    if end:
        ranked = ranked.where(Evaluation.as_of <= end)
    if members is not None:
        ranked = ranked.where(Evaluation.enterprise_id.in_(members))
    latest = ranked.subquery()
    grp: Any = {"all": sa.literal("all"), "segment": Enterprise.segment,
                                  "province": Enterprise.province_code, "group": sa.literal(code)}[by]
    partition = (latest.c.month,) if by in ("all", "group") else (latest.c.month, grp)
    unrated = sa.case((latest.c.score.is_(None), 1), else_=0)
    firms = (
        sa.select(latest.c.month, grp.label("grp"), latest.c.score, latest.c.grade, latest.c.willingness,
                  latest.c.capability, latest.c.performance,
                  sa.func.row_number().over(partition_by=partition, order_by=(unrated, latest.c.score)).label("pos"),
                  sa.func.count(latest.c.score).over(partition_by=partition).label("rated"))
        .join(Enterprise, Enterprise.id == latest.c.enterprise_id)
        .where(latest.c.rn == 1)
    )
    if segment:
        firms = firms.where(Enterprise.segment == segment)
    if province:
        firms = firms.where(Enterprise.province_code == province)
    f = firms.subquery()
    q1, q3 = (f.c.rated - 1) // 4, (3 * (f.c.rated - 1)) // 4  # integer division: the rank below

    def at(rank: Any) -> Any:
        return sa.func.max(sa.case((f.c.pos == rank, f.c.score)))

    query = (
        sa.select(f.c.month, f.c.grp, sa.func.count(), sa.func.count(f.c.score), sa.func.avg(f.c.score),
                  sa.func.avg(f.c.score * f.c.score), sa.func.avg(f.c.willingness), sa.func.avg(f.c.capability),
                  sa.func.avg(f.c.performance),
                  sa.func.sum(sa.case((f.c.grade.in_(TAIL_GRADES), 1), else_=0)),
                  sa.func.sum(sa.case((f.c.grade == NOT_RATED, 1), else_=0)),
                  at(q1 + 1), at(q1 + 2), at(q3 + 1), at(q3 + 2))
        .group_by(f.c.month, f.c.grp)
        .order_by(f.c.month, f.c.grp)
    )
    return [_row(*row) for row in session.execute(query)]


def _row(m: Any, grp: Any, evaluated: int, rated: int, mean: Any, mean_sq: Any, w: Any, c: Any, p: Any,
         tail: Any, nr: Any, q1_lo: Any, q1_hi: Any, q3_lo: Any, q3_hi: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "month": f"{int(m) // 100:04d}-{int(m) % 100:02d}", "group": str(grp), "firms": int(rated),
        "index": _mean(mean), "willingness": _mean(w), "capability": _mean(c), "performance": _mean(p),
        "_mean": None if mean is None else float(mean),
        "std": None, "q1": None, "q3": None, "iqr": None, "evaluated": int(evaluated),
        "tail_share": round(int(tail or 0) / evaluated, 4), "nr_share": round(int(nr or 0) / evaluated, 4),
    }
    if rated:
        m1, msq = float(mean), float(mean_sq)
        row["std"] = round(math.sqrt(max(msq - m1 * m1, 0.0)), 2)
        first, third = _quantile(rated, 0.25, q1_lo, q1_hi), _quantile(rated, 0.75, q3_lo, q3_hi)
        row["q1"], row["q3"], row["iqr"] = round(first, 2), round(third, 2), round(third - first, 2)
    return row


def _quantile(n: int, q: float, low: Any, high: Any) -> float:
    """Linear interpolation between the ranks either side of (n − 1)·q (0-based)."""
    h = (n - 1) * q
    frac = h - math.floor(h)
    lo = float(low)
    return lo if high is None or frac == 0 else lo + frac * (float(high) - lo)


def _mean(value: Any) -> float | None:
    """A (sub-)index: null when no firm of the group has it rated."""
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
                    first: str | None = None, last: str | None = None, by: str = "all",
                    base_month: str | None = None) -> list[dict[str, Any]]:
    """:func:`credit_power_index`, reused while no evaluation has been added since it was
    computed (and for at most ``INDEX_CACHE_SECONDS``)."""
    conn = session.connection()
    key = (conn.engine.url.render_as_string(hide_password=True), segment, province, first, last, by, base_month)
    stamp = conn.execute(_STAMP).scalar()
    now = time.monotonic()
    with _held_lock:
        held = _held.get(key)
        if held is not None and held[1] == stamp and now - held[0] < INDEX_CACHE_SECONDS:
            _held.move_to_end(key)
            return [dict(row) for row in held[2]]
    rows = credit_power_index(session, segment=segment, province=province, first=first, last=last, by=by,
                              base_month=base_month)
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


# --- thresholds and warnings ----------------------------------------------------------------
#
# ``index_thresholds.json`` (or the file ``PC_INDEX_THRESHOLDS`` names, like ``PC_PDF_FONT`` a
# data file the operators keep): an optional ``base_month``, and per scope kind the limits
# beyond which a month's figures raise a warning.  ``all`` holds one set; ``segment``,
# ``province`` and ``group`` hold a ``default`` for every segment, province or group and
# entries by code (a segment code, a 2-digit province code, a group's parent USCC) that
# change some of the default's limits (null turns one off).

THRESHOLDS_FILE = Path(__file__).with_name("index_thresholds.json")
SCOPES = ("all", "segment", "province", "group")
# limit → (the figure it bounds, lower bound?, smallest, largest)
LIMITS: dict[str, tuple[str, bool, float, float | None]] = {
    "min_index": ("index", True, 0.0, 100.0),
    "max_fall": ("fall", False, 0.0, 100.0),
    "max_tail_share": ("tail_share", False, 0.0, 1.0),
    "max_nr_share": ("nr_share", False, 0.0, 1.0),
    "max_std": ("std", False, 0.0, 100.0),
    "max_iqr": ("iqr", False, 0.0, 100.0),
}
MIN_FIRMS = "min_firms"  # a scope with fewer firms evaluated that month raises nothing
METRIC_LABELS = {"index": "信用电力指数", "fall": "信用电力指数环比下降", "tail_share": "B 级及以下企业占比",
                 "nr_share": "不予评级（NR）企业占比", "std": "评价分数标准差", "iqr": "评价分数四分位距"}
SCOPE_LABELS = {"all": "全行业", "segment": "业态", "province": "省份", "group": "电力集团"}


class IndexThresholdsError(ConfigError):
    """The thresholds file is missing, is not JSON, or has a key or value that is wrong."""


@dataclass(frozen=True)
class IndexThresholds:
    base_month: str | None = None
    # scope kind → code (or "default"; "all" for the whole sector) → limit → value (None: off)
    scopes: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)
    source: str = ""

    def limits(self, kind: str, code: str) -> dict[str, float]:
        table = self.scopes.get(kind, {})
        merged = {**table.get("default", {}), **table.get(code, {})}
        return {k: v for k, v in merged.items() if v is not None}


_loaded: dict[tuple[str, int], IndexThresholds] = {}


def thresholds_path() -> Path:
    return Path(os.environ.get("PC_INDEX_THRESHOLDS") or THRESHOLDS_FILE)


def load_thresholds(path: str | Path | None = None) -> IndexThresholds:
    """The thresholds file (``PC_INDEX_THRESHOLDS``, else the one beside this module), checked
    whole: a missing file, bad JSON, an unknown key or a value out of range is an
    :class:`IndexThresholdsError` naming the key.  Read again when the file changes."""
    where = Path(path) if path else thresholds_path()
    try:
        stamp = where.stat().st_mtime_ns
    except OSError as exc:
        raise IndexThresholdsError(f"信用电力指数预警阈值文件 {where} 无法读取：{exc.strerror or exc}") from exc
    held = _loaded.get((str(where), stamp))
    if held is not None:
        return held
    try:
        document = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise IndexThresholdsError(f"信用电力指数预警阈值文件 {where} 不是有效的 JSON：{exc}") from exc
    result = parse_thresholds(document, str(where))
    _loaded[(str(where), stamp)] = result
    return result


def parse_thresholds(document: Any, source: str = "") -> IndexThresholds:
    def bad(key: str, problem: str) -> IndexThresholdsError:
        return IndexThresholdsError(f"信用电力指数预警阈值文件{' ' + source if source else ''}有误：{key}：{problem}")

    if not isinstance(document, dict):
        raise bad("（根）", "应为 JSON 对象")
    unknown = sorted(set(document) - {"base_month", "description", *SCOPES})
    if unknown:
        raise bad(unknown[0], f"未知的键（可用：base_month、{'、'.join(SCOPES)}）")
    base = document.get("base_month")
    if base is not None and not (isinstance(base, str) and MONTH_PATTERN.match(base)
                                 and 1949 <= int(base[:4]) <= 9000):
        raise bad("base_month", f"应为 YYYY-MM 格式的月份或 null，当前为 {base!r}")
    scopes: dict[str, dict[str, dict[str, float | None]]] = {}
    for kind in SCOPES:
        raw = document.get(kind)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            raise bad(kind, "应为 JSON 对象")
        if kind == "all":
            scopes[kind] = {"all": _limits(raw, kind, bad)}
            continue
        table: dict[str, dict[str, float | None]] = {}
        for code, limits in raw.items():
            key = f"{kind}.{code}"
            if code != "default":
                problem = _code_problem(kind, code)
                if problem:
                    raise bad(key, problem)
            if not isinstance(limits, dict):
                raise bad(key, "应为 JSON 对象（阈值名 → 数值）")
            table[code] = _limits(limits, key, bad)
        scopes[kind] = table
    return IndexThresholds(base_month=base, scopes=scopes, source=source)


def _code_problem(kind: str, code: str) -> str | None:
    if kind == "segment" and code not in set(Segment):
        return f"不是已知的业态代码（可用：{'、'.join(Segment)}，或 default）"
    if kind == "province" and code not in PROVINCES:
        return "不是已知的省级行政区划代码（2 位，如 33；或 default）"
    if kind == "group":
        checked = check_uscc(code, allow_legacy=True)
        if not checked.ok:
            return f"应为电力集团母公司的统一社会信用代码（或 default）：{checked.error}"
    return None


def _limits(raw: dict[str, Any], where: str, bad: Any) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, value in raw.items():
        key = f"{where}.{name}"
        if name == MIN_FIRMS:
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise bad(key, f"应为不小于 1 的整数，当前为 {value!r}")
            out[name] = float(value)
            continue
        if name not in LIMITS:
            raise bad(key, f"未知的阈值（可用：{'、'.join([*LIMITS, MIN_FIRMS])}）")
        if value is None:
            out[name] = None
            continue
        _, _, low, high = LIMITS[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or value < low or (high is not None and value > high):
            share = name.endswith("_share")
            raise bad(key, f"应为 {low:g}–{high:g} 之间的数{'（占比，0.2 即 20%）' if share else ''}或 null，"
                           f"当前为 {value!r}")
        out[name] = float(value)
    return out


def scope_title(kind: str, code: str, label: str) -> str:
    """How a warning's title names its scope: 全行业, 售电板块, 浙江省, 某集团所属企业."""
    return {"all": "全行业", "segment": f"{label}板块", "province": label, "group": f"{label}所属企业"}[kind]


def format_figure(metric: str, value: float, *, limit: bool = False) -> str:
    """A metric's value (or, ``limit``, its threshold) as people read it: shares in per cent,
    a fall in points, the index to two places."""
    if metric in ("tail_share", "nr_share"):
        return f"{value * 100:g}%" if limit else f"{value * 100:.1f}%"
    if metric == "fall":
        return f"{value:g} 点"
    if metric == "index" and not limit:
        return f"{value:.2f}"
    return f"{value:g}"


def _title(kind: str, code: str, label: str, metric: str, value: float, limit: float) -> str:
    who = scope_title(kind, code, label)
    shown, bound = format_figure(metric, value), format_figure(metric, limit, limit=True)
    if metric == "index":
        return f"{who}信用电力指数 {shown}，低于阈值 {bound}"
    gap = " " if METRIC_LABELS[metric][0].isascii() else ""  # 「全行业 B 级及以下…」
    return f"{who}{gap}{METRIC_LABELS[metric]} {shown}（阈值 {bound}）"


def _breaches(limit_name: str, value: float, limit: float) -> bool:
    """Equal to a limit is within it; only beyond it (below a minimum, above a maximum) breaches."""
    return value < limit if LIMITS[limit_name][1] else value > limit


def index_warnings(session: Session, month: str, thresholds: IndexThresholds | None = None) -> list[dict[str, Any]]:
    """Every limit the month's figures breach, for the whole sector, each segment, each
    province and each power group: a dict with ``key`` (the same breach has the same key, so
    it is raised once), ``month``, ``scope`` (all/segment/province/group), ``scope_code``,
    ``scope_label``, ``metric``, ``metric_label``, ``value``, ``threshold``, the firms
    counted, a Chinese ``title`` — and for a group its ``institution_id`` (where its alerts go)."""
    if not MONTH_PATTERN.match(month):
        raise ValueError(f"month {month!r} is not YYYY-MM")
    limits_file = thresholds or load_thresholds()
    before = previous_month(month)
    groups = {pg.uscc: pg for pg in power_groups(session)} if limits_file.scopes.get("group") else {}
    out: list[dict[str, Any]] = []
    for kind in SCOPES:
        if kind not in limits_file.scopes or (kind == "group" and not groups):
            continue
        rows = index_figures(session, first=before, last=month, by=kind, thresholds=limits_file)
        previous = {r["group"]: r["index"] for r in rows if r["month"] == before}
        for row in (r for r in rows if r["month"] == month):
            code = row["group"]
            limits = limits_file.limits(kind, code)
            if row["evaluated"] < limits.pop(MIN_FIRMS, 1):
                continue
            label = _scope_label(kind, code, groups)
            figures = dict(row)
            figures["fall"] = (None if row["index"] is None or previous.get(code) is None
                               else round(previous[code] - row["index"], 2))
            for name, limit in limits.items():
                metric = LIMITS[name][0]
                value = figures.get(metric)
                if value is None or not _breaches(name, value, limit):
                    continue
                warning: dict[str, Any] = {
                    "key": f"index.warning:{month}:{kind}:{code}:{metric}", "month": month, "scope": kind,
                    "scope_code": code, "scope_label": label, "metric": metric, "metric_label": METRIC_LABELS[metric],
                    "value": value, "threshold": limit, "firms": row["firms"], "evaluated": row["evaluated"],
                    "title": f"{int(month[:4])}年{int(month[5:])}月{_title(kind, code, label, metric, value, limit)}",
                }
                if kind == "group":
                    warning["institution_id"] = groups[code].institution_id
                out.append(warning)
    return out


def _scope_label(kind: str, code: str, groups: dict[str, PowerGroup]) -> str:
    if kind == "segment":
        return SEGMENT_LABELS[Segment(code)] if code in set(Segment) else code
    if kind == "province":
        return PROVINCES.get(code, code)
    if kind == "group":
        return groups[code].name if code in groups else code
    return "全行业"

