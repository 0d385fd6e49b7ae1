"""Creating, rotating and disabling a webhook endpoint are audit events (who, which endpoint)."""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.monitoring import webhooks
from app.monitoring.models import EndpointStatus
from app.monitoring.parties import party_of_user


def test_endpoint_changes_are_audited(app: Flask, db: Session, cipher: Any, make_user: Any) -> None:
    settings = dataclasses.replace(app.extensions["pc_settings"], webhook_allow_http=False)
    bank = party_of_user(make_user("bank"))
    ep, _ = webhooks.create_endpoint(db, cipher, bank, url="https://hooks.example.com/pc", events=[],
                                     description="", settings=settings)
    webhooks.rotate_secret(db, cipher, bank, ep.endpoint_id)
    webhooks.set_status(db, bank, ep.endpoint_id, EndpointStatus.disabled)
    events = db.execute(sa.select(AuditEvent.action, AuditEvent.actor).where(
        AuditEvent.subject_type == "webhook_endpoint", AuditEvent.subject_id == ep.endpoint_id)
        .order_by(AuditEvent.id)).all()
    assert events == [("webhook.endpoint_created", bank.actor), ("webhook.secret_rotated", bank.actor),
                      ("webhook.endpoint_disabled", bank.actor)]
