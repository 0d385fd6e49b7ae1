"""Certificate helpers: a firm with a current grade, its users, an operator, signed-in
clients with the CSRF header, certificates taken through the procedure to a state, and the
black list entered the way oversight enters it (a record, a refresh, a publication)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from sqlalchemy.orm import Session

from app.accounts.services import create_institution, create_user
from app.archive.categories import CATEGORIES
from app.archive.ingestion import ingest_records
from app.certificates import rules as certificate_rules
from app.certificates import services
from app.certificates.models import Certificate
from app.core import clock
from app.scoring.models import Evaluation
from tests.conftest import PASSWORD
from tests.consent.conftest import csrf_of

OPERATOR = "user:operator-test"


@pytest.fixture(autouse=True)
def _default_rules(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts from the default rule (a test may set PC_CERTIFICATE_RULES and load)."""
    monkeypatch.delenv(certificate_rules.ENV, raising=False)
    certificate_rules.load()
    yield
    monkeypatch.delenv(certificate_rules.ENV, raising=False)
    certificate_rules.load()


@pytest.fixture
def keys(app: Any) -> Any:
    return app.extensions["pc_signing_keys"]


@pytest.fixture
def grade(db: Session) -> Any:
    """Give a firm a current evaluation with ``grade`` (NR without a score), as of ``days``
    days ago (30 by default: a procedure may begin in the past)."""
    def do(ent: Any, grade: str, score: str = "85.00", days: int = 30) -> Evaluation:
        db.execute(sa.update(Evaluation).where(Evaluation.enterprise_id == ent.id, Evaluation.current.is_(True))
                   .values(current=False))
        rated = grade != "NR"
        ev = Evaluation(enterprise_id=ent.id, scorecard_id="power-credit", scorecard_version="2.0",
                        as_of=clock.today() - dt.timedelta(days=days), score=Decimal(score) if rated else None,
                        grade=grade, uncapped_grade=grade if rated else None,
                        supervision_class="A" if rated else None, willingness=Decimal("80"),
                        capability=Decimal("80"), performance=Decimal("80"), explanation={},
                        inputs_digest=secrets.token_hex(32), record_count=0, current=True, evaluated_at=clock.now())
        db.add(ev)
        db.flush()
        return ev

    return do


@pytest.fixture
def firm_user(db: Session) -> Any:
    def make(ent: Any) -> Any:
        return create_user(db, username=f"firm-{secrets.token_hex(4)}", password=PASSWORD, role="firm",
                           enterprise_uscc=ent.uscc)

    return make


@pytest.fixture
def operator(make_user: Any) -> Any:
    return make_user("operator")


@pytest.fixture
def person(db: Session, make_user: Any, make_enterprise: Any) -> Any:
    """A signed-up user of any role: a bank officer, a tenderer (a procurement institution's),
    a group's credit manager (a power group's), an operator."""
    def make(role: str) -> Any:
        name = f"{role}-{secrets.token_hex(4)}"
        if role == "tenderer":
            licence = f"T{secrets.token_hex(5)}"
            create_institution(db, name="测试招标采购中心", licence_no=licence, kind="procurement")
            return create_user(db, username=name, password=PASSWORD, role=role, institution_licence=licence)
        if role == "group":
            parent = make_enterprise()
            licence = f"G{secrets.token_hex(5)}"
            create_institution(db, name="测试电力集团", licence_no=licence, kind="group", uscc=parent.uscc)
            return create_user(db, username=name, password=PASSWORD, role=role, institution_licence=licence)
        return make_user(role)

    return make


@pytest.fixture
def sign_in(client: Any, login: Any) -> Any:
    def do(user: Any) -> None:
        login(user)
        client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_of(client.get("/login").get_data(as_text=True))

    return do


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)


@pytest.fixture
def applied(db: Session, make_enterprise: Any, grade: Any, firm_user: Any) -> Any:
    """A firm graded ``g`` that has applied (``days_ago`` days ago): (certificate, firm, its user)."""
    def make(g: str = "AA", days_ago: float = 0) -> tuple[Certificate, Any, Any]:
        ent = make_enterprise()
        grade(ent, g)
        user = firm_user(ent)
        with time_machine.travel(clock.now() - days(days_ago), tick=False):
            cert = services.apply(db, user)
        return cert, ent, user

    return make


@pytest.fixture
def publicized(db: Session, applied: Any) -> Any:
    """A result evaluated and published ``days_ago`` days ago (its notice period runs from then)."""
    def make(g: str = "AA", days_ago: float = 0) -> tuple[Certificate, Any, Any]:
        cert, ent, user = applied(g, days_ago)
        with time_machine.travel(clock.now() - days(days_ago), tick=False):
            services.evaluate(db, cert.certificate_no, OPERATOR)
        assert cert.status == "publicized", cert.status_reason
        return cert, ent, user

    return make


@pytest.fixture
def issued(db: Session, publicized: Any, keys: Any) -> Any:
    """A certificate issued today (its notice period ran from eight days ago)."""
    def make(g: str = "AA") -> tuple[Certificate, Any, Any]:
        cert, ent, user = publicized(g, days_ago=8)
        services.issue(db, keys, cert.certificate_no, "job:test")
        assert cert.status == "issued", cert.status_reason
        return cert, ent, user

    return make


def dishonest_record(uscc: str, ref: str) -> dict[str, Any]:
    """A live 失信被执行人 record: a black-list criterion."""
    today = clock.today()
    return {"provider_ref": ref, "uscc": uscc, "category": "judicial",
            "payload": {"case_no": "(2026)浙0106执1号", "court": "杭州市西湖区人民法院",
                        "filed_on": (today - days(90)).isoformat(), "obligation": "支付货款 120 万元",
                        "performance": "none", "dishonest_conduct": "refuse_with_ability",
                        "published_on": (today - days(60)).isoformat()}}


@pytest.fixture
def black_list(db: Session, make_provider: Any) -> Any:
    """Put a firm on the black list as oversight does: a 失信被执行人 record filed, the lists
    refreshed for it, its entry published (which tells the certificates and re-grades it)."""
    from app.oversight import lists
    from app.oversight.models import ListEntry

    def do(ent: Any) -> Any:
        provider = make_provider(sorted(CATEGORIES))
        result = ingest_records(db, provider, [dishonest_record(ent.uscc, f"dishonest-{secrets.token_hex(3)}")])
        assert result.refused == 0
        lists.refresh(db, clock.today(), enterprise_ids=[ent.id])
        mine = list(db.scalars(sa.select(ListEntry.id).where(ListEntry.enterprise_id == ent.id,
                                                             ListEntry.list_name == "black",
                                                             ListEntry.status == "pending")))
        assert mine, "the firm did not meet the black list's criteria"
        return lists.publish(db, mine, actor=OPERATOR)

    return do


def reload(db: Session, cert: Certificate) -> Certificate:
    return db.scalars(sa.select(Certificate).where(Certificate.id == cert.id)
                      .execution_options(populate_existing=True)).one()
