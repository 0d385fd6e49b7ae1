"""Public disclosure (信用能源-style portal): what anyone may see of a firm without signing
in — registration facts, the current grade, list membership, 双公示 licences and
penalties within their publication period (and not ended by credit repair), and the
commitments it signed.  Everything is whitelisted here: no personal field, no payload
field beyond the national 双公示 standard's, no query log, no consent."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.archive.models import LIVE_STATUSES, SEGMENT_LABELS, Category, CreditRecord, Enterprise
from app.archive.regions import describe_region
from app.core import clock
from app.oversight.models import LIST_LABELS, Commitment, CommitmentText, EntryStatus, ListEntry
from app.scoring.models import Evaluation
from app.scoring.scorecard import GRADE_LABELS

# The 双公示 fields published for each category (national disclosure standard).
LICENCE_FIELDS = ("decision_doc_name", "decision_doc_no", "licence_category", "certificate_name", "certificate_no",
                  "content", "decided_on", "valid_from", "valid_to", "authority", "authority_uscc", "status",
                  "data_source")
PENALTY_FIELDS = ("decision_no", "violation_type", "facts", "legal_basis", "penalty_types", "content", "fine_amount",
                  "confiscated_amount", "decided_on", "publish_until", "authority", "authority_uscc", "data_source")
ENTERPRISE_STATUS_LABELS = {"active": "存续", "cancelled": "注销", "revoked": "吊销"}


def _pick(payload: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: payload[k] for k in keys if payload.get(k) is not None}


def double_publicity(session: Session, ent: Enterprise, today: dt.date | None = None) -> dict[str, list[dict[str, Any]]]:
    """Licences in force and penalties within their publication period (公示期), newest first."""
    today = today or clock.today()
    rows = session.execute(
        sa.select(sa.type_coerce(CreditRecord.category, sa.String()), CreditRecord.payload, CreditRecord.occurred_on,
                  CreditRecord.disclosure_ended_on)
        .where(CreditRecord.enterprise_id == ent.id, CreditRecord.category.in_([Category.licence, Category.penalty]),
               CreditRecord.status.in_(list(LIVE_STATUSES)),
               sa.or_(CreditRecord.disclosure_ended_on.is_(None), CreditRecord.disclosure_ended_on > today))
        .order_by(CreditRecord.occurred_on.desc(), CreditRecord.id.desc())).all()
    licences, penalties = [], []
    for category, payload, _, _ in rows:
        payload = payload or {}
        if category == "licence":
            valid_to = payload.get("valid_to")
            if valid_to is None or str(valid_to) >= today.isoformat():
                licences.append(_pick(payload, LICENCE_FIELDS))
        elif str(payload.get("publish_until", "")) >= today.isoformat():
            penalties.append(_pick(payload, PENALTY_FIELDS))
    return {"licences": licences, "penalties": penalties}


def public_lists(session: Session, ent: Enterprise) -> list[dict[str, Any]]:
    return [{"list": str(e.list_name), "label": LIST_LABELS[e.list_name], "published_on": e.published_on,
             "ends_on": e.ends_on, "basis": [b["label"] for b in e.basis]}
            for e in session.scalars(sa.select(ListEntry).where(ListEntry.enterprise_id == ent.id,
                                                                ListEntry.status == EntryStatus.active)
                                     .order_by(ListEntry.published_on))]


def public_profile(session: Session, ent: Enterprise) -> dict[str, Any]:
    evaluation = session.execute(
        sa.select(Evaluation.grade, Evaluation.as_of, Evaluation.scorecard_version)
        .where(Evaluation.enterprise_id == ent.id, Evaluation.current.is_(True))).first()
    commitments = session.execute(
        sa.select(CommitmentText.title, CommitmentText.version, Commitment.signed_at, Commitment.commitment_no)
        .join(CommitmentText, CommitmentText.id == Commitment.text_id)
        .where(Commitment.enterprise_id == ent.id).order_by(Commitment.signed_at.desc())).all()
    return {
        "uscc": ent.uscc, "name": ent.name, "segment": str(ent.segment), "segment_label": SEGMENT_LABELS[ent.segment],
        "region_code": ent.region_code, "region": describe_region(ent.region_code),
        "registered_capital": ent.registered_capital, "founded_on": ent.founded_on, "status": str(ent.status),
        "status_label": ENTERPRISE_STATUS_LABELS.get(str(ent.status), str(ent.status)),
        "grade": evaluation.grade if evaluation else None,
        "grade_label": GRADE_LABELS.get(evaluation.grade) if evaluation else None,
        "grade_as_of": evaluation.as_of if evaluation else None,
        "scorecard_version": evaluation.scorecard_version if evaluation else None,
        "lists": public_lists(session, ent),
        "commitments": [{"title": t, "version": v, "signed_at": at, "commitment_no": no}
                        for t, v, at, no in commitments],
        **double_publicity(session, ent),
    }
