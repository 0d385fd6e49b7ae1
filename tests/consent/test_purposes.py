"""Which purposes each kind of institution may hold: a lender the lending purposes, a power
group only 集团信用管理 (from its subsidiaries), a tenderer only 投标资格审查.  Offered so on
the firm's and the officer's forms, refused otherwise (422 naming ``purpose``) on the API and
the forms, and a consent made before the rule backs no code, no token and no access."""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import sqlalchemy as sa

from app.accounts.models import Institution, InstitutionKind
from app.accounts.services import create_institution, create_user
from app.archive.relations import Filer, file_relations
from consent.models import (
    LENDING_PURPOSES,
    Consent,
    ConsentStatus,
    Purpose,
    QueryLog,
    counterpart_label,
    counterparts_label,
    licence_label,
    purpose_fits,
    purposes_for,
    terms_for,
)
from tests.conftest import PASSWORD
from tests.consent.conftest import bearer, consent_row, csrf_of, pkce, refusals, terms


def _institution(db: Any, kind: str, uscc: str | None = None) -> Institution:
    n = secrets.token_hex(4).upper()
    names = {"procurement": "某集团电子商务采购平台", "group": "某电力集团有限公司", "guarantee": "某融资担保有限公司"}
    return create_institution(db, name=f"{names.get(kind, '某银行')}{n}", licence_no=f"K{n}", kind=kind, uscc=uscc)


@pytest.fixture
def procurement(db: Any) -> Institution:
    return _institution(db, "procurement")


@pytest.fixture
def group(db: Any, firm: Any, make_enterprise: Any) -> Institution:
    """A power group whose parent holds the test firm."""
    parent = make_enterprise()
    file_relations(db, Filer(operator="test"), [{"parent_uscc": parent.uscc, "child_uscc": firm.enterprise.uscc,
                                                  "kind": "wholly_owned", "valid_from": "2020-01-01"}])
    return _institution(db, "group", uscc=parent.uscc)


def _options(html: str, select: str) -> list[str]:
    block = re.search(rf'<select id="{select}" name="{select}".*?</select>', html, re.S)
    assert block, html[:2000]
    return re.findall(r'<option value="([^"]*)"', block.group())


def _consents(db: Any) -> int:
    return db.scalar(sa.select(sa.func.count()).select_from(Consent)) or 0


# --- the table --------------------------------------------------------------------------------

def test_each_kind_holds_only_its_purposes_and_every_purpose_has_a_holder() -> None:
    assert purposes_for("procurement") == (Purpose.bid_qualification,)
    assert purposes_for(InstitutionKind.group) == (Purpose.group_credit_management,)
    for kind in ("bank", "rural_bank", "finance_company", "guarantee", "leasing", "other"):
        assert purposes_for(kind) == LENDING_PURPOSES
        assert not purpose_fits(kind, "bid_qualification") and not purpose_fits(kind, "group_credit_management")
        assert counterpart_label(kind) == "金融机构" and licence_label(kind) == "金融许可证号"
    assert set(LENDING_PURPOSES) == set(Purpose) - {Purpose.bid_qualification, Purpose.group_credit_management}
    assert {p for k in InstitutionKind for p in purposes_for(k)} == set(Purpose)
    assert not purpose_fits("procurement", "loan_application") and not purpose_fits("group", "post_loan_monitoring")
    assert (counterpart_label("group"), counterpart_label("procurement"), licence_label("procurement")) == (
        "电力集团", "招标采购单位", "机构编号")
    assert counterparts_label(["bank", "leasing"]) == "金融机构"
    assert counterparts_label(["bank", "procurement"]) == counterparts_label([]) == "机构"


# --- the firm's own grant, by API ---------------------------------------------------------------

@pytest.mark.parametrize("kind, purpose", [
    ("bank", "bid_qualification"), ("bank", "group_credit_management"), ("guarantee", "bid_qualification"),
    ("procurement", "loan_application"), ("procurement", "post_loan_monitoring"),
    ("procurement", "group_credit_management"), ("group", "loan_application"), ("group", "bid_qualification"),
])
def test_a_firm_cannot_grant_a_purpose_the_institutions_kind_may_not_hold(kind, purpose, firm, group, client,
                                                                          login, db) -> None:
    inst = group if kind == "group" else _institution(db, kind)
    login(firm.user)
    resp = client.post("/api/v1/consents", json={"institution": inst.licence_no, **terms(purpose=purpose)})
    body = resp.get_json()
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json", body
    assert body["code"] == "purpose_not_permitted" and list(body["errors"]) == ["purpose"], body
    assert counterpart_label(inst.kind) in body["detail"] and inst.name in body["errors"]["purpose"][0]
    assert _consents(db) == 0
    assert [e.action for e in refusals(db, "purpose_not_permitted")] == ["consent.create"]


@pytest.mark.parametrize("kind, purpose", [
    ("procurement", "bid_qualification"), ("group", "group_credit_management"), ("bank", "supply_chain_finance"),
    ("bank", "post_loan_monitoring"), ("guarantee", "loan_application"), ("leasing", "credit_line_review"),
])
def test_a_firm_grants_each_kind_its_own_purposes(kind, purpose, firm, group, client, login, db) -> None:
    inst = group if kind == "group" else _institution(db, kind)
    login(firm.user)
    # the sections a purpose may cover (a tenderer's screening reads two: test_terms_by_purpose)
    scopes = [s for s in terms()["scopes"] if s in terms_for(purpose).offered] or list(terms_for(purpose).needed)
    resp = client.post("/api/v1/consents", json={"institution": inst.licence_no,
                                                 **terms(purpose=purpose, scopes=scopes)})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert (body["purpose"], body["status"]) == (purpose, "ACTIVE")
    assert (body["institution"]["kind"], body["institution"]["counterpart"]) == (kind, counterpart_label(kind))


def test_a_group_still_needs_the_firm_among_its_subsidiaries(firm, client, login, db, make_enterprise) -> None:
    stranger = _institution(db, "group", uscc=make_enterprise().uscc)
    login(firm.user)
    resp = client.post("/api/v1/consents", json={"institution": stranger.licence_no,
                                                 **terms(purpose="group_credit_management")})
    assert resp.status_code == 422 and list(resp.get_json()["errors"]) == ["institution"], resp.get_json()
    assert "子公司" in resp.get_json()["errors"]["institution"][0] and _consents(db) == 0


# --- the firm's grant page ------------------------------------------------------------------------

def test_the_grant_page_names_each_institution_by_its_kind_and_offers_only_its_purposes(
        bank, procurement, group, firm, client, login) -> None:
    login(firm.user)
    first = client.get("/consents/grant").get_data(as_text=True)
    assert "为机构授权" in first and "为金融机构授权" not in first
    for label in ("金融机构", "电力集团", "招标采购单位"):
        assert f'<optgroup label="{label}">' in first
    assert f"{procurement.name}（机构编号 {procurement.licence_no}）" in first
    assert f"{bank.institution.name}（金融许可证号 {bank.institution.licence_no}）" in first
    assert 'name="purpose"' not in first  # the institution first, then the purposes it may hold

    for inst, offered in ((procurement, ["bid_qualification"]), (group, ["group_credit_management"]),
                          (bank.institution, [str(p) for p in LENDING_PURPOSES])):
        page = client.get(f"/consents/grant?institution={inst.licence_no}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and f'name="institution" value="{inst.licence_no}"' in html
        assert _options(html, "purpose") == offered, inst.kind
        assert f"为{counterpart_label(inst.kind)}授权" in html
    assert "selected" in re.search(r'<option value="bid_qualification"[^>]*>', client.get(
        f"/consents/grant?institution={procurement.licence_no}").get_data(as_text=True)).group()
    unknown = client.get("/consents/grant?institution=NOSUCH")
    assert unknown.status_code == 422 and 'id="institution-err"' in unknown.get_data(as_text=True)


@pytest.mark.parametrize("purpose", ["loan_application", "group_credit_management"])
def test_the_grant_form_refuses_a_purpose_the_tenderer_may_not_hold(purpose, procurement, firm, client, login,
                                                                    db) -> None:
    login(firm.user)
    page = client.get(f"/consents/grant?institution={procurement.licence_no}").get_data(as_text=True)
    form = {"csrf_token": csrf_of(page), "institution": procurement.licence_no, "purpose": purpose,
            "scopes": ["judicial", "licence_penalty"], "data_from": "2024-01-01", "data_to": "2025-12-31",
            "valid_until": terms()["valid_until"][:10], "fetch_type": "one_time", "data_life_unit": "month",
            "data_life_value": "6"}
    resp = client.post("/consents/grant", data=form)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'id="purpose-err"' in html and "只能获得「投标资格审查」" in html
    assert _options(html, "purpose") == ["bid_qualification"]
    assert _consents(db) == 0 and [e.action for e in refusals(db, "purpose_not_permitted")] == ["consent.grant"]
    resp = client.post("/consents/grant", data={**form, "purpose": "bid_qualification"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    granted = db.scalars(sa.select(Consent)).one()
    assert (granted.institution_id, granted.purpose) == (procurement.id, Purpose.bid_qualification)


# --- institutions asking: a bank's system, a bank officer, a group's credit manager ---------------

@pytest.mark.parametrize("purpose", ["bid_qualification", "group_credit_management"])
def test_a_bank_system_cannot_ask_for_a_purpose_banks_may_not_hold(purpose, bank, firm, client, db) -> None:
    tok = bank.cc_token()["access_token"]
    resp = client.post("/api/v1/consents", json={"uscc": firm.enterprise.uscc, **terms(purpose=purpose)},
                       headers=bearer(tok))
    body = resp.get_json()
    assert resp.status_code == 422 and body["code"] == "purpose_not_permitted", body
    assert list(body["errors"]) == ["purpose"] and "金融机构" in body["errors"]["purpose"][0]
    assert _consents(db) == 0 and refusals(db, "purpose_not_permitted")


def test_a_bank_officer_is_offered_and_allowed_only_the_lending_purposes(bank, firm, client, login, db) -> None:
    officer = create_user(db, username=f"officer-{secrets.token_hex(3)}", password=PASSWORD, role="bank",
                          institution_licence=bank.institution.licence_no)
    login(officer)
    page = client.get(f"/consents/request?uscc={firm.enterprise.uscc}").get_data(as_text=True)
    assert _options(page, "purpose") == [str(p) for p in LENDING_PURPOSES]
    form = {"csrf_token": csrf_of(page), "uscc": firm.enterprise.uscc, "purpose": "bid_qualification",
            "scopes": ["judicial"], "data_from": "2024-01-01", "data_to": "2025-12-31",
            "valid_until": terms()["valid_until"][:10], "fetch_type": "one_time", "data_life_unit": "month",
            "data_life_value": "6"}
    resp = client.post("/consents/request", data=form)
    assert resp.status_code == 422 and 'id="purpose-err"' in resp.get_data(as_text=True)
    assert _consents(db) == 0


def test_a_group_manager_is_offered_only_group_credit_management(group, firm, client, login, db,
                                                                 make_enterprise) -> None:
    manager = create_user(db, username=f"group-{secrets.token_hex(3)}", password=PASSWORD, role="group",
                          institution_licence=group.licence_no)
    login(manager)
    page = client.get(f"/consents/request?uscc={firm.enterprise.uscc}").get_data(as_text=True)
    assert _options(page, "purpose") == ["group_credit_management"]
    assert 'value="group_credit_management" selected' in page
    form = {"csrf_token": csrf_of(page), "uscc": firm.enterprise.uscc, "purpose": "loan_application",
            "scopes": ["evaluation"], "data_from": "2024-01-01", "data_to": "2025-12-31",
            "valid_until": terms()["valid_until"][:10], "fetch_type": "one_time", "data_life_unit": "month",
            "data_life_value": "6"}
    refused = client.post("/consents/request", data=form)
    assert refused.status_code == 422 and 'id="purpose-err"' in refused.get_data(as_text=True)
    outsider = client.post("/consents/request", data={**form, "purpose": "group_credit_management",
                                                      "uscc": make_enterprise().uscc})
    assert outsider.status_code == 422 and 'id="uscc-err"' in outsider.get_data(as_text=True)
    assert _consents(db) == 0
    asked = client.post("/consents/request", data={**form, "purpose": "group_credit_management"})
    assert asked.status_code == 302 and db.scalars(sa.select(Consent)).one().purpose == Purpose.group_credit_management


# --- consents made before the rule: no approval, no code, no token, no access ---------------------

def _legacy(db: Any, consent_id: str, purpose: str = "bid_qualification") -> Consent:
    """A bank's consent given a purpose banks may not hold, as one made before the rule would be."""
    db.execute(sa.update(Consent).where(Consent.consent_id == consent_id).values(purpose=purpose))
    return consent_row(db, consent_id)


def test_a_pending_request_made_before_the_rule_is_not_approved_nor_authorized(bank, firm, client, login,
                                                                                db) -> None:
    consent = bank.request_consent(firm.enterprise.uscc)
    _legacy(db, consent["consent_id"])
    login(firm.user)
    _, challenge = pkce()
    resp = client.get("/oauth/authorize?" + urlencode(bank.authorize_params(consent["consent_id"], challenge)))
    assert resp.status_code == 302  # told at the client's registered redirect, no consent screen
    assert parse_qs(urlsplit(resp.headers["Location"]).query)["error"] == ["invalid_request"]
    approve = client.post(f"/api/v1/consents/{consent['consent_id']}/approve", json={})
    assert approve.status_code == 422 and list(approve.get_json()["errors"]) == ["purpose"], approve.get_json()
    assert consent_row(db, consent["consent_id"]).status == ConsentStatus.pending


def test_an_active_consent_made_before_the_rule_backs_no_token_and_no_access(active_token, bank, firm, db) -> None:
    consent_id, tok = active_token(fetch_type="periodic", frequency={"unit": "month", "value": 5})
    _legacy(db, consent_id)
    fetched = bank.fetch(tok["access_token"], firm.enterprise.uscc, purpose="bid_qualification",
                         sections=["identity"])
    assert fetched.status_code == 403 and fetched.get_json()["code"] == "purpose_not_permitted", fetched.get_json()
    assert consent_row(db, consent_id).use_count == 0
    assert db.scalar(sa.select(sa.func.count()).select_from(QueryLog)) == 0
    assert refusals(db, "purpose_not_permitted")
    cc = bank.cc_token(scope=None, consent_id=consent_id)
    assert cc["status"] == 400 and cc["error"] == "invalid_grant"
    refreshed = bank.http.post("/oauth/token", data={"grant_type": "refresh_token",
                                                     "refresh_token": tok["refresh_token"]}, headers=bank.auth)
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
