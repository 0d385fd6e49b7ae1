"""A firm's products: eligible ones with the conditions they meet, near misses with the one
they fail ("要求 AA，当前 A"); each rule at its edge."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from app.archive.ingestion import ingest_records
from app.core import clock
from marketplace.models import Product
from marketplace.rules import FirmFacts, assess, eligible


def matches(client, sign_in, user):
    sign_in(user)
    resp = client.get("/api/v1/me/products")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    return ({m["product"]["product_no"]: m for m in body["eligible"]},
            {m["product"]["product_no"]: m for m in body["near_misses"]}, body)


@pytest.mark.parametrize(("grade", "ok"), [("AAA", True), ("AA", True), ("A", False), (None, False)])
def test_minimum_grade_at_its_edge(client, sign_in, publish, graded_firm, grade, ok):
    no = publish(min_grade="AA")["product_no"]
    _, user = graded_firm(grade)
    eligible_, near, body = matches(client, sign_in, user)
    assert (no in eligible_) is ok
    if not ok:
        reason = near[no]["failed"][0]["reason"]
        assert reason == ("要求信用等级 AA 及以上，当前 A" if grade else "要求信用等级 AA 及以上，当前尚未评价")
    else:
        assert [o["rule"] for o in eligible_[no]["outcomes"]] == ["min_grade"]
        assert body["grade"] == grade


def test_years_in_business_at_its_edge(client, sign_in, publish, graded_firm):
    no = publish(min_years_in_business=3)["product_no"]
    today = clock.today()  # the rules' today is China's
    exactly = clock.add_years(today, -3)
    _, old_enough = graded_firm("AA", founded_on=exactly.isoformat())
    _, too_young = graded_firm("AA", founded_on=(exactly + dt.timedelta(days=1)).isoformat())
    assert no in matches(client, sign_in, old_enough)[0]
    _, near, _ = matches(client, sign_in, too_young)
    assert near[no]["failed"][0]["reason"] == "要求成立满 3 年，当前 2 年"


def test_segment_and_province(client, sign_in, publish, graded_firm):
    no = publish(segments=["supplier"], provinces=["33"])["product_no"]
    _, inside = graded_firm("AA", region="330106")  # make_enterprise's firms are 供应商
    _, elsewhere = graded_firm("AA", region="110101")
    assert no in matches(client, sign_in, inside)[0]
    _, near, _ = matches(client, sign_in, elsewhere)
    assert near[no]["failed"][0]["reason"] == "限浙江省，当前 北京市"


def test_tax_grade_and_dishonest_records(client, db, sign_in, publish, graded_firm, make_provider):
    no = publish(requirements={"min_tax_grade": "B", "no_dishonest": True})["product_no"]
    provider = make_provider(["tax", "judicial"])
    ent_b, user_b = graded_firm("AA")
    ent_c, user_c = graded_firm("AA")
    ingest_records(db, provider, [
        {"provider_ref": "t-b", "uscc": ent_b.uscc, "category": "tax", "payload": {"year": 2024, "grade": "B"}},
        {"provider_ref": "t-c", "uscc": ent_c.uscc, "category": "tax", "payload": {"year": 2024, "grade": "C"}},
    ])
    assert no in matches(client, sign_in, user_b)[0]
    _, near, _ = matches(client, sign_in, user_c)
    assert near[no]["failed"][0]["reason"] == "要求纳税信用 B 级及以上，当前 C 级"
    _, user_none = graded_firm("AA")
    _, near, _ = matches(client, sign_in, user_none)
    assert near[no]["failed"][0]["rule"] == "min_tax_grade"


def test_two_failed_rules_is_not_a_near_miss(client, sign_in, publish, graded_firm):
    no = publish(min_grade="AAA", provinces=["11"])["product_no"]
    _, user = graded_firm("AA", region="330106")
    eligible_, near, _ = matches(client, sign_in, user)
    assert no not in eligible_ and no not in near


def test_grade_linked_terms_are_shown_for_the_firms_grade(client, sign_in, publish, graded_firm):
    no = publish(min_grade="A", grade_terms={"AAA": {"rate_discount": "0.500", "deposit_ratio": "0.000"},
                                             "AA": {"rate_discount": "0.300", "deposit_ratio": "0.050"}})["product_no"]
    _, user = graded_firm("AA")
    eligible_, _, _ = matches(client, sign_in, user)
    assert eligible_[no]["my_terms"] == {"rate_discount": "0.300", "deposit_ratio": "0.050"}


def test_paused_closed_and_past_deadline_products_do_not_match(client, db, sign_in, officer, publish, graded_firm):
    paused = publish()["product_no"]
    client.post(f"/api/v1/products/{paused}/status", json={"status": "paused"})
    late = publish(deadline=clock.today().isoformat())["product_no"]
    # Its deadline then passes (a past deadline cannot be given: see test_products).
    db.execute(sa.update(Product).where(Product.product_no == late)
               .values(deadline=clock.today() - dt.timedelta(days=1)))
    today = publish(deadline=clock.today().isoformat())["product_no"]
    _, user = graded_firm("AAA")
    eligible_, near, _ = matches(client, sign_in, user)
    assert today in eligible_ and paused not in eligible_ and late not in eligible_ and late not in near


def test_only_firms_ask_for_their_matches(client, sign_in, officer):
    assert client.get("/api/v1/me/products").status_code == 401
    sign_in(officer)
    assert client.get("/api/v1/me/products").status_code == 403


def test_the_rules_are_plain_data_usable_without_a_request():
    class P:
        min_grade, segments, provinces, min_years_in_business = "AA", [], [], 0
        requirements = {"max_queries_3m": 6}

    base = {"enterprise_id": 1, "uscc": "x", "name": "x", "segment": "supplier", "province_code": "33",
                "founded_on": dt.date(2010, 1, 1), "grade": "AA", "score": None, "tax_grade": "A", "dishonest": False}
    at_cap = assess(P, FirmFacts(**base, queries_3m=6), dt.date(2026, 11, 23))
    over = assess(P, FirmFacts(**base, queries_3m=7), dt.date(2026, 11, 23))
    assert eligible(at_cap) and not eligible(over)
    assert [o.reason for o in over if not o.ok] == ["要求近 3 个月被机构授信查询不超过 6 次，当前 7 次"]


def test_a_firm_sees_every_product_change_at_once(client, sign_in, officer, publish, graded_firm):
    """The live catalogue is held between requests: edits, pauses and new products still show
    on the very next request."""
    no = publish(name="电力快贷", min_grade="AA")["product_no"]
    _, user = graded_firm("AA")
    assert no in matches(client, sign_in, user)[0]
    sign_in(officer)
    assert client.patch(f"/api/v1/products/{no}", json={"min_grade": "AAA", "name": "电力快贷二期"}).status_code == 200
    eligible_, near, _ = matches(client, sign_in, user)
    assert no not in eligible_ and near[no]["product"]["name"] == "电力快贷二期"
    assert near[no]["failed"][0]["reason"] == "要求信用等级 AAA 及以上，当前 AA"
    sign_in(officer)
    assert client.post(f"/api/v1/products/{no}/status", json={"status": "paused"}).status_code == 200
    eligible_, near, _ = matches(client, sign_in, user)
    assert no not in eligible_ and no not in near
    other = publish(name="新上架的产品", min_grade="A")["product_no"]
    assert other in matches(client, sign_in, user)[0]
