"""The demo's monitoring: each bank watches the firms that granted it a 贷后管理 consent, the
demo firm watches itself, each group watches all its subsidiaries; the seed's events (its
batches, grades, lists, objections) are then dispatched, so every inbox has alerts."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Institution, InstitutionKind
from app.archive.models import Enterprise
from app.core import clock
from app.monitoring import services
from app.monitoring.parties import Party
from consent.models import Consent, ConsentStatus, Purpose


def seed_monitoring(session: Session, demo_enterprise_id: int | None) -> int:
    """Subscriptions for the demo's parties, then every pending event dispatched; the
    subscriptions made."""
    made = 0
    now = clock.now()
    watched = session.execute(
        sa.select(Consent.institution_id, Enterprise.uscc).join(Enterprise, Enterprise.id == Consent.enterprise_id)
        .where(Consent.purpose == Purpose.post_loan_monitoring, Consent.status == ConsentStatus.active,
               Consent.valid_from <= now, Consent.valid_until > now).order_by(Consent.id)).all()
    for institution_id, uscc in watched:
        services.subscribe(session, Party("bank", institution_id=institution_id, actor="seed"), uscc=uscc, events=[])
        made += 1
    groups = session.execute(sa.select(Institution.id, Enterprise.id, Enterprise.uscc)
                             .join(Enterprise, Enterprise.uscc == Institution.uscc)
                             .where(Institution.kind == InstitutionKind.group).order_by(Institution.id)).all()
    for institution_id, parent_id, uscc in groups:
        services.subscribe(session, Party("group", institution_id=institution_id, enterprise_id=parent_id,
                                          actor="seed"), uscc=uscc, events=[], include_subsidiaries=True)
        made += 1
    if demo_enterprise_id is not None:
        firm = session.get_one(Enterprise, demo_enterprise_id)
        services.subscribe(session, Party("firm", enterprise_id=firm.id, actor="seed"), uscc=firm.uscc, events=[])
        made += 1
    while services.dispatch(session) > 0:
        pass
    return made
