"""The demo's procurement (``app.demo.procurement``): the platform, its tenderer user and
client, the consents of a few rated firms, made once; the sample screening's bidders drawn
the same way for the same seed, and the sample screened once."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.accounts.models import Institution, User
from app.demo import procurement as demo
from app.oauth.models import OAuthClient
from app.procurement.models import Screening
from consent.models import Consent
from tests.conftest import PASSWORD


def test_the_platform_is_made_once_and_deterministically(db: Any, app: Flask, make_enterprise: Any,
                                                         grade: Any) -> None:
    firms = [make_enterprise() for _ in range(30)]
    for i, firm in enumerate(firms):
        grade(firm, "NR" if i % 10 == 0 else "A")
    signer = app.extensions["pc_signing_keys"]
    first = demo.seed_procurement(db, signer, 2026, PASSWORD)
    assert first.client is not None and first.client[1]
    assert len(first.consents) == demo.CONSENTING_FIRMS
    inst = db.scalars(sa.select(Institution).where(Institution.licence_no == demo.PLATFORM_LICENCE)).one()
    assert (inst.name, str(inst.kind)) == (demo.PLATFORM_NAME, "procurement")
    user = db.scalars(sa.select(User).where(User.username == demo.TENDERER_USERNAME)).one()
    assert (str(user.role), user.institution_id) == ("tenderer", inst.id)
    client = db.scalars(sa.select(OAuthClient).where(OAuthClient.institution_id == inst.id)).one()
    assert client.scope == "screening:write"
    consents = db.scalars(sa.select(Consent).where(Consent.institution_id == inst.id)).all()
    assert {str(c.purpose) for c in consents} == {"bid_qualification"}
    nr = {f.uscc for i, f in enumerate(firms) if i % 10 == 0}
    assert not nr & set(first.consents)  # rated firms only
    again = demo.seed_procurement(db, signer, 2026, PASSWORD)
    assert (again.client, again.consents) == (None, [])
    assert db.scalar(sa.select(sa.func.count()).select_from(Consent).where(Consent.institution_id == inst.id)) == 4
    assert demo.sample_bidders(db, 2026) == demo.sample_bidders(db, 2026)
    assert len(set(demo.sample_bidders(db, 2026))) == demo.SAMPLE_BIDDERS
    sample = demo.seed_sample_screening(db, signer, 2026)
    assert sample is not None and sample.total == demo.SAMPLE_BIDDERS
    assert demo.seed_sample_screening(db, signer, 2026) is sample  # once
    assert db.scalar(sa.select(sa.func.count()).select_from(Screening)) == 1
