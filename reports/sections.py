"""Report sections read from the archive for one firm, within a data range.

The one place that turns report sections (``consent.models.REPORT_SECTIONS``) into data; for
an institution it is only ever called after the consent gate
(``consent.gate.authorize_access``).  Only the requested sections are produced — a
section outside a consent's scopes is absent, not empty.  Records are read with plain Core
queries and turned into dicts here (no ORM objects, no marshmallow per record): a report of
a few hundred records is assembled in a few milliseconds.

Rules applied: only live records (active, disputed, corrected) whose retention period has
not ended (``expires_on`` after the as-of date, 征信业管理条例 art. 16) appear; a disputed
record carries ``disputed: true`` wherever it appears.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from itertools import compress, groupby
from operator import itemgetter
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.archive.models import (
    CATEGORY_LABELS,
    LIVE_STATUSES,
    SEGMENT_LABELS,
    CreditRecord,
    DataProvider,
    Enterprise,
)
from app.archive.regions import describe_region
from app.core import clock
from app.core.db import Prepared, json_value, run_batch
from app.oauth.scopes import REPORT_SECTIONS
from app.oversight import memberships
from app.scoring.models import Evaluation
from app.scoring.reasons import adverse_factors
from app.scoring.scorecard import GRADE_LABELS, NOT_RATED, NOT_RATED_LABEL
from app.scoring.services import main_scorecard_id
from consent.models import PURPOSE_LABELS, Purpose, QueryLog

# Sections made of archive records, and their record categories.
RECORD_SECTIONS: dict[str, tuple[str, ...]] = {
    "tax": ("tax",), "contract": ("contract",), "quality": ("quality",), "safety": ("safety",),
    "environment": ("environment",), "licence_penalty": ("licence", "penalty"), "judicial": ("judicial",),
    "bidding": ("bidding",), "loan": ("loan",), "honour": ("honour",), "commitment": ("commitment",),
    "utility": ("utility",),
}
SECTION_ORDER = tuple(REPORT_SECTIONS)
ALL_CATEGORIES = frozenset(c for cats in RECORD_SECTIONS.values() for c in cats)
SUPERVISION_LABELS = {"A": "A 类（绿色通道）", "B": "B 类（常规监管）", "C": "C 类（加强监管）",
                      "D": "D 类（重点监管）"}
LIST_LABELS = {"red": "红名单（守信激励）", "black": "黑名单（失信联合惩戒）", "watch": "重点关注名单"}
QUERY_WINDOW_DAYS = 730  # an institution report shows the last two years of queries

_RECORD_COLUMNS = (
    CreditRecord.id, DataProvider.code, CreditRecord.provider_ref,
    sa.type_coerce(CreditRecord.category, sa.String()), sa.type_coerce(CreditRecord.polarity, sa.String()),
    # Dates as the driver gives them: ISO text from SQLite (no parsing only to format them
    # again), date objects from psycopg.
    CreditRecord.severity, sa.type_coerce(CreditRecord.occurred_on, sa.String()),
    sa.type_coerce(CreditRecord.ended_on, sa.String()), sa.type_coerce(CreditRecord.expires_on, sa.String()),
    sa.type_coerce(CreditRecord.status, sa.String()), CreditRecord.version, CreditRecord.payload,
    DataProvider.name, sa.type_coerce(CreditRecord.updated_at, sa.String()),  # raw: only the latest is formatted
)
_CATEGORY = itemgetter("category")
_FAR_PAST, _FAR_FUTURE = dt.date(1, 1, 1), dt.date(9999, 12, 31)


def iso(value: dt.date | dt.datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return value.isoformat()


# Statements built once (bound parameters, categories as an expanding IN): a report runs
# them from the compiled cache instead of building and hashing new ones every time.
_LIVE = sa.and_(CreditRecord.enterprise_id == sa.bindparam("ent_id"),
                CreditRecord.status.in_(list(LIVE_STATUSES)),
                sa.or_(CreditRecord.expires_on.is_(None), CreditRecord.expires_on > sa.bindparam("as_of")))
_IN_RANGE = sa.and_(CreditRecord.category.in_(sa.bindparam("categories", expanding=True)),
                    CreditRecord.occurred_on >= sa.bindparam("data_from"),
                    CreditRecord.occurred_on <= sa.bindparam("data_to"))
RECORDS = (
    sa.select(*_RECORD_COLUMNS).join(DataProvider, DataProvider.id == CreditRecord.provider_id)
    .where(_LIVE, _IN_RANGE)
    .order_by(CreditRecord.category, CreditRecord.occurred_on.desc(), CreditRecord.id)
)
_RECORDS = Prepared(RECORDS)  # ~200 rows of ints, texts and JSON: straight on the cursor
SUMMARY = Prepared(
    sa.select(sa.type_coerce(CreditRecord.category, sa.String()), sa.type_coerce(CreditRecord.polarity, sa.String()),
              sa.func.count(), sa.func.sum(sa.case((CreditRecord.status == "disputed", 1), else_=0)))
    .where(_LIVE, CreditRecord.occurred_on >= sa.bindparam("data_from"),
           CreditRecord.occurred_on <= sa.bindparam("data_to"))
    .group_by(CreditRecord.category, CreditRecord.polarity)
)
_TEXT = sa.String()
EVALUATIONS = Prepared(  # raw values: dates and times as the driver gives them, scores as float or Decimal
    sa.select(sa.type_coerce(Evaluation.as_of, _TEXT), sa.type_coerce(Evaluation.evaluated_at, _TEXT),
              Evaluation.grade, sa.type_coerce(Evaluation.score, _TEXT), sa.type_coerce(Evaluation.willingness, _TEXT),
              sa.type_coerce(Evaluation.capability, _TEXT), sa.type_coerce(Evaluation.performance, _TEXT),
              Evaluation.supervision_class, Evaluation.scorecard_version, sa.type_coerce(Evaluation.current, _TEXT))
    .where(Evaluation.enterprise_id == sa.bindparam("ent_id"), Evaluation.scorecard_id == sa.bindparam("card_id"))
    .order_by(Evaluation.evaluated_at, Evaluation.id)
)
CURRENT_EXPLANATION = Prepared(  # the current evaluation's reasons (only its, not the history's)
    sa.select(Evaluation.explanation, sa.type_coerce(Evaluation.coverage, _TEXT))
    .where(Evaluation.enterprise_id == sa.bindparam("ent_id"), Evaluation.current.is_(True))
)


def raw_date(value: Any) -> str:
    """A DATE as a driver gives it (ISO text from SQLite, a ``date`` from psycopg), as ISO text."""
    return value if value.__class__ is str else value.isoformat()  # type: ignore[no-any-return]


def raw_stamp(value: Any) -> str | None:
    """A UTC timestamp as a driver gives it (naive ISO text from SQLite, an aware
    ``datetime`` from psycopg), as the report writes it (``2026-12-02T01:30:00Z``)."""
    if value is None:
        return None
    if value.__class__ is str:
        value = dt.datetime.fromisoformat(value)
    return iso(value if value.tzinfo else value.replace(tzinfo=dt.UTC))


def raw_score(value: Any) -> str | None:
    """A NUMERIC(5, 2) as a driver gives it (a float from SQLite, a ``Decimal`` from
    psycopg), with its two decimals, as SQLAlchemy's Numeric type would give it; None stays
    None (NR, 不予评级: no score; a dimension with no known factor)."""
    return None if value is None else f"{value:.2f}"


def range_params(ent_id: int, categories: Iterable[str], as_of: dt.date, data_from: dt.date | None,
                 data_to: dt.date | None) -> dict[str, Any]:
    return {"ent_id": ent_id, "as_of": as_of, "categories": sorted(categories),
            "data_from": data_from or _FAR_PAST, "data_to": data_to or _FAR_FUTURE}


def identity(ent: Enterprise) -> dict[str, Any]:
    return {
        "uscc": ent.uscc, "name": ent.name, "segment": str(ent.segment),
        "segment_label": SEGMENT_LABELS[ent.segment], "region_code": ent.region_code,
        "region": describe_region(ent.region_code),
        "registered_capital": str(ent.registered_capital) if ent.registered_capital is not None else None,
        "founded_on": iso(ent.founded_on), "status": str(ent.status), "legacy_uscc": ent.legacy_uscc,
    }


def evaluation(session: Session, ent: Enterprise) -> dict[str, Any] | None:
    """The current grade (a derived PowerCredit product, labelled as such) and its history."""
    return evaluation_of(EVALUATIONS.rows(session, {"ent_id": ent.id, "card_id": main_scorecard_id()}),
                         CURRENT_EXPLANATION.rows(session, {"ent_id": ent.id}), str(ent.segment))


def evaluation_of(rows: list[tuple[Any, ...]], current_rows: list[tuple[Any, ...]] | None = None,
                  segment: str = "", visible: frozenset[str] | set[str] | None = None,
                  lists_visible: bool = True) -> dict[str, Any] | None:
    """The evaluation section from the rows of ``EVALUATIONS`` (and ``CURRENT_EXPLANATION``'s:
    the coverage, the reason for NR and the main adverse factors among what the reader may
    see: ``visible`` record categories, None for all)."""
    current = next((r for r in reversed(rows) if r[9]), None)
    if current is None:
        return None
    as_of, evaluated_at, grade, score, willingness, capability, performance, supervision, version, _ = current
    explanation: dict[str, Any] = {}
    coverage = None
    if current_rows:
        body, coverage = current_rows[0]
        explanation = json_value(body) or {}
    evidence = explanation.get("evidence") or {}
    return {
        "grade": grade, "grade_label": GRADE_LABELS.get(grade, grade),
        "score": raw_score(score),
        "not_rated": grade == NOT_RATED,
        "reason": (evidence.get("reason") or NOT_RATED_LABEL) if grade == NOT_RATED else None,
        "coverage": None if coverage is None else f"{float(coverage):.4f}",
        "adverse_factors": adverse_factors(explanation, version, segment, visible, lists_visible=lists_visible),
        "dimensions": {"willingness": raw_score(willingness), "capability": raw_score(capability),
                       "performance": raw_score(performance)},
        "supervision_class": supervision,
        "supervision_label": SUPERVISION_LABELS.get(supervision, supervision),
        "scorecard_version": version, "as_of": raw_date(as_of),
        "evaluated_at": raw_stamp(evaluated_at),
        # One entry per base date, the last evaluation of that day: re-evaluations on the same
        # day (an objection, its outcome, a commitment) are not a history of their own.
        "history": [{"as_of": raw_date(r[0]), "evaluated_at": raw_stamp(r[1]), "grade": r[2],
                     "score": raw_score(r[3]), "scorecard_version": r[8]}
                    for r in {raw_date(r[0]): r for r in rows}.values()],
        "note": "信用等级为 PowerCredit 依据公开的评分卡计算的衍生产品，不构成授信建议。",
    }


def summary(counts: Iterable[tuple[str, str, int, int]]) -> list[dict[str, Any]]:
    """Good, bad and neutral records (and how many are disputed) per category."""
    by_cat: dict[str, dict[str, int]] = {}
    for category, polarity, n, disputed in counts:
        row = by_cat.setdefault(category, {"good": 0, "bad": 0, "neutral": 0, "disputed": 0})
        row[polarity] += n
        row["disputed"] += int(disputed or 0)
    return [{"category": c, "category_label": CATEGORY_LABELS.get(c, c), **by_cat[c]}  # type: ignore[call-overload]
            for c in sorted(by_cat)]


def _query_log_stmt(include_self: bool) -> Any:
    from app.accounts.models import Institution
    from reports.models import SELF_ISSUED_KINDS, Report, ReportKind

    institutions = (
        sa.select(sa.type_coerce(QueryLog.at, _TEXT).label("at"), Institution.name.label("querier"),
                  sa.literal("institution").label("kind"),
                  sa.type_coerce(QueryLog.purpose, sa.String()).label("purpose"),
                  sa.type_coerce(QueryLog.sections, sa.JSON()).label("sections"), QueryLog.resource.label("resource"))
        .join(Institution, Institution.id == QueryLog.institution_id)
        .where(QueryLog.enterprise_id == sa.bindparam("ent_id"), QueryLog.at < sa.bindparam("before"),
               QueryLog.at >= sa.bindparam("since"))
    )
    if not include_self:
        # A bank's report lists the accesses made under a consent; a tenderer's screening of
        # public facts (no consent) stays in the firm's own query log and self-report only.
        return institutions.where(QueryLog.consent_pk.is_not(None)).order_by(sa.desc("at"))
    own = (
        sa.select(sa.type_coerce(Report.issued_at, _TEXT).label("at"), sa.null().label("querier"),
                  sa.literal("self").label("kind"),
                  sa.case((Report.kind == ReportKind.bidding, sa.literal(BIDDING_QUERY)),
                          else_=sa.literal(SELF_QUERY)).label("purpose"), sa.null().label("sections"),
                  ("report:" + Report.report_no).label("resource"))
        .where(Report.enterprise_id == sa.bindparam("ent_id"), Report.kind.in_(SELF_ISSUED_KINDS),
               Report.issued_at < sa.bindparam("before"), Report.issued_at >= sa.bindparam("since"))
    )
    union = sa.union_all(institutions, own).subquery()
    return sa.select(union).order_by(union.c.at.desc())


SELF_QUERY, BIDDING_QUERY = "self_query", "bidding_edition"  # the firm's own reports, by edition
OWN_QUERY_LABELS = {SELF_QUERY: "本企业自主查询", BIDDING_QUERY: "本企业出具招投标专用版"}
_QUERY_LOG = {include_self: Prepared(_query_log_stmt(include_self)) for include_self in (False, True)}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def query_records(session: Session, ent: Enterprise, *, include_self: bool, since: dt.datetime | None,
                  issued_before: dt.datetime) -> list[dict[str, Any]]:
    """Institution queries (the query log), newest first, in one statement; with
    ``include_self`` the firm's own self-queries too (the reports it issued itself, of
    either edition)."""
    return query_records_of(_QUERY_LOG[include_self].rows(session, query_log_params(ent, since, issued_before)), ent)


def query_log_params(ent: Enterprise, since: dt.datetime | None, issued_before: dt.datetime) -> dict[str, Any]:
    return {"ent_id": ent.id, "before": issued_before, "since": since or _EPOCH}


def query_records_of(rows: list[tuple[Any, ...]], ent: Enterprise) -> list[dict[str, Any]]:
    """The query records section from the rows of the query-log statement."""
    out = []
    for at, querier, kind, purpose, sections, resource in rows:
        own = kind == "self"
        out.append({"at": raw_stamp(at), "querier": ent.name if own else querier, "querier_type": kind,
                    "purpose": purpose,
                    "purpose_label": OWN_QUERY_LABELS.get(purpose, purpose) if own
                    else PURPOSE_LABELS.get(Purpose(purpose), purpose),
                    "sections": [] if sections is None else list(json_value(sections)),
                    "resource": resource})
    return out


def build_sections(session: Session, ent: Enterprise, sections: set[str], data_from: dt.date | None,
                   data_to: dt.date | None, *, as_of: dt.date | None = None, self_report: bool = False,
                   issued_at: dt.datetime | None = None, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The requested sections' data (and nothing else).  Disputed records are marked
    (``disputed: true``) wherever they appear.  ``meta``, when given, receives the sources
    (provider code → name and record count) and the latest update of the records shown."""
    as_of = as_of or clock.today()
    issued_at = issued_at or clock.now()
    out: dict[str, Any] = {}
    categories = {c for s in sections & RECORD_SECTIONS.keys() for c in RECORD_SECTIONS[s]}
    params = range_params(ent.id, categories, as_of, data_from, data_to)
    # Every statement the sections need, in one round trip where the database allows it.
    since = None if self_report else issued_at - dt.timedelta(days=QUERY_WINDOW_DAYS)
    wanted = {
        "records": (_RECORDS, params) if categories else None,
        "summary": (SUMMARY, params) if "summary" in sections and not categories >= ALL_CATEGORIES else None,
        "evaluation": (EVALUATIONS, {"ent_id": ent.id, "card_id": main_scorecard_id()})
        if "evaluation" in sections else None,
        "explanation": (CURRENT_EXPLANATION, {"ent_id": ent.id}) if "evaluation" in sections else None,
        "lists": (memberships.MEMBERSHIPS, {"ids": [ent.id]}) if "lists" in sections else None,
        "query_records": (_QUERY_LOG[self_report], query_log_params(ent, since, issued_at))
        if "query_records" in sections else None,
    }
    batch = {name: query for name, query in wanted.items() if query is not None}
    fetched = dict(zip(batch, run_batch(session, list(batch.values())), strict=True))
    rows = fetched.get("records", [])
    # The record dicts in one comprehension; the groups, sources, latest update and counts
    # per category (for the summary) by C-level passes over the rows (Counter, groupby).
    loads = orjson.loads
    records = [
        {"id": rid, "provider": provider, "provider_ref": ref, "category": category, "polarity": polarity,
         "severity": severity, "occurred_on": occurred if occurred.__class__ is str else occurred.isoformat(),
         "ended_on": None if ended is None else ended if ended.__class__ is str else ended.isoformat(),
         "expires_on": None if expires is None else expires if expires.__class__ is str else expires.isoformat(),
         "status": status, "disputed": status == "disputed", "version": version,
         "payload": None if payload is None else loads(payload) if payload.__class__ is str else payload}
        for (rid, provider, ref, category, polarity, severity, occurred, ended, expires, status, version, payload,
             _name, _updated) in rows
    ]
    # RECORDS is ordered by category first, so each category's records are one run.
    by_category = {category: list(group) for category, group in groupby(records, _CATEGORY)}
    # Sources, counts per category and polarity, and the latest update: C-level passes over
    # the rows' columns.
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(_RECORD_COLUMNS)
    pairs = list(zip(columns[3], columns[4], strict=True))
    sources = Counter(zip(columns[1], columns[12], strict=True))
    counted = Counter(pairs)
    disputed = Counter(compress(pairs, map("disputed".__eq__, columns[9])))
    updated_to = max(filter(None, columns[13]), default=None)
    if meta is not None:
        meta["sources"] = [{"provider": code, "name": name, "records": n} for (code, name), n in sorted(sources.items())]
        meta["updated_to"] = updated_to
    if "identity" in sections:
        out["identity"] = identity(ent)
    if "evaluation" in sections:
        # Adverse factors only over what the reader sees: a self-report, everything.
        out["evaluation"] = evaluation_of(fetched["evaluation"], fetched["explanation"], str(ent.segment),
                                          None if self_report else categories, lists_visible=self_report or "lists" in sections)
    if "summary" in sections:
        if categories >= ALL_CATEGORIES:  # every category loaded: counted above
            counts = [(cat, pol, n, disputed[(cat, pol)]) for (cat, pol), n in counted.items()]
        else:
            counts = [(cat, pol, n, d) for cat, pol, n, d in fetched["summary"]]
        out["summary"] = summary(counts)
    for section, cats in RECORD_SECTIONS.items():
        if section in sections:
            out[section] = [r for c in cats for r in by_category.get(c, ())] if len(cats) > 1 \
                else by_category.get(cats[0], [])
    if "lists" in sections:
        members = {name for _, name in fetched["lists"]}
        out["lists"] = [{"list": name, "label": LIST_LABELS.get(name, name)} for name in sorted(members)]
    if "objections" in sections:  # disputed records of the categories in scope (the rest is not ours to show)
        out["objections"] = [r for r in records if r["disputed"]]
    if "query_records" in sections:
        out["query_records"] = query_records_of(fetched["query_records"], ent)
    return out
