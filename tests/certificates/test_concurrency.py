"""Two changes racing in two transactions (two servers, a job and an operator): one applies, the
other is refused or skipped — never a certificate issued twice, nor issued and revoked both by
stale reads. On committed databases of their own, both backends."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import time_machine

from app.accounts.models import User
from app.accounts.services import create_user
from app.archive.services import load_enterprise, register_enterprise
from app.archive.uscc import make_uscc
from app.certificates import services
from app.certificates.models import Certificate, CertificateEvent
from app.core import clock
from app.core.crypto import FieldCipher, KeyRing
from app.core.db import Database
from app.core.errors import DomainError
from app.core.signing import SigningKeys
from app.scoring.models import Evaluation


def _publicized(database: Database, days_ago: int) -> str:
    """A firm graded AA with a result published ``days_ago`` days ago (committed)."""
    code = make_uscc("9", "1", "330106", f"MA{secrets.token_hex(3).upper()}")
    with database.transaction() as session:
        ent, _ = register_enterprise(session, FieldCipher(KeyRing.generate()),
                                     load_enterprise({"uscc": code, "name": f"并发测试电力有限公司{code[-4:]}",
                                                      "segment": "supplier"}))
        session.add(Evaluation(enterprise_id=ent.id, scorecard_id="power-credit", scorecard_version="2.0",
                               as_of=clock.today() - dt.timedelta(days=40), score=Decimal("82.00"), grade="AA",
                               uncapped_grade="AA", supervision_class="A", explanation={},
                               inputs_digest=secrets.token_hex(32), record_count=0, current=True,
                               evaluated_at=clock.now()))
        user = create_user(session, username=f"firm-{secrets.token_hex(4)}", password="correct-horse-battery",
                           role="firm", enterprise_uscc=code)
        with time_machine.travel(clock.now() - dt.timedelta(days=days_ago), tick=False):
            cert = services.apply(session, user)
            services.evaluate(session, cert.certificate_no, "user:op")
        return cert.certificate_no


def _race(*works: Any) -> list[Any]:
    """Run each of ``works`` in a thread of its own, started together; what each returned or raised."""
    barrier = threading.Barrier(len(works))
    results: list[Any] = [None] * len(works)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = works[i]()
        except Exception as exc:  # noqa: BLE001 — the refused one is the point
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_two_issues_racing_issue_once(fresh_databases):
    database = Database(fresh_databases.new())
    keys = SigningKeys.generate()
    try:
        number = _publicized(database, days_ago=8)

        def issue() -> str:
            with database.transaction() as session:
                return str(services.issue(session, keys, number, "user:op").status)

        results = _race(issue, issue)
        assert sorted(map(str, results)).count("issued") == 1, results
        [refused] = [r for r in results if isinstance(r, DomainError)]
        assert refused.status == 409
        with database.transaction() as session:
            cert = session.scalars(sa.select(Certificate).where(Certificate.certificate_no == number)).one()
            issued = session.scalar(sa.select(sa.func.count()).select_from(CertificateEvent).where(
                CertificateEvent.certificate_pk == cert.id, CertificateEvent.to_status == "issued"))
            assert cert.status == "issued" and issued == 1
    finally:
        database.dispose()


def test_the_job_racing_an_operators_revocation_never_leaves_both(fresh_databases):
    database = Database(fresh_databases.new())
    keys = SigningKeys.generate()
    try:
        number = _publicized(database, days_ago=8)
        with database.transaction() as session:
            services.issue(session, keys, number, "user:op")
            operator = create_user(session, username=f"op-{secrets.token_hex(3)}", password="correct-horse-battery",
                                   role="operator")
            op_id = operator.id
            cert = session.scalars(sa.select(Certificate).where(Certificate.certificate_no == number)).one()
            cert_id = cert.id
            ent_id = cert.enterprise_id

        def revoke() -> str:
            with database.transaction() as session:
                return str(services.revoke(session, session.get_one(User, op_id), number, "撤销").status)

        def regrade() -> str:  # scoring re-grades the firm two steps down: the rule suspends
            with database.transaction() as session:
                return services.grades_changed(session, [{"enterprise_id": ent_id, "new_grade": "BB"}]).summary()

        results = _race(revoke, regrade)
        with database.transaction() as session:
            final = session.get_one(Certificate, cert_id)
            moves = [(e.from_status, e.to_status) for e in session.scalars(
                sa.select(CertificateEvent).where(CertificateEvent.certificate_pk == cert_id).order_by(CertificateEvent.id))]
        # Either the revocation came first (the rule then found nothing held to suspend) or the
        # suspension did (and the operator revoked the suspended certificate): never issued → both.
        assert final.status == "revoked", (results, moves)
        assert moves[-1][1] == "revoked" and moves.count(("issued", "revoked")) + moves.count(("suspended", "revoked")) == 1
    finally:
        database.dispose()

