"""Evaluating firms: records loaded in bulk, the pure engine applied, results stored with
their scorecard version and input digest; an unchanged result is not stored twice."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from app.archive.models import (
    CATEGORY_LABELS,
    SEGMENT_LABELS,
    Category,
    Coverage,
    CreditRecord,
    DataProvider,
    Enterprise,
    Segment,
)
from app.core import clock, signals
from app.core.db import Page, paginate
from app.core.workers import gc_paused, make_pool
from app.scoring.engine import LIVE, FirmFact, Outcome, RecordFact, evaluate_facts
from app.scoring.errors import NotEvaluated, ScorecardNotApplicable
from app.scoring.models import Evaluation, EvaluationRun
from app.scoring.scorecard import (
    DIMENSIONS,
    GRADES,
    MEASURES,
    NOT_RATED,
    Scorecard,
    bundled_scorecards,
    load_scorecard,
    scorecard_by_version,
)

BATCH = 500  # firms per bulk load


CURRENT_SCORECARD = "power-v2.json"  # grades are made with this one; power-v1's stay as they were


@cache
def current_scorecard() -> Scorecard:
    return load_scorecard(name=CURRENT_SCORECARD)


def region_coverage(session: Session) -> dict[str, frozenset[str]]:
    """Per province ("*": everywhere), the categories some active provider covers for every
    firm registered there (coverage ``region``).  Providers that cover only the firms they
    report on add their categories firm by firm, from the records themselves."""
    out: dict[str, set[str]] = defaultdict(set)
    for categories, provinces in session.execute(
        sa.select(DataProvider.categories, DataProvider.provinces)
        .where(DataProvider.active.is_(True), DataProvider.coverage == Coverage.region.value)
    ):
        for code in provinces or ["*"]:
            out[code] |= set(categories)
    return {code: frozenset(cats) for code, cats in out.items()}


def covered_categories(coverage: dict[str, frozenset[str]], province: str | None,
                       records: Iterable[RecordFact]) -> frozenset[str]:
    """What some source covers for one firm: its province's regional providers, and every
    category a provider has sent a record of for it."""
    return (coverage.get("*", frozenset()) | coverage.get(province or "", frozenset())
            | {r.category for r in records})


# The red/black/watch lists each firm is on (the scorecard's caps read them: black list → C).
# The lists are oversight's, a layer above: it hands scoring the way to read them at start-up
# (``app.wiring``), and scoring refuses to grade without it rather than grade without caps.
MembershipSource = Callable[[Session, Sequence[int]], dict[int, set[str]]]
_membership_source: list[MembershipSource] = []


def set_membership_source(source: MembershipSource) -> None:
    _membership_source[:] = [source]


def list_memberships(session: Session, enterprise_ids: Sequence[int]) -> dict[int, set[str]]:
    """The lists each firm is on now, as the registered source reads them."""
    if not _membership_source:
        raise RuntimeError("list memberships are not wired: call app.wiring.wire() at start-up")
    return _membership_source[0](session, enterprise_ids)


@dataclass
class BatchStats:
    firms: int = 0
    evaluated: int = 0
    unchanged: int = 0


def _record_facts(session: Session, card: Scorecard, ids: Sequence[int]) -> dict[int, list[RecordFact]]:
    facts: dict[int, list[RecordFact]] = defaultdict(list)
    # Payloads only for the categories whose fields the scorecard reads; the content digest
    # stands for the rest in the evaluation's input digest.
    payload = sa.case((CreditRecord.category.in_(sorted(card.payload_categories())), CreditRecord.payload),
                      else_=sa.null()).label("payload")
    plain = sa.String()  # codes as plain strings: no enum conversion of millions of values
    rows = session.connection().execute(  # Core: plain rows, no ORM loading machinery
        sa.select(CreditRecord.id, CreditRecord.enterprise_id, sa.type_coerce(CreditRecord.category, plain),
                  sa.type_coerce(CreditRecord.polarity, plain), CreditRecord.severity, CreditRecord.occurred_on,
                  sa.type_coerce(CreditRecord.status, plain), payload, CreditRecord.content_digest)
        # No status filter here: with one, SQLite's planner picks the (status, expires_on)
        # index and reads every live record for each batch.  The engine drops non-live ones.
        .where(CreditRecord.enterprise_id.in_(ids), CreditRecord.category.in_(sorted(card.categories())))
    ).all()  # one fetchall; iterating a result fetches row by row
    for rid, ent_id, category, polarity, severity, occurred_on, status, body, digest in rows:
        facts[ent_id].append(RecordFact(rid, category, polarity, severity, occurred_on, status, body or {}, digest))
    return facts


def _dec(value: float | None, places: int = 2) -> Decimal | None:
    return None if value is None else Decimal(f"{value:.{places}f}")


def _row(ent_id: int, card: Scorecard, outcome: Outcome, as_of: dt.date, records: int) -> dict[str, object]:
    return {
        "enterprise_id": ent_id, "scorecard_id": card.id, "scorecard_version": card.version,
        "as_of": as_of, "score": _dec(outcome.score), "grade": outcome.grade,
        "uncapped_grade": outcome.uncapped_grade, "supervision_class": outcome.supervision_class,
        "willingness": _dec(outcome.dimensions["willingness"]),
        "capability": _dec(outcome.dimensions["capability"]),
        "performance": _dec(outcome.dimensions["performance"]),
        "coverage": _dec(outcome.coverage, 4),
        "explanation": outcome.explanation(), "inputs_digest": outcome.digest, "record_count": records,
        "current": True,
    }


# A batch of firms to evaluate: ids, firm facts (founded, capital, paid-in, segment, province),
# record facts, list memberships, regional coverage.
Job = tuple[list[int], dict[int, tuple[Any, ...]], dict[int, list[RecordFact]], dict[int, set[str]],
            dict[str, frozenset[str]]]


def compute(card: Scorecard, as_of: dt.date, job: Job) -> list[dict[str, object]]:
    """The pure part of a batch (in a worker process with ``workers``): one row per firm the
    scorecard serves (a firm of another segment is left as it is)."""
    part, firms, records, lists, coverage = job
    with_coverage = card.evidence is not None
    out = []
    for ent_id in part:
        facts = firms.get(ent_id)
        if facts is None:
            continue
        founded, capital, paid_in, segment, province = facts
        if segment not in card.serves:
            continue
        recs = [r for r in records.get(ent_id, ()) if r.status in LIVE]
        covered = covered_categories(coverage, province, recs) if with_coverage else None
        firm = FirmFact(founded, capital, paid_in if with_coverage else None, covered)
        outcome = evaluate_facts(card.for_segment(segment), firm, recs, lists.get(ent_id, set()), as_of)
        out.append(_row(ent_id, card, outcome, as_of, len(recs)))
    return out


_worker_card: Scorecard | None = None


def _hold_card(card: Scorecard) -> None:
    global _worker_card
    _worker_card = card


def _compute_in_worker(as_of: dt.date, job: Job) -> list[dict[str, object]]:
    assert _worker_card is not None
    return compute(_worker_card, as_of, job)


def _load(session: Session, card: Scorecard, part: list[int], coverage: dict[str, frozenset[str]] | None = None,
          firms: dict[int, tuple[Any, ...]] | None = None) -> Job:
    if firms is None:
        firms = {
            row[0]: tuple(row[1:])
            for row in session.connection().execute(
                sa.select(Enterprise.id, Enterprise.founded_on, Enterprise.registered_capital,
                          Enterprise.paid_in_capital, sa.type_coerce(Enterprise.segment, sa.String()),
                          Enterprise.province_code)
                .where(Enterprise.id.in_(part))
            )
        }
    if coverage is None:
        coverage = region_coverage(session) if card.evidence is not None else {}
    # RecordFacts as they are: NamedTuples pickle to worker processes as plain tuples do.
    return part, firms, _record_facts(session, card, part), list_memberships(session, part), coverage


def is_side_scorecard(card: Scorecard) -> bool:
    """A scorecard other than the one in use (a regional five-grade one, say): its evaluations
    are kept beside the firm's grade, never in its place (``current`` stays false)."""
    return card.id != current_scorecard().id


def _store_side(session: Session, card: Scorecard, part: list[int], rows: list[dict[str, object]],
                run: EvaluationRun | None, stats: BatchStats) -> None:
    latest: dict[int, str] = {}
    for ent_id, digest in session.execute(
        sa.select(Evaluation.enterprise_id, Evaluation.inputs_digest)
        .where(Evaluation.enterprise_id.in_(part), Evaluation.scorecard_id == card.id,
               Evaluation.scorecard_version == card.version)
        .order_by(Evaluation.evaluated_at, Evaluation.id)
    ):
        latest[ent_id] = digest
    now = clock.now()
    new_rows = []
    for row in rows:
        stats.firms += 1
        if latest.get(cast(int, row["enterprise_id"])) == row["inputs_digest"]:
            stats.unchanged += 1
            continue
        new_rows.append({**row, "current": False, "run_id": run.id if run else None, "evaluated_at": now})
        stats.evaluated += 1
    if new_rows:
        session.execute(sa.insert(Evaluation), new_rows)


def _store(session: Session, card: Scorecard, part: list[int], rows: list[dict[str, object]],
           run: EvaluationRun | None, stats: BatchStats) -> None:
    """Store the rows whose inputs (or scorecard version) changed; retire what they replace.
    A side scorecard's rows are stored beside the grade (``_store_side``)."""
    if is_side_scorecard(card):
        _store_side(session, card, part, rows, run, stats)
        return
    current = {
        ent_id: (eid, version, digest, grade, score)
        for eid, ent_id, version, digest, grade, score in session.execute(
            sa.select(Evaluation.id, Evaluation.enterprise_id, Evaluation.scorecard_version, Evaluation.inputs_digest,
                      Evaluation.grade, Evaluation.score)
            .where(Evaluation.enterprise_id.in_(part), Evaluation.current.is_(True))
        )
    }
    now = clock.now()
    new_rows, superseded, changes = [], [], []
    for row in rows:
        stats.firms += 1
        prev = current.get(cast(int, row["enterprise_id"]))
        if prev and prev[1] == card.version and prev[2] == row["inputs_digest"]:
            stats.unchanged += 1  # same inputs, same scorecard: the stored result stands
            continue
        if prev:
            superseded.append(prev[0])
            if prev[3] != row["grade"]:
                changes.append(_change(row, prev[3], prev[4]))
        new_rows.append({**row, "run_id": run.id if run else None, "evaluated_at": now})
        stats.evaluated += 1
    if changes:  # monitoring's events, in this transaction
        signals.grades_changed.send(None, session=session, changes=changes)
    if superseded:
        session.execute(sa.update(Evaluation).where(Evaluation.id.in_(superseded)).values(current=False))
    if new_rows:
        if len(new_rows) >= COPY_THRESHOLD and session.get_bind().dialect.name == "postgresql":
            _copy_evaluations(session, new_rows)
        else:
            session.execute(sa.insert(Evaluation), new_rows)


COPY_THRESHOLD = 50
_COPY_COLUMNS = ("enterprise_id", "run_id", "scorecard_id", "scorecard_version", "as_of", "score", "grade",
                 "uncapped_grade", "supervision_class", "willingness", "capability", "performance", "explanation",
                 "inputs_digest", "record_count", "current", "evaluated_at")


def _copy_evaluations(session: Session, rows: list[dict[str, object]]) -> None:
    """PostgreSQL: a batch of evaluations with one ``COPY`` in text format, the lines made
    here (the INSERT of 500 rows with their JSON explanations was a third of a batch).  Every
    value is a number, code, date or JSON; JSON escapes control characters, so only its
    backslashes need doubling for COPY."""
    def text(value: object) -> str:
        if value is None:
            return "\\N"
        if isinstance(value, bool):
            return "t" if value else "f"
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("\\", "\\\\")
        return str(value)

    lines = ["\t".join(text(row[c]) for c in _COPY_COLUMNS) + "\n" for row in rows]
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY evaluation ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy:
            copy.write("".join(lines))
    finally:
        cursor.close()


def evaluate_many(session: Session, enterprise_ids: Iterable[int], as_of: dt.date | None = None, *,
                  card: Scorecard | None = None, run: EvaluationRun | None = None, workers: int = 0,
                  on_progress: Callable[[BatchStats], None] | None = None) -> BatchStats:
    """Evaluate firms in batches of ``BATCH`` (three queries per batch, whatever its size).
    With ``workers`` > 1 and more than one batch, the engine runs in worker processes while
    this process loads the next batches and stores the results, in order."""
    card = card or current_scorecard()
    as_of = as_of or clock.today()
    stats = BatchStats()
    ids = list(enterprise_ids)
    parts = [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]

    def stored(part: list[int], rows: list[dict[str, object]]) -> None:
        _store(session, card, part, rows, run, stats)
        if on_progress is not None:
            on_progress(stats)

    coverage = region_coverage(session) if card.evidence is not None else {}
    if workers <= 1 or len(parts) < 2:
        with gc_paused():
            for part in parts:
                stored(part, compute(card, as_of, _load(session, card, part, coverage)))
    else:
        with make_pool(workers, _hold_card, (card,)) as pool:
            ahead: deque[tuple[list[int], Future[list[dict[str, object]]]]] = deque()
            for part in parts:
                ahead.append((part, pool.submit(_compute_in_worker, as_of, _load(session, card, part, coverage))))
                while len(ahead) > workers * 2 or (len(ahead) > workers and ahead[0][1].done()):
                    done_part, future = ahead.popleft()
                    stored(done_part, future.result())
            while ahead:
                done_part, future = ahead.popleft()
                stored(done_part, future.result())
    session.flush()
    return stats


def evaluate(session: Session, enterprise: Enterprise, as_of: dt.date | None = None,
             card: Scorecard | None = None) -> Evaluation:
    """Evaluate one firm; its current evaluation (new, or the stored one if nothing changed)."""
    card = card or current_scorecard()
    as_of = as_of or clock.today()
    if str(enterprise.segment) not in card.serves:
        raise ScorecardNotApplicable(f"评分卡 {card.id} {card.version} 不适用于企业 {enterprise.uscc} 所在板块")
    firm = {enterprise.id: (enterprise.founded_on, enterprise.registered_capital, enterprise.paid_in_capital,
                            str(enterprise.segment), enterprise.province_code)}
    [row] = compute(card, as_of, _load(session, card, [enterprise.id], firms=firm))
    if is_side_scorecard(card):  # beside the grade: the latest of this scorecard's, new or as it was
        _store_side(session, card, [enterprise.id], [row], None, BatchStats())
        session.flush()
        return session.scalars(sa.select(Evaluation).where(
            Evaluation.enterprise_id == enterprise.id, Evaluation.scorecard_id == card.id,
            Evaluation.scorecard_version == card.version).order_by(Evaluation.evaluated_at.desc(), Evaluation.id.desc())
            .limit(1)).one()
    # One statement both finds the current evaluation and, unless its version and digest are
    # the same as now, retires it.
    unchanged = sa.and_(Evaluation.scorecard_version == card.version,
                        Evaluation.inputs_digest == row["inputs_digest"])
    previous = session.execute(
        sa.update(Evaluation).where(Evaluation.enterprise_id == enterprise.id, Evaluation.current.is_(True))
        .values(current=unchanged).returning(Evaluation.id, Evaluation.current, Evaluation.grade, Evaluation.score)
        .execution_options(synchronize_session=False)
    ).first()
    if previous is not None:
        stale = session.identity_map.get(sa.inspect(Evaluation).identity_key_from_primary_key((previous.id,)))
        if stale is not None:
            session.expire(stale, ["current"])
        if previous.current:  # same inputs, same scorecard: the stored result stands
            return session.get_one(Evaluation, previous.id)
    created = session.scalars(sa.insert(Evaluation).returning(Evaluation),
                              [{**row, "run_id": None, "evaluated_at": clock.now()}]).one()
    session.flush()
    if previous is not None and previous.grade != created.grade:
        signals.grades_changed.send(None, session=session, changes=[_change(row, previous.grade, previous.score)])
    return created


def _change(row: dict[str, object], old_grade: str, old_score: Decimal | None) -> dict[str, object]:
    """A grade change as monitoring hears of it (plain data)."""
    score = row["score"]
    return {"enterprise_id": row["enterprise_id"], "old_grade": str(old_grade), "new_grade": str(row["grade"]),
            "old_score": None if old_score is None else str(old_score),
            "new_score": None if score is None else str(score), "as_of": str(row["as_of"])}


def current_evaluation(session: Session, enterprise: Enterprise) -> Evaluation:
    evaluation = session.scalars(
        sa.select(Evaluation).where(Evaluation.enterprise_id == enterprise.id, Evaluation.current.is_(True))
        .execution_options(populate_existing=True)
    ).one_or_none()
    if evaluation is None:
        raise NotEvaluated(f"企业 {enterprise.uscc} 尚未进行信用评价")
    return evaluation


def main_scorecard_id() -> str:
    """The id of the scorecard that grades (power-v1 and v2 share it); a side scorecard's
    evaluations are left out of the grade's history, the index and the lists' grade rules."""
    return current_scorecard().id


def timeline(session: Session, enterprise: Enterprise) -> list[Evaluation]:
    return list(session.scalars(
        sa.select(Evaluation).where(Evaluation.enterprise_id == enterprise.id,
                                    Evaluation.scorecard_id == main_scorecard_id())
        .order_by(Evaluation.evaluated_at, Evaluation.id)
    ))


def changed_enterprise_ids(session: Session) -> list[int]:
    """Firms with records and no current evaluation, or with records changed since it."""
    current = sa.select(Evaluation.enterprise_id, Evaluation.evaluated_at).where(
        Evaluation.current.is_(True)).subquery()
    query = (
        sa.select(CreditRecord.enterprise_id).distinct()
        .join(current, current.c.enterprise_id == CreditRecord.enterprise_id, isouter=True)
        .where(sa.or_(current.c.evaluated_at.is_(None), CreditRecord.updated_at > current.c.evaluated_at))
        .order_by(CreditRecord.enterprise_id)
    )
    return list(session.scalars(query))


def run_evaluations(session: Session, mode: str, enterprise_ids: Sequence[int] | None = None,
                    as_of: dt.date | None = None, card: Scorecard | None = None,
                    on_progress: Callable[[BatchStats], None] | None = None, workers: int = 0) -> EvaluationRun:
    """A recorded batch: every firm (``all``), the changed ones (``changed``) or the given ones
    (``single``, ``ingestion``)."""
    card = card or current_scorecard()
    as_of = as_of or clock.today()
    if mode == "all":
        ids = list(session.scalars(sa.select(Enterprise.id).order_by(Enterprise.id)))
    elif mode == "changed":
        ids = changed_enterprise_ids(session)
    else:
        ids = list(enterprise_ids or [])
    run = EvaluationRun(mode=mode, scorecard_id=card.id, scorecard_version=card.version, as_of=as_of, firms=len(ids))
    session.add(run)
    session.flush()
    stats = evaluate_many(session, ids, as_of, card=card, run=run, on_progress=on_progress, workers=workers)
    run.evaluated, run.unchanged, run.finished_at = stats.evaluated, stats.unchanged, clock.now()
    session.flush()
    return run


GRADES_AND_NR = (*GRADES, NOT_RATED)


def grade_distribution(session: Session, segment: str | None = None) -> dict[str, int]:
    """Current grades counted, every grade listed (zeros included) and NR (不予评级) last,
    optionally for one segment."""
    by_segment = segment_distribution(session)
    segments = [segment] if segment else list(by_segment)
    return {g: sum(by_segment.get(s, {}).get(g, 0) for s in segments) for g in GRADES_AND_NR}


def segment_distribution(session: Session) -> dict[str, dict[str, int]]:
    rows = session.execute(
        sa.select(Enterprise.segment, Evaluation.grade, sa.func.count())
        .join(Enterprise, Enterprise.id == Evaluation.enterprise_id)
        .where(Evaluation.current.is_(True)).group_by(Enterprise.segment, Evaluation.grade)
    )
    out: dict[str, dict[str, int]] = {}
    for seg, grade, n in rows:
        out.setdefault(str(seg), dict.fromkeys(GRADES_AND_NR, 0))[str(grade)] = n
    return out


def reevaluate_after_ingestion(session: Session, ingestion_run_id: int) -> EvaluationRun | None:
    """Re-evaluate the firms whose records an ingestion batch wrote or corrected."""
    ids = list(session.scalars(
        sa.select(CreditRecord.enterprise_id).distinct().where(CreditRecord.run_id == ingestion_run_id)
        .order_by(CreditRecord.enterprise_id)
    ))
    return run_evaluations(session, "ingestion", ids) if ids else None


def reevaluated_firms(session: Session, ingestion_run_id: int) -> int:
    """How many firms :func:`reevaluate_after_ingestion` re-evaluated (for ``submit_batch``)."""
    run = reevaluate_after_ingestion(session, ingestion_run_id)
    return run.firms if run is not None else 0


def firms_in_class(session: Session, supervision_class: str, page: int, per_page: int,
                   segment: str | None = None) -> Page[Any]:
    """Firms whose current evaluation puts them in a supervision class, lowest scores first
    (the ones a regulator looks at first), with their evaluation."""
    stmt = (
        sa.select(Evaluation).join(Enterprise, Enterprise.id == Evaluation.enterprise_id)
        .where(Evaluation.current.is_(True), Evaluation.supervision_class == supervision_class)
        .order_by(Evaluation.score, Enterprise.uscc)
        .options(joinedload(Evaluation.enterprise))
    )
    if segment:
        stmt = stmt.where(Enterprise.segment == segment)
    return paginate(session, stmt, page, per_page)


def list_runs(session: Session, page: int, per_page: int) -> Page[EvaluationRun]:
    """Evaluation batches, newest first (the operator's record of what ran)."""
    return paginate(session, sa.select(EvaluationRun).order_by(EvaluationRun.started_at.desc(),
                                                               EvaluationRun.id.desc()), page, per_page)


# --- the published scorecards (NEA plan: 标准、程序、结果 public) -------------------------------

def published_scorecards() -> list[dict[str, Any]]:
    """Every scorecard a grade can have been made with, newest last, and which one grades now."""
    now = current_scorecard().version
    return [{"id": c.id, "version": c.version, "name": c.name, "description": c.description, "in_use": c.version == now,
             "factors": len(c.factors), "digest": hashlib.sha256(c.digest_source.encode()).hexdigest()}
            for c in bundled_scorecards()]


def published_scorecard(version: str) -> dict[str, Any]:
    """One scorecard in full, in words a reader of the public page understands: each factor's
    weight within its dimension and in the score, what it measures, over which records and
    how long, its points, the grade thresholds with their supervision classes, and the caps."""
    card = scorecard_by_version(version)
    dimensions = []
    for key, label in DIMENSIONS.items():
        weight = card.dimension_weights[key]
        factors = [f for f in card.factors if f.dimension == key]
        dimensions.append({"key": key, "label": label, "weight": weight, "factors": [
            {"key": f.key, "label": f.label, "weight": f.weight, "weight_in_score": round(weight * f.weight, 6),
             "measure": f.measure, "measure_label": MEASURES[f.measure],
             "categories": [{"code": c, "label": CATEGORY_LABELS[Category(c)]} for c in f.categories],
             "bands": [{"from": b.start, "points": b.points} for b in f.bands], "map": f.map,
             "missing_points": f.missing_points, "lookback_years": f.lookback_years,
             "half_life_years": f.half_life_years, "reason": f.reason, "rules": factor_rules(f)} for f in factors]})
    rule = card.evidence
    return {"id": card.id, "version": card.version, "name": card.name, "description": card.description,
            "in_use": card.version == current_scorecard().version, "lookback_years": card.lookback_years,
            "digest": hashlib.sha256(card.digest_source.encode()).hexdigest(), "dimensions": dimensions,
            "grades": [{"grade": g, "min_score": m, "supervision_class": card.supervision[g]} for g, m in card.thresholds],
            "caps": [{"key": c.key, "label": c.label, "max_grade": c.max_grade} for c in card.caps],
            "evidence": None if rule is None else {
                "min_known_factors": rule.min_known_factors, "min_coverage": rule.min_coverage,
                "min_history_months": rule.min_history_months,
                "text": f"可评因子不少于 {rule.min_known_factors} 项、数据覆盖不低于 {rule.min_coverage:.0%}、信用记录历史不少于 "
                        f"{rule.min_history_months} 个月，否则不予评级（NR，信息不足）；有封顶情形时照常评级。"},
            "serves": [{"code": s, "label": SEGMENT_LABELS[Segment(s)]} for s in card.serves],
            "segments": [{"code": seg, "label": SEGMENT_LABELS[Segment(seg)],
                          "dimension_weights": variant.dimension_weights,
                          "factor_weights": {f.key: f.weight for f in variant.factors},
                          "grades": [{"grade": g, "min_score": m} for g, m in variant.thresholds]}
                         for seg, variant in card.variants.items()],
            "default_definition": vars(card.default_definition).copy()}


def factor_rules(f: Any) -> list[str]:
    """The special rules of a factor, in Chinese, for the published scorecard."""
    rules = []
    if f.valid_on_day:
        rules.append("只计评价日处于有效期内的记录")
    if f.distinct_by:
        rules.append("同一" + "、".join(f.distinct_by) + "只计一次")
    if f.weight_field:
        rules.append("按 " + f.weight_field + " 加权：" + "，".join(f"{k} {v:g}" for k, v in f.weight_map.items())
                     + f"，其他 {f.weight_default:g}")
    if f.measure == "timeliness":
        rules.append(f"逾期 {f.full_penalty_days} 天及以上或未履约按全额计，不足按天数比例折减")
    if f.min_months:
        rules.append(f"近一年与上一年各有 {f.min_months} 个月以上记录时才计算")
    if f.subscribed_ratio is not None:
        rules.append(f"实缴未知时按认缴资本的 {f.subscribed_ratio:.0%} 计")
    return rules
