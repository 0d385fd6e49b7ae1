"""Monitoring test helpers: a bank watching a firm under a consent, and dispatch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Institution
from app.accounts.services import create_institution
from app.archive.models import Enterprise
from app.core import clock
from app.monitoring import services
from app.monitoring.models import Alert, MonitoringEvent
from app.monitoring.parties import Party
from consent.models import Consent, ConsentStatus, FetchType, PeriodUnit

ALL_SECTIONS = ["identity", "evaluation", "summary", "tax", "contract", "quality", "safety", "environment",
                "licence_penalty", "judicial", "bidding", "loan", "honour", "commitment", "utility", "lists",
                "objections"]
_n = iter(range(10_000_000))


def add_consent(db: Session, firm: Enterprise, institution: Institution, purpose: str = "post_loan_monitoring",
                scopes: list[str] | None = None, status: ConsentStatus = ConsentStatus.active,
                days: int = 180) -> Consent:
    now = clock.now()
    consent = Consent(
        consent_id=f"cns_test_{next(_n)}", enterprise_id=firm.id, institution_id=institution.id, purpose=purpose,
        scopes=scopes or list(ALL_SECTIONS), data_from=clock.today() - dt.timedelta(days=365 * 3),
        data_to=clock.today(), valid_from=now - dt.timedelta(days=1), valid_until=now + dt.timedelta(days=days),
        fetch_type=FetchType.periodic, frequency_unit=PeriodUnit.month, frequency_value=10,
        data_life_unit=PeriodUnit.month, data_life_value=6, status=status, created_via="firm")
    db.add(consent)
    db.flush()
    return consent


@pytest.fixture
def make_bank(db: Session) -> Callable[..., tuple[Institution, Party]]:
    def make(kind: str = "bank") -> tuple[Institution, Party]:
        n = next(_n)
        inst = create_institution(db, name=f"监测测试银行{n}", licence_no=f"MON{n}", kind=kind)
        return inst, Party("bank", institution_id=inst.id, actor=f"client:test-{n}")

    return make


def dispatch(db: Session) -> int:
    total = 0
    while (n := services.dispatch(db)) > 0:
        total += n
    return total


def alerts_of(db: Session, party: Party, **filters: Any) -> list[Alert]:
    stmt = sa.select(Alert).where(party.owner_filter(Alert.institution_id, Alert.subscriber_enterprise_id))
    for key, value in filters.items():
        stmt = stmt.where(getattr(Alert, key) == value)
    return list(db.scalars(stmt.order_by(Alert.id)))


def pending_events(db: Session) -> list[MonitoringEvent]:
    return list(db.scalars(sa.select(MonitoringEvent).where(MonitoringEvent.dispatched_at.is_(None))
                           .order_by(MonitoringEvent.id)))
