"""Report sections read from the archive for one firm within a consent's data range.

The one place that turns report sections (``consent.models.REPORT_SECTIONS``) into data;
it is only ever called after the consent gate (``consent.services.authorize_access``)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from app.archive.models import LIVE_STATUSES, CreditRecord, Enterprise, RecordStatus
from app.archive.schemas import EnterprisePublicSchema, RecordOutSchema
from app.errors import DomainError
from app.scoring import services as scoring
from consent.models import PURPOSE_LABELS, QueryLog

# Sections made of archive records, and their record categories.
RECORD_SECTIONS = {
    "tax": ["tax"], "contract": ["contract"], "quality": ["quality"], "safety": ["safety"],
    "environment": ["environment"], "licence_penalty": ["licence", "penalty"], "judicial": ["judicial"],
    "bidding": ["bidding"], "loan": ["loan"], "honour": ["honour"], "commitment": ["commitment"],
    "utility": ["utility"],
}


def _records(session: Session, ent: Enterprise, data_from: dt.date, data_to: dt.date) -> list[CreditRecord]:
    return list(session.scalars(
        sa.select(CreditRecord).options(joinedload(CreditRecord.provider))
        .where(CreditRecord.enterprise_id == ent.id, CreditRecord.status.in_(list(LIVE_STATUSES)),
               CreditRecord.occurred_on >= data_from, CreditRecord.occurred_on <= data_to)
        .order_by(CreditRecord.category, CreditRecord.occurred_on.desc(), CreditRecord.id)
    ))


def build_sections(session: Session, ent: Enterprise, sections: set[str], data_from: dt.date,
                   data_to: dt.date) -> dict[str, Any]:
    """The requested sections' data.  Disputed records are marked (``disputed: true``)
    wherever they appear."""
    out: dict[str, Any] = {}
    records = _records(session, ent, data_from, data_to) if sections - {"identity", "evaluation", "lists",
                                                                        "query_records"} else []
    dump = RecordOutSchema(many=True).dump
    if "identity" in sections:
        out["identity"] = EnterprisePublicSchema().dump(ent)
    if "evaluation" in sections:
        try:
            ev = scoring.current_evaluation(session, ent)
        except DomainError:
            out["evaluation"] = None
        else:
            out["evaluation"] = {
                "grade": ev.grade, "score": str(ev.score), "supervision_class": ev.supervision_class,
                "dimensions": {"willingness": str(ev.willingness), "capability": str(ev.capability),
                               "performance": str(ev.performance)},
                "scorecard_version": ev.scorecard_version, "as_of": ev.as_of.isoformat(),
            }
    for section, categories in RECORD_SECTIONS.items():
        if section in sections:
            out[section] = dump([r for r in records if r.category in categories])
    if "summary" in sections:
        counts = Counter((str(r.category), str(r.polarity)) for r in records)
        out["summary"] = [{"category": c, "polarity": p, "count": n} for (c, p), n in sorted(counts.items())]
    if "objections" in sections:
        out["objections"] = dump([r for r in records if r.status == RecordStatus.disputed])
    if "lists" in sections:
        out["lists"] = sorted(scoring.list_memberships(session, [ent.id]).get(ent.id, set()))
    if "query_records" in sections:
        logs = session.scalars(sa.select(QueryLog).where(QueryLog.enterprise_id == ent.id)
                               .order_by(QueryLog.at.desc()).limit(500))
        out["query_records"] = [{"at": q.at.isoformat(), "institution": q.institution.name,
                                 "purpose": str(q.purpose), "purpose_label": PURPOSE_LABELS[q.purpose]}
                                for q in logs]
    return out
