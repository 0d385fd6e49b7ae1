"""Pre-approved offers: only to discoverable AA-and-above firms that meet the product; the
firm accepts (an approved application and a consent) or declines; offers expire."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from consent.models import Consent
from marketplace.models import Offer


def offer_body(product_no, uscc, **overrides):
    body = {"product_no": product_no, "uscc": uscc, "credit_limit": "1000000", "rate": "4.000", "term_months": 12,
            "valid_until": (dt.datetime.now(dt.UTC) + dt.timedelta(days=14)).isoformat()}
    body.update(overrides)
    return body


def discoverable(client, sign_in, user):
    sign_in(user)
    assert client.put("/api/v1/me/marketplace-profile", json={"discoverable": True}).status_code == 200


def test_offer_accepted_becomes_an_approved_application_with_a_consent(client, db, sign_in, officer, publish,
                                                                       graded_firm):
    product = publish(min_grade="A")
    ent, user = graded_firm("AA")
    discoverable(client, sign_in, user)
    sign_in(officer)
    sent = client.post("/api/v1/offers", json=offer_body(product["product_no"], ent.uscc))
    assert sent.status_code == 201, sent.get_json()
    no = sent.get_json()["offer_no"]
    sign_in(user)
    assert [o["offer_no"] for o in client.get("/api/v1/offers").get_json()["items"]] == [no]
    assert client.post(f"/api/v1/offers/{no}/accept", json={}).get_json()["status"] == "accepted"
    offer = client.get(f"/api/v1/offers/{no}").get_json()
    app = client.get(f"/api/v1/applications/{offer['application_no']}").get_json()
    assert app["status"] == "approved" and app["offered_amount"] == "1000000.00" and app["offered_rate"] == "4.000"
    assert app["timeline"][0]["detail"]["offer_no"] == no
    # Approved by the bank's officer who sent the offer, not by the firm that accepted it.
    assert app["timeline"][0]["actor"] == f"user:{officer.username}", app["timeline"][0]
    assert db.scalar(sa.select(sa.func.count()).select_from(Consent).where(Consent.enterprise_id == ent.id)) == 1
    assert client.post(f"/api/v1/offers/{no}/decline", json={}).status_code == 409


def test_only_discoverable_aa_plus_firms_meeting_the_product(client, sign_in, officer, publish, graded_firm):
    product = publish(min_grade="A", provinces=["33"])
    hidden, _ = graded_firm("AAA")
    a_ent, a_user = graded_firm("A")
    far, far_user = graded_firm("AAA", region="110101")
    for u in (a_user, far_user):
        discoverable(client, sign_in, u)
    sign_in(officer)

    def refused(uscc):
        resp = client.post("/api/v1/offers", json=offer_body(product["product_no"], uscc))
        assert resp.status_code == 422, resp.get_json()
        return resp.get_json()["errors"]["uscc"]

    assert refused(hidden.uscc) == ["没有允许主动授信的该企业。"]  # not opted in: not disclosed
    assert "AA 级及以上" in refused(a_ent.uscc)[0]
    assert refused(far.uscc) == ["限浙江省，当前 北京市"]


def test_offer_terms_are_checked(client, sign_in, officer, publish, graded_firm):
    product = publish()
    ent, user = graded_firm("AAA")
    discoverable(client, sign_in, user)
    sign_in(officer)
    resp = client.post("/api/v1/offers", json=offer_body(product["product_no"], ent.uscc, rate="9.900",
                                                         credit_limit="99999999", term_months=60,
                                                         valid_until="2020-01-01T00:00:00+08:00"))
    assert resp.status_code == 422
    assert {"rate", "credit_limit", "term_months", "valid_until"} <= set(resp.get_json()["errors"])


def test_no_offer_under_a_product_past_its_deadline_or_below_its_minimum_amount(client, db, sign_in, officer,
                                                                              publish, graded_firm):
    import datetime as dt

    import sqlalchemy as sa

    from app.core import clock
    from marketplace.models import Product

    product = publish()
    ent, user = graded_firm("AAA")
    discoverable(client, sign_in, user)
    sign_in(officer)
    low = client.post("/api/v1/offers", json=offer_body(product["product_no"], ent.uscc, credit_limit="99999"))
    assert low.status_code == 422 and "credit_limit" in low.get_json()["errors"], low.get_json()
    db.execute(sa.update(Product).where(Product.product_no == product["product_no"])
               .values(deadline=clock.today() - dt.timedelta(days=1)))
    db.expire_all()
    late = client.post("/api/v1/offers", json=offer_body(product["product_no"], ent.uscc))
    assert late.status_code == 422 and "已过" in late.get_json()["errors"]["product_no"][0], late.get_json()


def test_an_offers_validity_reads_as_a_consents_does(client, sign_in, officer, publish, graded_firm):
    """A date (the end of that day) or a time without an offset (Beijing time), as consents
    take them; answered in UTC."""
    product = publish()
    ent, user = graded_firm("AAA")
    discoverable(client, sign_in, user)
    sign_in(officer)
    day = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    resp = client.post("/api/v1/offers", json=offer_body(product["product_no"], ent.uscc, valid_until=day))
    assert resp.status_code == 201, resp.get_json()
    assert resp.headers["Location"].endswith(f"/api/v1/offers/{resp.get_json()['offer_no']}")
    end = dt.datetime.fromisoformat(resp.get_json()["valid_until"])
    assert end.utcoffset() == dt.timedelta(0) and end == dt.datetime.fromisoformat(f"{day}T23:59:59+08:00")
    ent2, user2 = graded_firm("AAA")
    discoverable(client, sign_in, user2)
    sign_in(officer)
    resp = client.post("/api/v1/offers", json=offer_body(product["product_no"], ent2.uscc,
                                                         valid_until=f"{day}T18:00:00"))
    assert resp.status_code == 201, resp.get_json()
    assert dt.datetime.fromisoformat(resp.get_json()["valid_until"]) == dt.datetime.fromisoformat(
        f"{day}T18:00:00+08:00")
    bad = client.post("/api/v1/offers", json=offer_body(product["product_no"], ent2.uscc, valid_until="soon"))
    assert bad.status_code == 422 and bad.get_json()["errors"]["valid_until"][0].startswith("应为")


def test_offers_expire_and_only_the_right_party_answers(client, db, sign_in, officer, publish, graded_firm,
                                                        make_user):
    product = publish()
    ent, user = graded_firm("AAA")
    discoverable(client, sign_in, user)
    sign_in(officer)
    no = client.post("/api/v1/offers", json=offer_body(product["product_no"], ent.uscc)).get_json()["offer_no"]
    assert client.post(f"/api/v1/offers/{no}/accept", json={}).status_code == 403  # the bank cannot accept
    sign_in(make_user("bank"))
    assert client.get(f"/api/v1/offers/{no}").status_code == 404
    db.execute(sa.update(Offer).where(Offer.offer_no == no)
               .values(valid_until=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    sign_in(user)
    assert client.get(f"/api/v1/offers/{no}").get_json()["status"] == "expired"
    late = client.post(f"/api/v1/offers/{no}/accept", json={})
    assert late.status_code == 409 and late.get_json()["code"] == "illegal_transition"


def test_the_bank_withdraws_and_the_firm_declines(client, sign_in, officer, publish, graded_firm):
    p1, p2 = publish(), publish(name="第二个产品")
    ent, user = graded_firm("AA")
    discoverable(client, sign_in, user)
    sign_in(officer)
    first = client.post("/api/v1/offers", json=offer_body(p1["product_no"], ent.uscc)).get_json()["offer_no"]
    again = client.post("/api/v1/offers", json=offer_body(p1["product_no"], ent.uscc))
    assert again.status_code == 409 and again.get_json()["code"] == "offer_open"
    second = client.post("/api/v1/offers", json=offer_body(p2["product_no"], ent.uscc)).get_json()["offer_no"]
    assert client.post(f"/api/v1/offers/{first}/withdraw", json={}).get_json()["status"] == "withdrawn"
    sign_in(user)
    assert client.post(f"/api/v1/offers/{second}/withdraw", json={}).status_code == 403
    assert client.post(f"/api/v1/offers/{second}/decline", json={}).get_json()["status"] == "declined"


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "no", None])
def test_the_discoverable_switch_takes_only_json_true_or_false(client, sign_in, graded_firm, value):
    _ent, user = graded_firm("AA")
    sign_in(user)
    resp = client.put("/api/v1/me/marketplace-profile", json={"discoverable": value})
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert "discoverable" in resp.get_json()["errors"], resp.get_json()
    assert client.get("/api/v1/me/marketplace-profile").get_json() == {"discoverable": False}  # unchanged
