"""The demo's certificates (app.demo.certificates): every state the pages show, each issued one
verifying, made the same way from the same seed and clock, and a rerun adds nothing."""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from app.certificates import services
from app.certificates.models import Certificate, CertificateObjection
from app.core import clock
from app.demo.certificates import seed_certificates
from app.scoring.models import Evaluation

GRADES = ["AAA", "AA", "A", "AA", "A", "AAA", "AA", "A", "AA", "A", "AAA", "AA", "A", "AA", "BBB", "B"]


def history(db: Any, ent: Any, grade: str) -> None:
    """A month-end evaluation of a year and more ago (what a past application was evaluated on)."""
    db.add(Evaluation(enterprise_id=ent.id, scorecard_id="power-credit", scorecard_version="2.0",
                      as_of=clock.today() - dt.timedelta(days=400), score=Decimal("80.00"), grade=grade,
                      uncapped_grade=grade, supervision_class="A", explanation={}, inputs_digest=secrets.token_hex(32),
                      record_count=0, current=False, evaluated_at=clock.now() - dt.timedelta(days=400)))


def world(db: Any, make_enterprise: Any, grade: Any, person: Any) -> list[Any]:
    firms = []
    for g in GRADES:
        ent = make_enterprise()
        grade(ent, g)
        history(db, ent, g)
        firms.append(ent)
    db.flush()
    person("operator")
    person("bank")
    return firms


def states(db: Any) -> list[tuple[int, str, str | None]]:
    return [(c.enterprise_id, str(c.status), c.issued_at.isoformat() if c.issued_at else None)
            for c in db.scalars(sa.select(Certificate).order_by(Certificate.enterprise_id, Certificate.applied_at))]


def test_the_demo_makes_every_state_deterministically_and_once(db, make_enterprise, grade, person, keys):
    firms = world(db, make_enterprise, grade, person)
    start = clock.at_cn(clock.today(), 9)
    savepoint = db.begin_nested()
    with clock.simulated(start):
        counts = seed_certificates(db, keys, 2026, firms[0].id)
    first = states(db)
    savepoint.rollback()
    with clock.simulated(start):
        again = seed_certificates(db, keys, 2026, firms[0].id)
    assert states(db) == first and again == counts  # the same seed and clock, the same certificates
    for status in ("issued", "publicized", "applied", "rejected", "suspended", "revoked"):
        assert counts.get(status, 0) >= 1, counts
    demo_firm = services.current_certificate(db, firms[0].id, clock.today())
    assert demo_firm is not None and demo_firm.status == "issued"  # the demo firm's page shows one
    open_objections = db.scalars(sa.select(CertificateObjection).where(CertificateObjection.status == "open")).all()
    assert open_objections and all(services.get_certificate(db, services.certificate_of(db, o).certificate_no)
                                   .status == "publicized" for o in open_objections)
    # One result's notice has ended with its objection still open: the operator's walk-through
    # (resolve the objection, then issue) works on the demo whatever its date.
    waiting = [services.certificate_of(db, o) for o in open_objections]
    assert any(c.notice_until is not None and c.notice_until < clock.now() for c in waiting)
    for cert in db.scalars(sa.select(Certificate).where(Certificate.issued_at.is_not(None))):
        facts = services.verification(db, keys, cert.certificate_no, cert.digest)
        assert facts["signature_valid"] is True and facts["digest_matches"] is True
        assert cert.issued_at <= clock.now() and cert.valid_from <= clock.today()
        events = services.events_of(db, cert)
        assert [e.at for e in events] == sorted(e.at for e in events)  # each step on the clock as it was
    with clock.simulated(start + dt.timedelta(hours=1)):
        assert seed_certificates(db, keys, 2026, firms[0].id) == counts  # a rerun adds nothing
    assert not [c for c in db.scalars(sa.select(Certificate)) if c.enterprise_id in (firms[-1].id, firms[-2].id)]
