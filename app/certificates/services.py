"""信用等级证书 (grade certificates): the evaluation procedure and the certificate's life.

What other packages read: :func:`current_certificate` (a firm's certificate in force or
suspended on a day: the bidding edition of the report shows it) and
:func:`valid_certificate_firms` (which firms hold a certificate in force on a day: the
tenderers' screening rule "certificate required")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.certificates.models import Certificate, CertificateStatus

# A certificate that stands (in force, or suspended pending recovery): what a firm "holds".
HELD = (CertificateStatus.issued, CertificateStatus.suspended)


def current_certificate(session: Session, enterprise_id: int, day: dt.date) -> Certificate | None:
    """The firm's certificate on ``day``: issued or suspended, its validity covering the day
    (``valid_from <= day <= valid_until``); the most recently issued if there were several.
    ``None`` when the firm holds none (never applied, rejected, revoked, expired)."""
    return session.scalars(
        sa.select(Certificate)
        .where(Certificate.enterprise_id == enterprise_id, Certificate.status.in_(HELD),
               Certificate.valid_from <= day, Certificate.valid_until >= day)
        .order_by(Certificate.issued_at.desc(), Certificate.id.desc()).limit(1)
    ).first()


def valid_certificate_firms(session: Session, enterprise_ids: Iterable[int], day: dt.date) -> set[int]:
    """Those of ``enterprise_ids`` holding a certificate in force on ``day``: status issued
    (not suspended) and ``valid_from <= day <= valid_until``."""
    ids = sorted(set(enterprise_ids))
    if not ids:
        return set()
    return set(session.scalars(
        sa.select(Certificate.enterprise_id).distinct()
        .where(Certificate.enterprise_id.in_(ids), Certificate.status == CertificateStatus.issued,
               Certificate.valid_from <= day, Certificate.valid_until >= day)))
