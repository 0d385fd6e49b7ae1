"""What other packages read: a firm's certificate on a day, and the firms holding one in force."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy.orm import Session

from app.certificates.models import Certificate, CertificateStatus
from app.certificates.services import current_certificate, valid_certificate_firms
from app.core import clock


def _certificate(db: Session, ent: Any, status: CertificateStatus, valid_from: dt.date | None,
                 valid_until: dt.date | None, issued_days_ago: int = 10) -> Certificate:
    cert = Certificate(certificate_no=f"PCC2026{secrets.token_hex(6).upper()}", enterprise_id=ent.id, status=status,
                       grade="AA", valid_from=valid_from, valid_until=valid_until,
                       issued_at=clock.now() - dt.timedelta(days=issued_days_ago) if valid_from else None)
    db.add(cert)
    db.flush()
    return cert


def test_the_certificate_on_a_day_is_the_issued_or_suspended_one_whose_validity_covers_it(db, make_enterprise):
    ent, other = make_enterprise(), make_enterprise()
    today = clock.today()
    until = today + dt.timedelta(days=30)
    _certificate(db, ent, CertificateStatus.revoked, today - dt.timedelta(days=400), until, 400)
    _certificate(db, ent, CertificateStatus.applied, None, None)
    held = _certificate(db, ent, CertificateStatus.suspended, today - dt.timedelta(days=5), until)
    assert current_certificate(db, ent.id, today) is held
    assert current_certificate(db, ent.id, until) is held  # the last day of its validity counts
    assert current_certificate(db, ent.id, until + dt.timedelta(days=1)) is None
    assert current_certificate(db, ent.id, today - dt.timedelta(days=6)) is None  # before it began
    assert current_certificate(db, other.id, today) is None
    # A suspended certificate is held but not in force: the screening rule wants one in force.
    assert valid_certificate_firms(db, [ent.id, other.id], today) == set()
    held.status = CertificateStatus.issued
    db.flush()
    assert valid_certificate_firms(db, [ent.id, other.id], today) == {ent.id}
    assert valid_certificate_firms(db, [ent.id], until + dt.timedelta(days=1)) == set()  # past its validity
    assert valid_certificate_firms(db, [], today) == set()


def test_the_newest_of_two_held_certificates_is_the_current_one(db, make_enterprise):
    ent = make_enterprise()
    today = clock.today()
    _certificate(db, ent, CertificateStatus.issued, today - dt.timedelta(days=900), today + dt.timedelta(days=5), 900)
    newer = _certificate(db, ent, CertificateStatus.issued, today - dt.timedelta(days=2), today + dt.timedelta(days=1000), 2)
    assert current_certificate(db, ent.id, today) is newer
