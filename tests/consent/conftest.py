"""Consent test helpers: a bank with an OAuth client, a firm with its administrator, and
the steps of the flows (consent request, consent screen, code exchange, data fetch)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.accounts.models import Institution, User
from app.accounts.services import create_institution, create_user
from app.archive.models import Enterprise
from app.audit.models import AuditEvent
from app.oauth.models import OAuthClient
from app.oauth.services import register_bank_client
from consent.models import Consent
from tests.conftest import PASSWORD

REDIRECT = "https://bank.example.com/oauth/callback"
SECTIONS = ["identity", "evaluation", "tax", "contract", "utility"]


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def terms(**overrides: Any) -> dict[str, Any]:
    today = dt.date.today()
    body: dict[str, Any] = {
        "purpose": "loan_application", "scopes": list(SECTIONS),
        "data_range": {"from": (today - dt.timedelta(days=3 * 365)).isoformat(), "to": today.isoformat()},
        "valid_until": (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat(),
        "fetch_type": "one_time", "data_life": {"unit": "month", "value": 6},
    }
    body.update(overrides)
    return body


@dataclass
class Bank:
    institution: Institution
    oauth: OAuthClient
    secret: str
    http: FlaskClient

    @property
    def auth(self) -> dict[str, str]:
        return basic(self.oauth.client_id, self.secret)

    def cc_token(self, scope: str | None = "consents:write", consent_id: str | None = None) -> dict[str, Any]:
        data = {"grant_type": "client_credentials"}
        if scope:
            data["scope"] = scope
        if consent_id:
            data["consent_id"] = consent_id
        resp = self.http.post("/oauth/token", data=data, headers=self.auth)
        return {"status": resp.status_code, **(resp.get_json() or {})}

    def request_consent(self, uscc: str, **overrides: Any) -> dict[str, Any]:
        tok = self.cc_token()
        assert tok["status"] == 200, tok
        resp = self.http.post("/api/v1/consents", json={"uscc": uscc, **terms(**overrides)},
                              headers=bearer(tok["access_token"]))
        assert resp.status_code == 201, resp.get_json()
        assert resp.headers["Location"].endswith(f"/api/v1/consents/{resp.get_json()['consent_id']}")
        return dict(resp.get_json())

    def authorize_params(self, consent_id: str, challenge: str, **overrides: str) -> dict[str, str]:
        params = {"response_type": "code", "client_id": self.oauth.client_id, "redirect_uri": REDIRECT,
                  "state": "st-" + secrets.token_hex(4), "code_challenge": challenge,
                  "code_challenge_method": "S256", "consent_id": consent_id}
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def exchange(self, code: str, verifier: str | None, headers: dict[str, str] | None = None,
                 **extra: str) -> Any:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
        if verifier is not None:
            data["code_verifier"] = verifier
        data.update(extra)
        return self.http.post("/oauth/token", data=data, headers=self.auth if headers is None else headers)

    def fetch(self, token: str, uscc: str, purpose: str = "loan_application",
              sections: list[str] | None = None) -> Any:
        body: dict[str, Any] = {"uscc": uscc, "purpose": purpose}
        if sections is not None:
            body["sections"] = sections
        return self.http.post("/api/v1/data/fetch", json=body, headers=bearer(token))


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


def decide(http: FlaskClient, params: dict[str, str], decision: str = "approve") -> Any:
    """The firm's administrator (signed in) opens the consent screen and decides."""
    page = http.get("/oauth/authorize?" + urlencode(params))
    assert page.status_code == 200, page.get_data(as_text=True)[:800]
    return http.post("/oauth/authorize?" + urlencode(params),
                     data={"csrf_token": csrf_of(page.get_data(as_text=True)), "decision": decision})


def code_from(resp: Any) -> str:
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert "code" in query, resp.headers["Location"]
    return query["code"][0]


@pytest.fixture
def login(login: Any, client: FlaskClient) -> Any:
    """Sign in, then send the CSRF token (``X-CSRFToken``) with every request, as the pages'
    scripts would: cookie-authenticated API writes need it."""
    def do(user: User, password: str = PASSWORD) -> None:
        login(user, password)
        client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_of(client.get("/login").get_data(as_text=True))

    return do


@pytest.fixture
def bank(db: Session, client: FlaskClient) -> Bank:
    n = secrets.token_hex(4)
    inst = create_institution(db, name=f"测试银行{n}", licence_no=f"B{n}")
    oauth, secret = register_bank_client(db, inst, name="测试银行信贷系统", redirect_uris=[REDIRECT])
    assert secret is not None
    return Bank(inst, oauth, secret, client)


@pytest.fixture
def other_bank(db: Session, client: FlaskClient) -> Bank:
    n = secrets.token_hex(4)
    inst = create_institution(db, name=f"另一家银行{n}", licence_no=f"O{n}")
    oauth, secret = register_bank_client(db, inst, name="另一家银行系统", redirect_uris=[REDIRECT])
    assert secret is not None
    return Bank(inst, oauth, secret, client)


@dataclass
class Firm:
    enterprise: Enterprise
    user: User


@pytest.fixture
def firm(db: Session, make_enterprise: Any) -> Firm:
    ent = make_enterprise()
    user = create_user(db, username=f"firm-{secrets.token_hex(4)}", password=PASSWORD, role="firm",
                       enterprise_uscc=ent.uscc)
    return Firm(ent, user)


@pytest.fixture
def active_token(bank: Bank, firm: Firm, login: Any, client: FlaskClient) -> Any:
    """Runs the whole flow; returns (consent_id, token response) for given terms."""
    def run(**overrides: Any) -> tuple[str, dict[str, Any]]:
        consent = bank.request_consent(firm.enterprise.uscc, **overrides)
        login(firm.user)
        verifier, challenge = pkce()
        code = code_from(decide(client, bank.authorize_params(consent["consent_id"], challenge)))
        resp = bank.exchange(code, verifier)
        assert resp.status_code == 200, resp.get_json()
        return consent["consent_id"], dict(resp.get_json())

    return run


def refusals(db: Session, code: str) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(sa.select(AuditEvent).where(AuditEvent.outcome == "refused", AuditEvent.code == code)))


def consent_row(db: Session, consent_id: str) -> Consent:
    db.expire_all()
    row = db.scalar(sa.select(Consent).where(Consent.consent_id == consent_id))
    assert row is not None
    return row
