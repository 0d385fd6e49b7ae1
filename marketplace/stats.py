"""Marketplace statistics as the national 信易贷 platform publishes them: applications,
approvals, amount disbursed and the average approved rate, in total and by bank, segment,
grade or month (Beijing time of the application).

Definitions: an application counts as approved once the bank approved it (whatever the firm
did next: accepted, declined, disbursed); the amount granted is the amount disbursed; the
average rate is the mean annual rate of the approved applications."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Institution
from app.archive.models import SEGMENT_LABELS, Enterprise, Segment
from app.core import clock
from marketplace.models import Application

DIMENSIONS = ("bank", "segment", "grade", "month")
DIMENSION_LABELS = {"bank": "金融机构", "segment": "所属领域", "grade": "信用等级", "month": "申请月份"}


def _bucket() -> dict[str, Any]:
    return {"applications": 0, "approvals": 0, "amount_granted": Decimal(0), "_rates": []}


def _finish(key: str, label: str, b: dict[str, Any]) -> dict[str, Any]:
    rates = b.pop("_rates")
    avg = (sum(rates) / len(rates)).quantize(Decimal("0.001"), ROUND_HALF_UP) if rates else None
    return {"key": key, "label": label, "applications": b["applications"], "approvals": b["approvals"],
            "approval_rate": (Decimal(b["approvals"]) / b["applications"]).quantize(Decimal("0.0001"), ROUND_HALF_UP)
            if b["applications"] else None,
            "amount_granted": f"{b['amount_granted']:.2f}", "average_rate": f"{avg}" if avg is not None else None}


def marketplace_stats(session: Session, by: str | None = None, month_from: str | None = None,
                      month_to: str | None = None, institution_id: int | None = None) -> dict[str, Any]:
    stmt = (
        sa.select(Application.created_at, Institution.licence_no, Institution.name,
                  sa.type_coerce(Enterprise.segment, sa.String()), Application.grade_at_application,
                  Application.offered_rate, Application.disbursed_amount)
        .join(Institution, Institution.id == Application.institution_id)
        .join(Enterprise, Enterprise.id == Application.enterprise_id)
    )
    if institution_id is not None:
        stmt = stmt.where(Application.institution_id == institution_id)
    total = _bucket()
    groups: dict[str, dict[str, Any]] = {}
    labels: dict[str, str] = {}
    for created, licence, bank, segment, grade, rate, disbursed in session.execute(stmt):
        month = created.astimezone(clock.BEIJING).strftime("%Y-%m")
        if (month_from and month < month_from) or (month_to and month > month_to):
            continue
        buckets = [total]
        if by:
            key, label = {"bank": (licence, bank), "segment": (segment, SEGMENT_LABELS.get(Segment(segment), segment)),
                          "grade": (grade or "未评价", grade or "未评价"), "month": (month, month)}[by]
            labels[key] = label
            buckets.append(groups.setdefault(key, _bucket()))
        for b in buckets:
            b["applications"] += 1
            if rate is not None:
                b["approvals"] += 1
                b["_rates"].append(Decimal(rate))
            if disbursed is not None:
                b["amount_granted"] += Decimal(disbursed)
    return {"by": by, "from": month_from, "to": month_to, "total": _finish("total", "合计", total),
            "groups": [_finish(k, labels[k], groups[k]) for k in sorted(groups)]}
