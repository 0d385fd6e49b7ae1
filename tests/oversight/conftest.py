"""Oversight helpers: records of each kind that put a firm on a list, a firm with a current
grade, signed-in users with the CSRF header, and list refreshes at a given day."""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.services import create_user
from app.archive.categories import CATEGORIES
from app.archive.ingestion import ingest_records
from app.archive.models import CreditRecord
from app.core import clock
from app.scoring.models import Evaluation
from tests.conftest import PASSWORD
from tests.consent.conftest import csrf_of

TODAY = clock.today()


def days_ago(n: int) -> str:
    return (TODAY - dt.timedelta(days=n)).isoformat()


def dishonest(case: int = 1, published: int = 60) -> dict[str, Any]:
    return {"case_no": f"(2026)浙0106执{case}号", "court": "杭州市西湖区人民法院", "filed_on": days_ago(published + 30),
            "obligation": "支付货款 120 万元", "performance": "none", "dishonest_conduct": "refuse_with_ability",
            "published_on": days_ago(published)}


def serious_penalty(decided: int = 30, no: str = "浙能监罚〔2026〕1号") -> dict[str, Any]:
    decided_on = TODAY - dt.timedelta(days=decided)
    return {"decision_no": no, "violation_type": "违规调度", "facts": "未按调度指令运行造成电网事故", "legal_basis": "《电力监管条例》第三十一条",
            "penalty_types": ["fine"], "content": "罚款 50 万元", "fine_amount": "50", "decided_on": decided_on.isoformat(),
            "publish_until": clock.add_years(decided_on, 2).isoformat(), "authority": "国家能源局浙江监管办公室",
            "authority_uscc": "113300000000000199", "serious": True}


def tax(year: int, grade: str) -> dict[str, Any]:
    return {"year": year, "grade": grade}


def breached(due: int) -> dict[str, Any]:
    due_on = TODAY - dt.timedelta(days=due)
    return {"contract_no": f"HT-{due}", "counterparty_uscc": "91110000053621038D", "amount": "100000.00",
            "signed_on": (due_on - dt.timedelta(days=100)).isoformat(), "due_on": due_on.isoformat(),
            "status": "breached", "breach_amount": "30000.00"}


def arrears(months_ago: int, months: int) -> dict[str, Any]:
    first = TODAY.replace(day=1)
    for _ in range(months_ago):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    return {"month": first.strftime("%Y-%m"), "consumption_kwh": "12000", "amount_due": "8000.00", "status": "arrears",
            "arrears_amount": "8000.00", "arrears_months": months}


@pytest.fixture
def provider(make_provider: Any) -> Any:
    return make_provider(sorted(CATEGORIES))


@pytest.fixture
def add(db: Session, provider: Any) -> Any:
    """File one record for a firm through ingestion; its row."""
    def do(ent: Any, category: str, payload: dict[str, Any], ref: str | None = None) -> CreditRecord:
        ref = ref or f"{category}-{secrets.token_hex(4)}"
        result = ingest_records(db, provider, [{"provider_ref": ref, "uscc": ent.uscc, "category": category,
                                                "payload": payload}])
        assert result.refused == 0, result.refusals
        return db.get_one(CreditRecord, result.rows[0].record_id)

    return do


@pytest.fixture
def grade(db: Session) -> Any:
    """Give a firm a current evaluation with ``grade`` (evaluated ``days`` days ago)."""
    def do(ent: Any, grade: str, days: int = 0) -> Evaluation:
        db.execute(sa.update(Evaluation).where(Evaluation.enterprise_id == ent.id, Evaluation.current.is_(True))
                   .values(current=False))
        at = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        ev = Evaluation(enterprise_id=ent.id, scorecard_id="power-credit", scorecard_version="1.0", as_of=at.date(),
                        score=Decimal("85.00"), grade=grade, uncapped_grade=grade, supervision_class="A",
                        willingness=Decimal("80"), capability=Decimal("80"), performance=Decimal("80"),
                        explanation={}, inputs_digest=secrets.token_hex(32), record_count=0, current=True,
                        evaluated_at=at)
        db.add(ev)
        db.flush()
        return ev

    return do


@pytest.fixture
def sign_in(client: Any, login: Any) -> Any:
    def do(user: Any) -> None:
        login(user)
        client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_of(client.get("/login").get_data(as_text=True))

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
def refresh(db: Session) -> Any:
    from app.oversight import lists

    def do(ent: Any | None = None, as_of: dt.date | None = None) -> Any:
        return lists.refresh(db, as_of or TODAY, enterprise_ids=[ent.id] if ent is not None else None)

    return do


@pytest.fixture
def entries(db: Session) -> Any:
    from app.oversight.models import ListEntry

    def of(ent: Any, list_name: str | None = None) -> list[ListEntry]:
        stmt = sa.select(ListEntry).where(ListEntry.enterprise_id == ent.id).order_by(ListEntry.id)
        if list_name:
            stmt = stmt.where(ListEntry.list_name == list_name)
        return list(db.scalars(stmt.execution_options(populate_existing=True)))

    return of
