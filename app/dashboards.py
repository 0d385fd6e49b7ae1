"""What each role's home page shows: the firm's grade and what moved it, the bank's work
queue, the operator's, in a handful of grouped queries each (no per-row lookups)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, defer, joinedload

from app.accounts.models import User
from app.archive.models import Enterprise, IngestionRun
from app.core import clock
from app.core.db import Page
from app.oversight import lists, notices
from app.oversight.models import EntryStatus, ListEntry, Objection, ObjectionStatus, RepairRequest
from app.scoring.models import Evaluation, EvaluationRun
from app.scoring.scorecard import GRADES
from app.scoring.services import main_scorecard_id
from consent.models import Consent, ConsentStatus, QueryLog
from marketplace.models import Application, ApplicationStatus, Offer, OfferStatus, Product
from reports.models import Report
from reports.services import Allowance, allowance, list_reports

DIMENSIONS = (("willingness", "守信意愿"), ("capability", "守信能力"), ("performance", "守信表现"))
OPEN_APPLICATIONS = (ApplicationStatus.submitted, ApplicationStatus.under_review, ApplicationStatus.approved,
                     ApplicationStatus.accepted)


def _counts(session: Session, column: Any, *where: Any) -> dict[str, int]:
    rows = session.execute(sa.select(sa.type_coerce(column, sa.String()), sa.func.count())
                           .where(*where).group_by(column)).all()
    return {str(k): int(n) for k, n in rows}


@dataclass
class FactorMove:
    """One factor of the current evaluation beside the previous one's."""

    key: str
    label: str
    dimension: str
    points: float | None  # None: not known (no source covers it; it counts for nothing)
    reason: str
    delta: float | None  # points gained (+) or lost (−) since the previous evaluation
    disputed: bool


@dataclass
class FirmHome:
    enterprise: Enterprise
    current: Evaluation | None
    previous: Evaluation | None
    history: list[Evaluation]
    factors: dict[str, list[FactorMove]]
    caps: list[dict[str, Any]]
    allowance: Allowance
    consents: dict[str, int]
    queries_90d: int
    open_objections: list[Objection]
    unread_notices: int
    list_entries: list[ListEntry]
    applications: dict[str, int]
    offers_waiting: int
    today: dt.date = field(default_factory=clock.today)

    @property
    def points(self) -> list[Evaluation]:
        """The grade history, one point per evaluation day (the last evaluation of the day)."""
        by_day: dict[dt.date, Evaluation] = {}
        for e in self.history:
            by_day[e.as_of] = e
        return [by_day[d] for d in sorted(by_day)]

    @property
    def rated_points(self) -> list[Evaluation]:
        """The history's points with a score (NR, 不予评级, has none to plot)."""
        return [e for e in self.points if e.score is not None]

    def dimension_delta(self, key: str) -> float | None:
        if self.current is None or self.previous is None:
            return None
        now, before = getattr(self.current, key), getattr(self.previous, key)
        return None if now is None or before is None else float(now) - float(before)


def _moves(current: Evaluation, previous: Evaluation | None) -> dict[str, list[FactorMove]]:
    before = {f["key"]: f for f in (previous.explanation.get("factors", []) if previous else [])}
    out: dict[str, list[FactorMove]] = {key: [] for key, _ in DIMENSIONS}
    for f in current.explanation.get("factors", []):
        old = before.get(f["key"])
        known = f.get("known", True)
        was_known = old is not None and old.get("known", True)
        out.setdefault(f["dimension"], []).append(FactorMove(
            key=f["key"], label=f["label"], dimension=f["dimension"], points=float(f["points"]) if known else None,
            reason=f["reason"],
            delta=round(float(f["points"]) - float(old["points"]), 2) if known and was_known and old else None,
            disputed=bool(f.get("disputed_ids"))))
    return out


def firm_home(session: Session, ent: Enterprise, free_reports: int) -> FirmHome:
    # Every evaluation for the chart and the comparison, without its explanation (the largest
    # column by far): only the current one's and the previous one's are read, when used.
    history = list(session.scalars(sa.select(Evaluation).options(defer(Evaluation.explanation))
                                   .where(Evaluation.enterprise_id == ent.id,
                                          Evaluation.scorecard_id == main_scorecard_id())
                                   .order_by(Evaluation.as_of, Evaluation.evaluated_at, Evaluation.id)))
    current = next((e for e in reversed(history) if e.current), None)
    previous = None
    if current is not None:  # the last evaluation of an earlier day (or, failing that, earlier that day)
        earlier = [e for e in history if e.id != current.id and e.evaluated_at <= current.evaluated_at]
        before_today = [e for e in earlier if e.as_of < current.as_of]
        candidates = before_today or earlier
        previous = candidates[-1] if candidates else None
    since = clock.now() - dt.timedelta(days=90)
    return FirmHome(
        enterprise=ent, current=current, previous=previous, history=history,
        factors=_moves(current, previous) if current else {},
        caps=list(current.explanation.get("caps", [])) if current else [],
        allowance=allowance(session, ent, free_reports),
        consents=_counts(session, Consent.status, Consent.enterprise_id == ent.id),
        queries_90d=session.scalar(sa.select(sa.func.count()).select_from(QueryLog)
                                   .where(QueryLog.enterprise_id == ent.id, QueryLog.at >= since)) or 0,
        open_objections=list(session.scalars(sa.select(Objection).where(Objection.enterprise_id == ent.id,
                                                                         Objection.status == ObjectionStatus.open)
                                             .order_by(Objection.due_on))),
        unread_notices=notices.unread_count(session, ent.id),
        list_entries=list(session.scalars(sa.select(ListEntry).where(ListEntry.enterprise_id == ent.id,
                                                                      ListEntry.status == EntryStatus.active))),
        applications=_counts(session, Application.status, Application.enterprise_id == ent.id),
        offers_waiting=session.scalar(sa.select(sa.func.count()).select_from(Offer).where(
            Offer.enterprise_id == ent.id, Offer.status == OfferStatus.sent,
            Offer.valid_until > clock.now())) or 0,
    )


@dataclass
class BankHome:
    consents: dict[str, int]
    pending_consents: list[Consent]
    reports: list[Report]
    reports_total: int
    products: dict[str, int]
    to_review: list[Application]
    applications: dict[str, int]
    offers: dict[str, int]


def bank_home(session: Session, user: User) -> BankHome:
    inst = user.institution_id
    # The first page of the bank's own list of pulled reports (a bank account without an institution has none).
    latest = list_reports(session, page=1, per_page=5, institution_id=inst) if inst is not None else Page([], 1, 5, 0)
    return BankHome(
        consents=_counts(session, Consent.status, Consent.institution_id == inst),
        pending_consents=list(session.scalars(sa.select(Consent).where(Consent.institution_id == inst,
                                                                        Consent.status == ConsentStatus.pending)
                                              .order_by(Consent.created_at.desc()).limit(5))),
        reports=list(latest.items),
        reports_total=latest.total,
        products=_counts(session, Product.status, Product.institution_id == inst),
        to_review=list(session.scalars(sa.select(Application).options(joinedload(Application.enterprise)).where(
            Application.institution_id == inst,
            Application.status.in_([ApplicationStatus.submitted, ApplicationStatus.under_review,
                                    ApplicationStatus.accepted]))
            .order_by(Application.created_at).limit(10))),
        applications=_counts(session, Application.status, Application.institution_id == inst),
        offers=_counts(session, Offer.status, Offer.institution_id == inst),
    )


@dataclass
class OperatorHome:
    open_objections: int
    overdue_objections: int
    next_due: list[Objection]
    repairs_waiting: int
    pending_list_changes: int
    list_counts: dict[str, dict[str, int]]
    ingestion_runs: list[IngestionRun]
    evaluation_runs: list[EvaluationRun]
    grades: dict[str, int]


def operator_home(session: Session) -> OperatorHome:
    today = clock.today()
    open_ = Objection.status == ObjectionStatus.open
    grades = _counts(session, Evaluation.grade, Evaluation.current.is_(True))
    return OperatorHome(
        open_objections=session.scalar(sa.select(sa.func.count()).select_from(Objection).where(open_)) or 0,
        overdue_objections=session.scalar(sa.select(sa.func.count()).select_from(Objection)
                                          .where(open_, Objection.due_on < today)) or 0,
        next_due=list(session.scalars(sa.select(Objection).where(open_).order_by(Objection.due_on).limit(5))),
        repairs_waiting=session.scalar(sa.select(sa.func.count()).select_from(RepairRequest)
                                       .where(RepairRequest.status == "submitted")) or 0,
        pending_list_changes=lists.pending(session, 1, 1).total,
        list_counts=lists.counts(session),
        ingestion_runs=list(session.scalars(sa.select(IngestionRun).order_by(IngestionRun.started_at.desc(),
                                                                              IngestionRun.id.desc()).limit(5))),
        evaluation_runs=list(session.scalars(sa.select(EvaluationRun).order_by(EvaluationRun.started_at.desc(),
                                                                                EvaluationRun.id.desc()).limit(5))),
        grades={g: grades.get(g, 0) for g in GRADES} | {"NR": grades.get("NR", 0)},
    )



@dataclass
class PublicHome:
    lists: dict[str, int]
    index: dict[str, Any] | None
    products: int


def public_home(session: Session) -> PublicHome:
    from app.scoring.index import latest_month, published_index
    from marketplace.services import live_catalogue

    month = latest_month(session)  # this month's, or the last month with evaluations
    rows = published_index(session, first=month, last=month) if month else []
    return PublicHome(lists={name: c["active"] for name, c in lists.counts(session).items()},
                      index=rows[-1] if rows else None, products=len(live_catalogue(session)))
