"""主动授信: a bank sees the discoverable firms eligible for its product — by the same rules a
firm's own matches use — best grade first; a firm that did not opt in never appears."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from app.schemas_base import today_cn
from app.scoring.models import Evaluation


def opt_in(client, sign_in, user, on=True):
    sign_in(user)
    resp = client.put("/api/v1/me/marketplace-profile", json={"discoverable": on})
    assert resp.status_code == 200 and resp.get_json() == {"discoverable": on}


def listed(client, sign_in, officer, product_no):
    sign_in(officer)
    resp = client.get(f"/api/v1/products/{product_no}/eligible-firms")
    assert resp.status_code == 200, resp.get_json()
    return [(f["uscc"], f["grade"]) for f in resp.get_json()["items"]]


def test_discoverable_eligible_firms_ranked_by_grade_then_score(client, db, sign_in, officer, publish, graded_firm):
    no = publish(min_grade="AA")["product_no"]
    aaa, aaa_user = graded_firm("AAA")
    aa_low, aa_low_user = graded_firm("AA")
    aa_high, aa_high_user = graded_firm("AA")
    a, a_user = graded_firm("A")
    hidden, _ = graded_firm("AAA")  # never opted in
    db.execute(sa.update(Evaluation).where(Evaluation.enterprise_id == aa_high.id).values(score=Decimal("89.50")))
    db.execute(sa.update(Evaluation).where(Evaluation.enterprise_id == aa_low.id).values(score=Decimal("80.10")))
    for user in (aaa_user, aa_low_user, aa_high_user, a_user):
        opt_in(client, sign_in, user)
    rows = listed(client, sign_in, officer, no)
    assert rows == [(aaa.uscc, "AAA"), (aa_high.uscc, "AA"), (aa_low.uscc, "AA")]
    assert hidden.uscc not in [u for u, _ in rows] and a.uscc not in [u for u, _ in rows]


def test_opting_out_removes_the_firm_and_the_default_is_off(client, sign_in, officer, publish, graded_firm):
    no = publish()["product_no"]
    ent, user = graded_firm("AAA")
    sign_in(user)
    assert client.get("/api/v1/me/marketplace-profile").get_json() == {"discoverable": False}
    assert listed(client, sign_in, officer, no) == []
    opt_in(client, sign_in, user)
    assert listed(client, sign_in, officer, no) == [(ent.uscc, "AAA")]
    opt_in(client, sign_in, user, on=False)
    assert listed(client, sign_in, officer, no) == []


def test_both_directions_agree(client, db, sign_in, officer, publish, graded_firm):
    """Every firm the bank sees lists the product among its own matches, and no other does."""
    today = today_cn()
    no = publish(min_grade="A", min_years_in_business=2, provinces=["33"])["product_no"]
    firms = [graded_firm("AA", region="330106", founded_on=(today.replace(year=today.year - 5)).isoformat()),
             graded_firm("AA", region="330106", founded_on=(today - dt.timedelta(days=200)).isoformat()),
             graded_firm("BBB", region="330106", founded_on="2010-01-01"),
             graded_firm("A", region="110101", founded_on="2010-01-01"),
             graded_firm("A", region="330106", founded_on="2010-01-01")]
    for _, user in firms:
        opt_in(client, sign_in, user)
    bank_view = {u for u, _ in listed(client, sign_in, officer, no)}
    for ent, user in firms:
        sign_in(user)
        own = {m["product"]["product_no"] for m in client.get("/api/v1/me/products").get_json()["eligible"]}
        assert (no in own) == (ent.uscc in bank_view), ent.uscc
    assert bank_view == {firms[0][0].uscc, firms[4][0].uscc}


def test_only_the_products_bank_sees_its_list(client, sign_in, make_user, publish, graded_firm, make_enterprise):
    no = publish()["product_no"]
    _, user = graded_firm("AAA")
    opt_in(client, sign_in, user)
    sign_in(make_user("bank"))
    assert client.get(f"/api/v1/products/{no}/eligible-firms").status_code == 403
    sign_in(user)
    assert client.get(f"/api/v1/products/{no}/eligible-firms").status_code == 403
    client.post("/logout")
    assert client.get(f"/api/v1/products/{no}/eligible-firms").status_code == 401
    sign_in(make_user("bank"))
    assert client.put("/api/v1/me/marketplace-profile", json={"discoverable": True}).status_code == 403
    sign_in(user)
    bad = client.put("/api/v1/me/marketplace-profile", json={"discoverable": "maybe"})
    assert bad.status_code == 422 and "discoverable" in bad.get_json()["errors"]
