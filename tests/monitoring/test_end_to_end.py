"""From a provider's batch to a signed webhook at a bank's receiver, once; and nothing more
once the firm pauses the bank's consent, not even what was already queued."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.archive.ingestion import submit_batch
from app.monitoring import webhooks
from app.monitoring.models import DeliveryStatus, WebhookDelivery
from consent.models import ConsentStatus
from tests.monitoring.conftest import add_consent, dispatch
from tests.monitoring.test_events import late_contract
from tests.monitoring.test_webhooks import deliver, hook_settings, receiver, runtime  # noqa: F401 — fixtures


def test_a_batch_becomes_one_signed_delivery_and_a_paused_consent_stops_the_rest(
        db: Session, cipher: Any, make_enterprise: Any, make_bank: Any, make_provider: Any,
        receiver: Any, runtime: Any, hook_settings: Any) -> None:  # noqa: F811
    firm = make_enterprise()
    inst, bank = make_bank()
    consent = add_consent(db, firm, inst)
    from app.monitoring import services

    services.subscribe(db, bank, uscc=firm.uscc, events=[])
    endpoint, secret = webhooks.create_endpoint(db, cipher, bank, url=receiver.url(), events=["record.negative"],
                                                description="贷后系统", settings=hook_settings)
    provider = make_provider(["contract"])
    submit_batch(db, provider, [late_contract(firm.uscc, "e2e-1")], reevaluate=False)
    assert dispatch(db) == 1
    assert deliver(runtime, cipher, db) == 1
    [got] = receiver.received
    assert got.verifies_with(secret)
    body = got.json()
    assert body["type"] == "record.negative" and body["data"]["uscc"] == firm.uscc
    assert body["data"]["record"]["category"] == "contract"
    moment = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")  # one format: UTC, milliseconds
    assert moment.fullmatch(body["timestamp"]) and moment.fullmatch(body["data"]["occurred_at"])
    assert deliver(runtime, cipher, db) == 0 and len(receiver.received) == 1  # exactly once

    # A second event is queued, then the firm pauses the consent before it is sent.
    submit_batch(db, provider, [late_contract(firm.uscc, "e2e-2")], reevaluate=False)
    dispatch(db)
    consent.status = ConsentStatus.paused
    db.flush()
    deliver(runtime, cipher, db)
    assert len(receiver.received) == 1
    statuses = sorted(str(s) for s in db.scalars(sa.select(WebhookDelivery.status).where(
        WebhookDelivery.endpoint_pk == endpoint.id)))
    assert statuses == [str(DeliveryStatus.succeeded), str(DeliveryStatus.withheld)]
