"""主动授信: a bank sees the discoverable firms eligible for its product — by the same rules a
firm's own matches use — best grade first; a firm that did not opt in never appears."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from app.core import clock
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
    not_rated, not_rated_user = graded_firm("NR")  # 不予评级: never matched, whatever the product's minimum
    db.execute(sa.update(Evaluation).where(Evaluation.enterprise_id == aa_high.id).values(score=Decimal("89.50")))
    db.execute(sa.update(Evaluation).where(Evaluation.enterprise_id == aa_low.id).values(score=Decimal("80.10")))
    for user in (aaa_user, aa_low_user, aa_high_user, a_user, not_rated_user):
        opt_in(client, sign_in, user)
    rows = listed(client, sign_in, officer, no)
    assert rows == [(aaa.uscc, "AAA"), (aa_high.uscc, "AA"), (aa_low.uscc, "AA")]
    assert not_rated.uscc not in [u for u, _ in rows]
    anyone = publish(min_grade="C")["product_no"]  # the lowest minimum still asks for a grade
    assert not_rated.uscc not in [u for u, _ in listed(client, sign_in, officer, anyone)]
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
    today = clock.today()
    no = publish(min_grade="A", min_years_in_business=2, provinces=["33"])["product_no"]
    firms = [graded_firm("AA", region="330106", founded_on=clock.add_years(today, -5).isoformat()),
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


def test_both_forms_of_every_rule_agree_at_its_edge(client, db, app, sign_in, officer, publish, graded_firm,
                                                    make_provider):
    """The bank's list applies the rules in SQL, a firm's matches in Python: for a product
    using every rule, firms just inside and just outside each edge are classified alike."""
    from app.archive.ingestion import ingest_records
    from consent.models import QueryLog
    from consent.services import grant_consent
    from marketplace.applications import consent_terms
    from marketplace.rules import founded_by

    today = clock.today()
    no = publish(min_grade="A", segments=["supplier"], provinces=["33"], min_years_in_business=3,
                 requirements={"min_tax_grade": "B", "no_dishonest": True, "max_queries_3m": 2})["product_no"]
    edge = founded_by(today, 3)
    base = {"region": "330106", "founded_on": edge.isoformat()}
    cases = {
        "at_every_edge": (graded_firm("A", **base), True),
        "grade_below": (graded_firm("BBB", **base), False),
        "other_segment": (graded_firm("A", **{**base, "segment": "consumer"}), False),
        "other_province": (graded_firm("A", **{**base, "region": "110101"}), False),
        "a_day_too_young": (graded_firm("A", **{**base, "founded_on": (edge + dt.timedelta(days=1)).isoformat()}),
                            False),
        "latest_tax_c": (graded_firm("A", **base), False),
        "no_tax_grade": (graded_firm("A", **base), False),
        "dishonest": (graded_firm("A", **base), False),
        "three_queries": (graded_firm("A", **base), False),
        "two_recent_queries": (graded_firm("A", **base), True),
    }
    provider = make_provider(["tax", "judicial"])
    rows = []
    for key, ((ent, _), _) in cases.items():
        if key == "no_tax_grade":
            continue
        latest = "C" if key == "latest_tax_c" else "B"
        rows += [{"provider_ref": f"{key}-t1", "uscc": ent.uscc, "category": "tax",
                  "payload": {"year": today.year - 2, "grade": "A"}},
                 {"provider_ref": f"{key}-t2", "uscc": ent.uscc, "category": "tax",
                  "payload": {"year": today.year - 1, "grade": latest}}]
    dishonest = cases["dishonest"][0][0]
    rows.append({"provider_ref": "court-1", "uscc": dishonest.uscc, "category": "judicial", "payload": {
        "case_no": "(2026)浙0106执1194号", "court": "杭州市西湖区人民法院", "filed_on": (today - dt.timedelta(days=90)).isoformat(),
        "obligation": "支付货款", "performance": "none", "dishonest_conduct": "refuse_with_ability",
        "published_on": (today - dt.timedelta(days=60)).isoformat()}})
    assert ingest_records(db, provider, rows).refused == 0
    # Report queries by a bank in the last three months (one older query does not count).
    ent0, user0 = cases["at_every_edge"][0]
    consent = grant_consent(db, app.extensions["pc_signing_keys"], user0, institution=officer.institution,
                            terms=consent_terms(dt.datetime.now(dt.UTC)), via="firm")
    now = dt.datetime.now(dt.UTC)
    for key, ages in (("three_queries", (1, 30, 89)), ("two_recent_queries", (1, 89, 95)), ("at_every_edge", (5, 6))):
        ent = cases[key][0][0]
        for days in ages:
            db.add(QueryLog(at=now - dt.timedelta(days=days), enterprise_id=ent.id, institution_id=officer.institution_id,
                            consent_pk=consent.id, purpose="loan_application", sections=["tax"], resource="test"))
    # Accesses that are not inquiries for new credit do not count: a bank's post-loan alerts,
    # a tenderer's screening of public facts (no consent).
    recent = cases["two_recent_queries"][0][0]
    for purpose, consent_pk in (("post_loan_monitoring", consent.id), ("bid_qualification", None),
                                ("group_credit_management", consent.id)):
        db.add(QueryLog(at=now - dt.timedelta(days=2), enterprise_id=recent.id, institution_id=officer.institution_id,
                        consent_pk=consent_pk, purpose=purpose, sections=[], resource="test"))
    db.flush()
    for (_, user), _ in cases.values():
        opt_in(client, sign_in, user)
    bank_view = {u for u, _ in listed(client, sign_in, officer, no)}
    for key, ((ent, user), expected) in cases.items():
        sign_in(user)
        own = {m["product"]["product_no"] for m in client.get("/api/v1/me/products").get_json()["eligible"]}
        assert (no in own) is expected, key
        assert (ent.uscc in bank_view) is expected, key
