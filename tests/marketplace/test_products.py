"""Loan products: validated (ordered ranges, legal rate ceiling, positive amounts), a bank
manages only its own, states move along allowed edges only, the public sees live products."""

from __future__ import annotations

import pytest

from tests.marketplace.conftest import product_body


def test_an_officer_creates_a_draft_and_puts_it_live(client, sign_in, officer):
    sign_in(officer)
    resp = client.post("/api/v1/products", json=product_body())
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "draft" and body["product_no"].startswith("prd_") and body["min_grade"] == "AA"
    assert resp.headers["Location"].endswith(f"/api/v1/products/{body['product_no']}")
    assert (body["amount_min"], body["amount_max"]) == ("100000.00", "3000000.00")  # as every later read gives them
    assert client.get(resp.headers["Location"]).get_json()["product_no"] == body["product_no"]
    assert body["institution"]["licence_no"] == officer.institution.licence_no
    assert body["repayment_labels"] == ["随借随还", "等额本息"] and body["type_label"] == "信用贷款"
    no = body["product_no"]
    client.post("/logout")
    assert client.get(f"/api/v1/products/{no}").status_code == 404  # a draft is not public
    assert client.get("/api/v1/products").get_json()["items"] == []
    sign_in(officer)
    assert client.post(f"/api/v1/products/{no}/status", json={"status": "live"}).status_code == 200
    client.post("/logout")
    listed = client.get("/api/v1/products").get_json()
    assert [p["product_no"] for p in listed["items"]] == [no] and listed["meta"]["total"] == 1
    assert client.get(f"/api/v1/products/{no}").get_json()["status"] == "live"


@pytest.mark.parametrize(("overrides", "field"), [
    ({"amount_min": "5000000", "amount_max": "1000000"}, "amount_min"),
    ({"rate_min": "6.000", "rate_max": "5.000"}, "rate_min"),
    ({"term_min": 24, "term_max": 12}, "term_min"),
    ({"amount_min": "0"}, "amount_min"),
    ({"amount_min": "-5"}, "amount_min"),
    ({"rate_max": "12.001"}, "rate_max"),  # over 4 × the 3.0 % LPR
    ({"term_max": 0}, "term_max"),
    ({"min_grade": "AAAA"}, "min_grade"),
    ({"repayment_methods": []}, "repayment_methods"),
    ({"segments": ["coal"]}, "segments[0]"),
    ({"provinces": ["99"]}, "provinces[0]"),
    ({"requirements": {"min_tax_grade": "E"}}, "requirements.min_tax_grade"),
    ({"grade_terms": {"AA": {"deposit_ratio": "1.5"}}}, "grade_terms.AA.deposit_ratio"),
    ({"grade_terms": {"ZZ": {"deposit_ratio": "0.5"}}}, "grade_terms.ZZ"),
    ({"grade_terms": {"ZZ": {"deposit_ratio": "1.5"}}}, "grade_terms.ZZ"),
    ({"colour": "red"}, "colour"),
])
def test_bad_products_are_refused_naming_the_field(client, sign_in, officer, overrides, field):
    sign_in(officer)
    resp = client.post("/api/v1/products", json=product_body(**overrides))
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json", resp.get_json()
    assert field in resp.get_json()["errors"], resp.get_json()["errors"]
    assert client.get("/api/v1/products?mine=true").get_json()["meta"]["total"] == 0  # nothing half-written


def test_a_bad_grade_key_is_reported_beside_a_bad_value(client, sign_in, officer):
    sign_in(officer)
    resp = client.post("/api/v1/products", json=product_body(grade_terms={"ZZ": 5}))
    messages = resp.get_json()["errors"]["grade_terms.ZZ"]
    assert resp.status_code == 422 and any("取值应为以下之一" in m for m in messages) and "应为 JSON 对象。" in messages


def test_every_mistake_is_reported_at_once(client, sign_in, officer):
    """A reversed range is reported beside a bad field elsewhere, not only once that is fixed."""
    sign_in(officer)
    resp = client.post("/api/v1/products", json=product_body(name="", rate_min="6.000", rate_max="5.000",
                                                             term_min="x"))
    errors = resp.get_json()["errors"]
    assert resp.status_code == 422 and {"name", "rate_min", "term_min"} <= set(errors), errors
    assert errors["rate_min"] == ["利率下限不能高于上限。"]
    assert errors["term_min"] == ["应为整数。"]


def test_a_deadline_already_past_and_a_discount_eating_the_whole_rate_are_refused(client, db, sign_in, officer,
                                                                                 publish):
    import datetime as dt

    import sqlalchemy as sa

    from app.core import clock
    from marketplace.models import Product

    sign_in(officer)
    yesterday = (clock.today() - dt.timedelta(days=1)).isoformat()
    resp = client.post("/api/v1/products", json=product_body(deadline=yesterday))
    assert resp.status_code == 422 and "deadline" in resp.get_json()["errors"], resp.get_json()
    resp = client.post("/api/v1/products", json=product_body(rate_min="3.200",
                                                             grade_terms={"AA": {"rate_discount": "3.200"}}))
    assert resp.status_code == 422, resp.get_json()
    assert "grade_terms.AA.rate_discount" in resp.get_json()["errors"], resp.get_json()
    assert client.post("/api/v1/products", json=product_body(
        rate_min="3.200", grade_terms={"AA": {"rate_discount": "3.199"}})).status_code == 201
    # Edits: lowering the rate under an existing discount, or a past deadline, are refused too.
    product = publish(grade_terms={"AAA": {"rate_discount": "0.300"}})
    no = product["product_no"]
    resp = client.patch(f"/api/v1/products/{no}", json={"rate_min": "0.300"})
    assert resp.status_code == 422 and "grade_terms.AAA.rate_discount" in resp.get_json()["errors"]
    resp = client.patch(f"/api/v1/products/{no}", json={"deadline": yesterday})
    assert resp.status_code == 422 and "deadline" in resp.get_json()["errors"]
    # A product whose deadline has passed cannot be put live again.
    assert client.post(f"/api/v1/products/{no}/status", json={"status": "paused"}).status_code == 200
    db.execute(sa.update(Product).where(Product.product_no == no).values(deadline=clock.today() - dt.timedelta(days=1)))
    db.expire_all()
    resp = client.post(f"/api/v1/products/{no}/status", json={"status": "live"})
    assert resp.status_code == 409 and resp.get_json()["code"] == "product_deadline_passed"


def test_the_rate_ceiling_edge_is_allowed(client, sign_in, officer):
    sign_in(officer)
    assert client.post("/api/v1/products", json=product_body(rate_max="12.000")).status_code == 201


def test_a_bank_edits_only_its_own_products(client, sign_in, officer, make_user, make_enterprise, publish):
    product = publish()
    no = product["product_no"]
    assert client.patch(f"/api/v1/products/{no}", json={"rate_min": "3.200"}).get_json()["rate_min"] == "3.200"
    other = make_user("bank")
    sign_in(other)
    assert client.patch(f"/api/v1/products/{no}", json={"rate_min": "1.000"}).status_code == 403
    assert client.post(f"/api/v1/products/{no}/status", json={"status": "closed"}).status_code == 403
    firm_user = make_user("firm", make_enterprise())
    sign_in(firm_user)
    assert client.post("/api/v1/products", json=product_body()).status_code == 403
    client.post("/logout")
    assert client.patch(f"/api/v1/products/{no}", json={"rate_min": "1.000"}).status_code == 401
    assert client.get(f"/api/v1/products/{no}").get_json()["rate_min"] == "3.200"


def test_edits_keep_ranges_ordered(client, publish):
    no = publish()["product_no"]
    resp = client.patch(f"/api/v1/products/{no}", json={"amount_min": "9000000"})
    assert resp.status_code == 422 and "amount_min" in resp.get_json()["errors"]


@pytest.mark.parametrize(("path", "allowed"), [
    (["live", "paused", "live", "closed"], [True, True, True, True]),
    (["paused"], [False]),
    (["closed", "live"], [True, False]),
    (["live", "draft"], [True, False]),
])
def test_status_moves_along_allowed_edges_only(client, sign_in, officer, path, allowed):
    sign_in(officer)
    no = client.post("/api/v1/products", json=product_body()).get_json()["product_no"]
    for status, ok in zip(path, allowed, strict=True):
        resp = client.post(f"/api/v1/products/{no}/status", json={"status": status})
        assert resp.status_code == (200 if ok else 409), (status, resp.get_json())
        if not ok:
            assert resp.get_json()["code"] == "illegal_transition"


def test_public_filters(client, publish):
    a = publish(name="AA 信用贷", min_grade="AA", segments=["generation"], provinces=["33"])
    b = publish(name="A 普惠贷", min_grade="A", amount_min="10000", amount_max="500000")
    client.post("/logout")

    def nos(query: str) -> set[str]:
        resp = client.get("/api/v1/products" + query)
        assert resp.status_code == 200, resp.get_json()
        return {p["product_no"] for p in resp.get_json()["items"]}

    assert nos("") == {a["product_no"], b["product_no"]}
    assert nos("?grade=A") == {b["product_no"]}  # an A firm does not meet AA
    assert nos("?grade=AAA") == {a["product_no"], b["product_no"]}
    assert nos("?segment=grid") == {b["product_no"]}  # a restricted to 发电
    assert nos("?province=33") == {a["product_no"], b["product_no"]}
    assert nos("?province=11") == {b["product_no"]}
    assert nos("?amount=2000000") == {a["product_no"]}
    assert nos("?q=普惠") == {b["product_no"]}
    assert client.get("/api/v1/products?grade=Z").status_code == 422
    assert client.get("/api/v1/products?mine=true").status_code == 401
