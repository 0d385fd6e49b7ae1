"""Certificate helpers: a firm with a current grade, its users, an operator, signed-in
clients with the CSRF header, and certificates taken through the procedure to a state."""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.services import create_user
from app.core import clock
from app.scoring.models import Evaluation
from tests.conftest import PASSWORD
from tests.consent.conftest import csrf_of


@pytest.fixture
def grade(db: Session) -> Any:
    """Give a firm a current evaluation with ``grade`` (NR without a score), as of today."""
    def do(ent: Any, grade: str, score: str = "85.00") -> Evaluation:
        db.execute(sa.update(Evaluation).where(Evaluation.enterprise_id == ent.id, Evaluation.current.is_(True))
                   .values(current=False))
        rated = grade != "NR"
        ev = Evaluation(enterprise_id=ent.id, scorecard_id="power-credit", scorecard_version="2.0",
                        as_of=clock.today(), score=Decimal(score) if rated else None, grade=grade,
                        uncapped_grade=grade if rated else None, supervision_class="A" if rated else None,
                        willingness=Decimal("80"), capability=Decimal("80"), performance=Decimal("80"),
                        explanation={}, inputs_digest=secrets.token_hex(32), record_count=0, current=True,
                        evaluated_at=clock.now())
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
def sign_in(client: Any, login: Any) -> Any:
    def do(user: Any) -> None:
        login(user)
        client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_of(client.get("/login").get_data(as_text=True))

    return do


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)
