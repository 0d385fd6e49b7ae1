"""Screening helpers: a procurement institution with its tenderer user and OAuth client, bidders
given a grade, records (penalties, 失信 judgments), list entries, certificates and
投标资格审查 consents, and the API called as the tenderer's system or its user."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.accounts.models import Institution, User
from app.accounts.services import create_institution, create_user
from app.archive.categories import CATEGORIES
from app.archive.ingestion import ingest_records
from app.archive.models import CreditRecord, Enterprise
from app.certificates.models import Certificate
from app.core import clock
from app.oauth.models import OAuthClient
from app.oauth.services import register_bank_client
from app.oversight.models import ListEntry
from app.scoring.models import Evaluation
from consent.models import Consent, FetchType, PeriodUnit, Purpose
from consent.services import Terms, grant_consent
from tests.conftest import PASSWORD
from tests.consent.conftest import basic, bearer, csrf_of

TODAY = clock.today()


def days_ago(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


@dataclass
class Tender:
    """A procurement institution: its tenderer user, its system's OAuth client and a token."""

    institution: Institution
    user: User
    oauth: OAuthClient
    secret: str
    http: FlaskClient

    def token(self, scope: str | None = None) -> str:
        data = {"grant_type": "client_credentials"}
        if scope:
            data["scope"] = scope
        resp = self.http.post("/oauth/token", data=data, headers=basic(self.oauth.client_id, self.secret))
        assert resp.status_code == 200, resp.get_json()
        return str(resp.get_json()["access_token"])

    def screen(self, codes: list[str], rules: dict[str, Any] | None = None, token: str | None = None,
               **extra: Any) -> Any:
        body: dict[str, Any] = {"tender_name": "2026 年第二批配网物资协议库存招标", "tender_no": "ZB-2026-0042",
                                "codes": codes, **extra}
        if rules is not None:
            body["rules"] = rules
        return self.http.post("/api/v1/screenings", json=body, headers=bearer(token or self.token()))


def make_tender(db: Session, http: FlaskClient, name: str = "某电力集团电子商务采购平台") -> Tender:
    licence = f"PROC{secrets.token_hex(4).upper()}"
    inst = create_institution(db, name=name, licence_no=licence, kind="procurement")
    user = create_user(db, username=f"tenderer-{secrets.token_hex(4)}", password=PASSWORD, role="tenderer",
                       institution_licence=licence)
    oauth, secret = register_bank_client(db, inst, name=f"{name} 招标系统", redirect_uris=[])
    assert secret is not None
    return Tender(inst, user, oauth, secret, http)


@pytest.fixture
def tender(db: Session, client: FlaskClient) -> Tender:
    return make_tender(db, client)


@pytest.fixture
def provider(make_provider: Any) -> Any:
    return make_provider(sorted(CATEGORIES))


@pytest.fixture
def add(db: Session, provider: Any) -> Any:
    """File one record for a firm through ingestion; its row."""
    def do(ent: Enterprise, category: str, payload: dict[str, Any]) -> CreditRecord:
        result = ingest_records(db, provider, [{"provider_ref": f"{category}-{secrets.token_hex(6)}", "uscc": ent.uscc,
                                                "category": category, "payload": payload}])
        assert result.refused == 0, [r.errors for r in result.rows if r.errors]
        return db.get_one(CreditRecord, result.rows[0].record_id)

    return do


@pytest.fixture
def grade(db: Session) -> Any:
    """Give a firm a current evaluation with ``grade`` as of ``as_of`` (NR: no score)."""
    def do(ent: Enterprise, grade: str, as_of: dt.date | None = None) -> Evaluation:
        db.execute(sa.update(Evaluation).where(Evaluation.enterprise_id == ent.id, Evaluation.current.is_(True))
                   .values(current=False))
        rated = grade != "NR"
        ev = Evaluation(enterprise_id=ent.id, scorecard_id="power-credit", scorecard_version="2.0",
                        as_of=as_of or days_ago(18), score=Decimal("75.00") if rated else None, grade=grade,
                        uncapped_grade=grade if rated else None, supervision_class="B" if rated else None,
                        willingness=Decimal("70"), capability=Decimal("70"), performance=Decimal("70"),
                        explanation={}, inputs_digest=secrets.token_hex(32), record_count=0, current=True,
                        evaluated_at=clock.now())
        db.add(ev)
        db.flush()
        return ev

    return do


def serious_penalty(decided_on: dt.date, no: str = "浙能监罚〔2026〕7号", publish_years: int = 2) -> dict[str, Any]:
    return {"decision_no": no, "violation_type": "违规调度", "facts": "未按调度指令运行造成电网事故",
            "legal_basis": "《电力监管条例》第三十一条", "penalty_types": ["fine"], "content": "罚款 50 万元",
            "fine_amount": "50", "decided_on": decided_on.isoformat(),
            "publish_until": clock.add_years(decided_on, publish_years).isoformat(),
            "authority": "国家能源局浙江监管办公室", "authority_uscc": "113300000000000199", "serious": True}


def dishonest(case: int, published: dt.date) -> dict[str, Any]:
    return {"case_no": f"(2026)浙0106执{case}号", "court": "杭州市西湖区人民法院",
            "filed_on": (published - dt.timedelta(days=30)).isoformat(), "obligation": "支付货款 120 万元",
            "performance": "none", "dishonest_conduct": "refuse_with_ability", "published_on": published.isoformat()}


@pytest.fixture
def listed(db: Session) -> Any:
    """Put a firm on a list now (a published entry whose basis names the given records)."""
    def do(ent: Enterprise, list_name: str, records: list[CreditRecord], criterion: str = "serious_penalty",
           label: str = "严重失信行为行政处罚", published: dt.date | None = None) -> ListEntry:
        published = published or days_ago(40)
        entry = ListEntry(list_name=list_name, enterprise_id=ent.id, status="active", criteria_version="1.1",
                          basis=[{"criterion": criterion, "label": label, "records": [r.id for r in records]}],
                          entered_on=published - dt.timedelta(days=2), published_on=published,
                          ends_on=clock.add_months(published, 36), published_by="operator")
        db.add(entry)
        db.flush()
        return entry

    return do


@pytest.fixture
def certificate(db: Session) -> Any:
    def do(ent: Enterprise, status: str = "issued", valid_until: dt.date | None = None,
           valid_from: dt.date | None = None) -> Certificate:
        cert = Certificate(certificate_no=f"PCC{TODAY:%Y%m%d}{secrets.token_hex(5).upper()}", enterprise_id=ent.id,
                           status=status, grade="AA", grade_as_of=days_ago(100), issued_at=clock.now(),
                           valid_from=valid_from or days_ago(90), valid_until=valid_until or clock.add_years(TODAY, 2),
                           status_changed_at=clock.now())
        db.add(cert)
        db.flush()
        return cert

    return do


@pytest.fixture
def firm_user(db: Session) -> Any:
    def make(ent: Enterprise) -> User:
        return create_user(db, username=f"firm-{secrets.token_hex(4)}", password=PASSWORD, role="firm",
                           enterprise_uscc=ent.uscc)

    return make


@pytest.fixture
def consent_to(db: Session, app: Flask, firm_user: Any) -> Any:
    """The firm grants the tenderer a 投标资格审查 consent (one-time unless ``periodic``), in
    force for ``days``."""
    def do(ent: Enterprise, inst: Institution, scopes: list[str] | None = None, periodic: bool = False,
           days: int = 60) -> Consent:
        now = clock.now().replace(microsecond=0)
        return grant_consent(db, app.extensions["pc_signing_keys"], firm_user(ent), institution=inst, terms=Terms(
            purpose=Purpose.bid_qualification, scopes=scopes or ["judicial", "licence_penalty"],
            data_from=clock.add_years(TODAY, -3), data_to=TODAY, valid_until=now + dt.timedelta(days=days),
            fetch_type=FetchType.periodic if periodic else FetchType.one_time,
            frequency_unit=PeriodUnit.month if periodic else None, frequency_value=5 if periodic else None,
            data_life_unit=PeriodUnit.month, data_life_value=6))

    return do


@pytest.fixture
def sign_in(client: FlaskClient, login: Any) -> Any:
    def do(user: User) -> None:
        login(user)
        client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_of(client.get("/login").get_data(as_text=True))

    return do


def row_of(body: dict[str, Any], uscc: str) -> dict[str, Any]:
    return next(r for r in body["screening"]["bidders"] if r["uscc"] == uscc)
