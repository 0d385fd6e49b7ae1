"""Marketplace statistics equal values computed by hand on a small data set."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from tests.marketplace.conftest import product_body


def test_statistics_by_hand(client, sign_in, officer, make_user, publish, graded_firm):
    p1 = publish(min_grade="A")
    other_officer = make_user("bank")
    sign_in(other_officer)
    no2 = client.post("/api/v1/products", json=product_body(min_grade="A", name="另一行产品")).get_json()["product_no"]
    client.post(f"/api/v1/products/{no2}/status", json={"status": "live"})

    def apply(user, product_no, amount):
        sign_in(user)
        resp = client.post("/api/v1/applications", json={"product_no": product_no, "amount": amount,
                                                         "term_months": 12, "purpose": "周转"})
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()["application_no"]

    def step(who, no, action, **body):
        sign_in(who)
        resp = client.post(f"/api/v1/applications/{no}/{action}", json=body)
        assert resp.status_code == 200, resp.get_json()

    (_, f1), (_, f2), (_, f3) = graded_firm("AAA"), graded_firm("AA"), graded_firm("A")
    a1 = apply(f1, p1["product_no"], "1000000")   # approved 4.000, accepted, disbursed 800000
    a2 = apply(f2, p1["product_no"], "500000")    # approved 5.000, declined
    apply(f3, p1["product_no"], "200000")          # still submitted
    a4 = apply(f1, no2, "300000")                   # other bank: rejected
    for no, rate in ((a1, "4.000"), (a2, "5.000")):
        step(officer, no, "review")
        step(officer, no, "approve", offered_amount="800000" if no == a1 else "500000", offered_rate=rate,
             offered_term_months=12)
    step(f1, a1, "accept")
    step(officer, a1, "disburse", disbursed_amount="800000", disbursed_on=dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat())
    step(f2, a2, "decline")
    step(other_officer, a4, "reject", reason="额度已满")

    client.post("/logout")
    total = client.get("/api/v1/marketplace/stats").get_json()["total"]
    assert total == {"key": "total", "label": "合计", "applications": 4, "approvals": 2, "approval_rate": "0.5000",
                     "amount_granted": "800000.00", "average_rate": "4.500"}
    by_bank = {g["key"]: g for g in client.get("/api/v1/marketplace/stats?by=bank").get_json()["groups"]}
    assert by_bank[officer.institution.licence_no]["applications"] == 3
    assert by_bank[officer.institution.licence_no]["amount_granted"] == "800000.00"
    assert by_bank[other_officer.institution.licence_no] == {
        "key": other_officer.institution.licence_no, "label": "测试银行股份有限公司", "applications": 1,
        "approvals": 0, "approval_rate": "0.0000", "amount_granted": "0.00", "average_rate": None}
    by_grade = {g["key"]: (g["applications"], g["approvals"], g["average_rate"])
                for g in client.get("/api/v1/marketplace/stats?by=grade").get_json()["groups"]}
    assert by_grade == {"AAA": (2, 1, "4.000"), "AA": (1, 1, "5.000"), "A": (1, 0, None)}
    month = dt.datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    by_month = client.get("/api/v1/marketplace/stats?by=month").get_json()["groups"]
    assert [(g["key"], g["applications"]) for g in by_month] == [(month, 4)]
    assert client.get("/api/v1/marketplace/stats?from=2000-01&to=2000-12").get_json()["total"]["applications"] == 0
    bad = client.get("/api/v1/marketplace/stats?by=colour&from=2026-13")
    assert bad.status_code == 422 and {"query.by", "query.from"} <= set(bad.get_json()["errors"])


def test_a_reversed_month_range_is_refused(client):
    resp = client.get("/api/v1/marketplace/stats?from=2026-12&to=2026-01")
    assert resp.status_code == 422 and "query.to" in resp.get_json()["errors"], resp.get_json()
    assert client.get("/api/v1/marketplace/stats?from=2026-01&to=2026-12").status_code == 200
