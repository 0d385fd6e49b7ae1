"""Marketplace helpers: a bank officer signed in (with the CSRF header cookie writes need),
a valid product body, and a firm with a given grade."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.accounts.services import create_user
from app.scoring.models import Evaluation
from tests.conftest import PASSWORD
from tests.consent.conftest import csrf_of


def product_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "电力信易贷", "type": "credit_loan", "min_grade": "AA",
        "amount_min": "100000", "amount_max": "3000000", "rate_min": "3.450", "rate_max": "5.800",
        "term_min": 1, "term_max": 36, "repayment_methods": ["on_demand", "equal_instalment"],
    }
    body.update(overrides)
    return body


@pytest.fixture
def sign_in(client: Any, login: Any) -> Any:
    def do(user: Any) -> None:
        login(user)
        client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_of(client.get("/login").get_data(as_text=True))

    return do


@pytest.fixture
def officer(make_user: Any) -> Any:
    return make_user("bank")


@pytest.fixture
def publish(client: Any, sign_in: Any, officer: Any) -> Any:
    """A bank officer creates a product and puts it live; returns its JSON."""
    def do(**overrides: Any) -> dict[str, Any]:
        sign_in(officer)
        resp = client.post("/api/v1/products", json=product_body(**overrides))
        assert resp.status_code == 201, resp.get_json()
        no = resp.get_json()["product_no"]
        live = client.post(f"/api/v1/products/{no}/status", json={"status": "live"})
        assert live.status_code == 200, live.get_json()
        return dict(live.get_json())

    return do


@pytest.fixture
def graded_firm(db: Session, make_enterprise: Any) -> Any:
    """A firm (and its administrator) whose current evaluation has ``grade``."""
    def make(grade: str | None, **enterprise: Any) -> Any:
        ent = make_enterprise(**enterprise)
        if grade is not None:
            rated = grade != "NR"  # NR (不予评级): no score, class or dimensions
            db.add(Evaluation(enterprise_id=ent.id, scorecard_id="power-credit", scorecard_version="1.0", as_of=ent.created_at.date(),
                              score=Decimal("85.00") if rated else None, grade=grade,
                              uncapped_grade=grade if rated else None, supervision_class="A" if rated else None,
                              willingness=Decimal("80") if rated else None, capability=Decimal("80") if rated else None,
                              performance=Decimal("80") if rated else None,
                              explanation={}, inputs_digest="0" * 64, record_count=0, current=True,
                              evaluated_at=ent.created_at))
            db.flush()
        user = create_user(db, username=f"firm-{secrets.token_hex(4)}", password=PASSWORD, role="firm",
                           enterprise_uscc=ent.uscc)
        return ent, user

    return make
