"""Applications: applying grants the bank exactly one consent (loan_application, the stated
scopes, 30 days) that the firm sees and can revoke; every step by the right party only;
illegal steps 409; a bank sees only its own applications."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from app.core import clock
from consent.models import Consent
from marketplace.applications import APPLICATION_SCOPES, CONSENT_DAYS


@pytest.fixture
def applied(client, sign_in, officer, publish, graded_firm):
    """A live AA product and an AA firm that applied for it."""
    product = publish()
    ent, user = graded_firm("AA")
    sign_in(user)
    resp = client.post("/api/v1/applications", json={"product_no": product["product_no"], "amount": "500000",
                                                     "term_months": 12, "purpose": "采购光伏组件"})
    assert resp.status_code == 201, resp.get_json()
    assert resp.headers["Location"].endswith(f"/api/v1/applications/{resp.get_json()['application_no']}")
    return resp.get_json(), ent, user, product


def test_applying_grants_exactly_one_consent_the_firm_can_see(applied, client, db, officer):
    app, ent, user, _ = applied
    assert app["status"] == "submitted" and app["grade_at_application"] == "AA"
    assert [e["to_status"] for e in app["timeline"]] == ["submitted"]
    consents = db.scalars(sa.select(Consent).where(Consent.enterprise_id == ent.id)).all()
    assert len(consents) == 1
    consent = consents[0]
    assert consent.consent_id == app["consent_id"] and consent.institution_id == officer.institution_id
    assert str(consent.purpose) == "loan_application" and consent.created_via == "marketplace"
    assert sorted(consent.scopes) == sorted(APPLICATION_SCOPES) and str(consent.status) == "ACTIVE"
    days = (consent.valid_until - consent.valid_from).total_seconds() / 86400
    assert abs(days - CONSENT_DAYS) < 0.01
    listed = client.get("/api/v1/consents").get_json()["items"]
    assert [c["consent_id"] for c in listed] == [app["consent_id"]]


def test_revoking_the_consent_stops_the_banks_pull(applied, client, sign_in, db):
    from app.oauth.services import register_bank_client
    from tests.consent.conftest import basic, bearer

    app, ent, user, _ = applied
    consent = db.scalar(sa.select(Consent).where(Consent.consent_id == app["consent_id"]))
    oauth, secret = register_bank_client(db, consent.institution, name="审批系统", redirect_uris=["https://bank.example.com/cb"])
    tok = client.post("/oauth/token", data={"grant_type": "client_credentials", "consent_id": app["consent_id"]},
                      headers=basic(oauth.client_id, secret)).get_json()["access_token"]
    pull = {"uscc": ent.uscc, "purpose": "loan_application"}
    assert client.post("/api/v1/reports", json=pull, headers=bearer(tok)).status_code == 201
    sign_in(user)
    assert client.post(f"/api/v1/consents/{app['consent_id']}/revoke", json={}).status_code == 200
    assert client.post("/api/v1/reports", json=pull, headers=bearer(tok)).status_code in (401, 403)


def test_the_whole_workflow_by_the_right_parties(applied, client, sign_in, officer):
    app, _, user, _ = applied
    no = app["application_no"]

    def step(who, action, expect=200, **body):
        sign_in(who)
        resp = client.post(f"/api/v1/applications/{no}/{action}", json=body)
        assert resp.status_code == expect, (action, resp.get_json())
        return resp.get_json()

    step(user, "review", 403)  # the bank reviews, not the firm
    step(officer, "review")
    step(officer, "approve", 422, offered_amount="400000")  # rate and term missing
    step(officer, "approve", 422, offered_amount="400000", offered_rate="9.000", offered_term_months=12)
    step(officer, "approve", offered_amount="400000", offered_rate="4.350", offered_term_months=12)
    step(officer, "accept", 403)
    step(user, "accept")
    today = clock.today()
    step(officer, "disburse", 422, disbursed_amount="450000", disbursed_on=today.isoformat())
    early = step(officer, "disburse", 422, disbursed_amount="400000",
                 disbursed_on=(today - dt.timedelta(days=1)).isoformat())  # before the firm accepted
    assert "不能早于企业接受" in early["errors"]["disbursed_on"][0]
    done = step(officer, "disburse", disbursed_amount="400000", disbursed_on=today.isoformat())
    assert done["status"] == "disbursed" and done["disbursed_amount"] == "400000.00"
    assert [e["to_status"] for e in done["timeline"]] == ["submitted", "under_review", "approved", "accepted",
                                                        "disbursed"]
    step(user, "withdraw", 409)  # paid out: too late
    step(officer, "reject", 409, reason="too late")


def test_the_firm_may_withdraw_until_the_money_is_paid_out(applied, client, sign_in, officer):
    app, _, user, _ = applied
    no = app["application_no"]
    for who, action, body in ((officer, "review", {}), (officer, "approve", {
            "offered_amount": "400000", "offered_rate": "4.350", "offered_term_months": 12}), (user, "accept", {})):
        sign_in(who)
        assert client.post(f"/api/v1/applications/{no}/{action}", json=body).status_code == 200, action
    sign_in(user)
    resp = client.post(f"/api/v1/applications/{no}/withdraw", json={"reason": "已从其他渠道获得资金"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "withdrawn"
    # The consent was for reviewing this application only: it ends with it.
    consent = client.get(f"/api/v1/consents/{app['consent_id']}").get_json()
    assert consent["status"] == "REVOKED", consent
    assert "已撤回" in consent["events"][-1]["reason"]
    sign_in(officer)
    late = client.post(f"/api/v1/applications/{no}/disburse", json={"disbursed_amount": "1",
                                                                    "disbursed_on": clock.today().isoformat()})
    assert late.status_code == 409 and late.get_json()["code"] == "illegal_transition"


@pytest.mark.parametrize(("first", "then", "status"), [
    ("withdraw", "review", 409), ("reject", "accept", 409), ("review", "accept", 409), ("review", "disburse", 409),
])
def test_illegal_steps_are_refused(applied, client, sign_in, officer, first, then, status):
    app, _, user, _ = applied
    no = app["application_no"]
    who = {"withdraw": user, "reject": officer, "review": officer, "accept": user, "disburse": officer}
    sign_in(who[first])
    assert client.post(f"/api/v1/applications/{no}/{first}", json={"reason": "资料不全"}).status_code == 200
    sign_in(who[then])
    resp = client.post(f"/api/v1/applications/{no}/{then}",
                       json={"disbursed_amount": "1", "disbursed_on": "2026-11-01"} if then == "disburse" else {})
    assert resp.status_code == status and resp.get_json()["code"] == "illegal_transition"


def test_a_rejection_needs_a_reason(applied, client, sign_in, officer):
    sign_in(officer)
    resp = client.post(f"/api/v1/applications/{applied[0]['application_no']}/reject", json={})
    assert resp.status_code == 422 and "reason" in resp.get_json()["errors"]


def test_other_banks_and_firms_see_nothing(applied, client, sign_in, make_user, graded_firm):
    app, _, _, _ = applied
    no = app["application_no"]
    sign_in(make_user("bank"))
    assert client.get(f"/api/v1/applications/{no}").status_code == 404
    assert client.post(f"/api/v1/applications/{no}/review", json={}).status_code == 404
    assert client.get("/api/v1/applications").get_json()["items"] == []
    _, other_firm = graded_firm("AAA")
    sign_in(other_firm)
    assert client.get(f"/api/v1/applications/{no}").status_code == 404


def test_applying_checks_eligibility_ranges_and_duplicates(client, sign_in, publish, graded_firm):
    product = publish(min_grade="AA")
    _, a_firm = graded_firm("A")
    sign_in(a_firm)
    body = {"product_no": product["product_no"], "amount": "500000", "term_months": 12, "purpose": "周转"}
    refused = client.post("/api/v1/applications", json=body)
    assert refused.status_code == 422
    assert refused.get_json()["errors"]["product_no"] == ["要求信用等级 AA 及以上，当前 A"]
    _, nr_firm = graded_firm("NR")
    sign_in(nr_firm)
    refused = client.post("/api/v1/applications", json=body)
    assert refused.status_code == 422
    assert refused.get_json()["errors"]["product_no"] == ["要求信用等级 AA 及以上，当前不予评级（信息不足）"]
    _, aa_firm = graded_firm("AA")
    sign_in(aa_firm)
    out_of_range = client.post("/api/v1/applications", json={**body, "amount": "99999999", "term_months": 48})
    assert out_of_range.status_code == 422 and {"amount", "term_months"} <= set(out_of_range.get_json()["errors"])
    assert client.post("/api/v1/applications", json=body).status_code == 201
    again = client.post("/api/v1/applications", json=body)
    assert again.status_code == 409 and again.get_json()["code"] == "application_open"
    assert client.get("/api/v1/consents").get_json()["meta"]["total"] == 1  # the refused ones granted nothing
