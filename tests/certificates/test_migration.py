"""Migration 0022: an objection ended by the firm's withdrawal is ``closed`` (已终结), not
``dismissed`` (异议不成立); those closed as dismissed before move over, and back on a downgrade."""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.accounts.services import create_user
from app.archive.services import load_enterprise, register_enterprise
from app.archive.uscc import make_uscc
from app.certificates import services
from app.certificates.models import CertificateObjection
from app.core import clock, migrate
from app.core.crypto import FieldCipher, KeyRing
from app.core.db import Database
from app.scoring.models import Evaluation

PASSWORD = "correct-horse-battery"


def test_0022_moves_objections_ended_by_a_withdrawal_to_closed_and_back(fresh_databases):
    url = fresh_databases.new()
    database = Database(url)
    try:
        with database.transaction() as session:
            code = make_uscc("9", "1", "330106", "MA2C0220")
            ent, _ = register_enterprise(session, FieldCipher(KeyRing.generate()),
                                         load_enterprise({"uscc": code, "name": "迁移测试电力有限公司", "segment": "supplier"}))
            session.add(Evaluation(enterprise_id=ent.id, scorecard_id="power-credit", scorecard_version="2.0",
                                   as_of=clock.today() - dt.timedelta(days=30), score=Decimal("85.00"), grade="AA",
                                   uncapped_grade="AA", supervision_class="A", explanation={},
                                   inputs_digest=secrets.token_hex(32), record_count=0, current=True,
                                   evaluated_at=clock.now()))
            firm = create_user(session, username="firm-0022", password=PASSWORD, role="firm", enterprise_uscc=code)
            operator = create_user(session, username="op-0022", password=PASSWORD, role="operator")
            objector = create_user(session, username="op-0022-b", password=PASSWORD, role="operator")
            cert = services.apply(session, firm)
            services.evaluate(session, cert.certificate_no, services.actor_of(operator))
            judged = services.object_to(session, objector, cert.certificate_no, "第一件")
            services.resolve_objection(session, operator, judged.objection_no, "dismissed", "经核查，与事实不符")
            ended = services.object_to(session, objector, cert.certificate_no, "第二件")
            services.withdraw(session, firm, cert.certificate_no, None)
            numbers = (judged.objection_no, ended.objection_no)

        def statuses() -> list[str]:
            with database.session() as session:
                return [str(session.scalar(sa.select(CertificateObjection.status)
                                           .where(CertificateObjection.objection_no == n))) for n in numbers]

        assert statuses() == ["dismissed", "closed"]
        migrate.downgrade(url, rev="0021")  # as the code before stored them
        assert statuses() == ["dismissed", "dismissed"]
        with pytest.raises(sa.exc.IntegrityError), database.transaction() as session:  # the narrower CHECK
            session.execute(sa.text("UPDATE certificate_objection SET status = 'closed'"))
        migrate.upgrade(url)
        assert statuses() == ["dismissed", "closed"]  # the one an operator judged stays
        with pytest.raises(sa.exc.IntegrityError), database.transaction() as session:
            session.execute(sa.text("UPDATE certificate_objection SET status = 'lost'"))
    finally:
        database.dispose()
