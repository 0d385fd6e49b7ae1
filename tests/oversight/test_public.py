"""Public disclosure leaks nothing private: every public endpoint and page (and every link
they lead to) for a firm with personal data, records of every kind, a consent, a query
record, a self-report, an objection and a signed commitment shows none of those — only
registration facts, the grade, lists, 双公示 fields and commitment titles."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from app.oversight import lists
from app.oversight.disclosure import LICENCE_FIELDS, PENALTY_FIELDS
from app.scoring.services import run_evaluations
from tests.oversight.conftest import TODAY, days_ago, serious_penalty, tax

SECRETS = ("张伟", "330106198001011234", "13900001111", "HT-SECRET-7781", "ACC-SECRET-5521", "秘密商业银行",
           "王秘密", "异议理由秘密")


@pytest.fixture
def exposed(app, db, client, make_enterprise, add, firm_user, sign_in, make_user):
    from consent.services import grant_consent
    from marketplace.applications import consent_terms
    from reports.services import issue_self_report
    from tests.oversight.conftest import breached

    ent = make_enterprise(name="杭州公示测试电力有限公司")
    user = firm_user(ent)
    contract = breached(30)
    contract["contract_no"] = "HT-SECRET-7781"
    add(ent, "contract", contract)
    add(ent, "utility", {"account_no": "ACC-SECRET-5521", "month": (TODAY.replace(day=1) - dt.timedelta(days=1))
                         .strftime("%Y-%m"), "consumption_kwh": "1000", "amount_due": "700.00", "status": "on_time",
                         "paid_on": TODAY.isoformat()})
    add(ent, "loan", {"lender": "秘密商业银行", "amount": "1000000", "start_on": days_ago(300),
                      "end_on": (TODAY + dt.timedelta(days=60)).isoformat(), "status": "normal"})
    add(ent, "tax", tax(TODAY.year - 2, "A"))
    penalty = add(ent, "penalty", serious_penalty())
    add(ent, "licence", {"decision_doc_name": "准予电力业务许可决定", "decision_doc_no": "许可〔2025〕8号",
                         "licence_category": "general", "certificate_name": "电力业务许可证", "certificate_no": "1033025-00001",
                         "content": "准予从事售电业务", "decided_on": days_ago(400), "valid_from": days_ago(400),
                         "valid_to": (TODAY + dt.timedelta(days=900)).isoformat(), "authority": "国家能源局浙江监管办公室",
                         "authority_uscc": "113300000000000199"})
    lists.refresh(db, enterprise_ids=[ent.id])
    lists.publish(db, None, actor="test")
    run_evaluations(db, "single", [ent.id])
    bank = make_user("bank")
    consent = grant_consent(db, app.extensions["pc_signing_keys"], user, institution=bank.institution,
                            terms=consent_terms(dt.datetime.now(dt.UTC)), via="firm")
    report, _ = issue_self_report(db, app.extensions["pc_signing_keys"], ent, user, 2, actor="test")
    sign_in(user)
    assert client.post("/api/v1/commitments", json={"text": "self_discipline", "signatory": "王秘密",
                                                    "signatory_title": "总经理"}).status_code == 201
    record_id = client.get(f"/api/v1/enterprises/{ent.uscc}/records?category=contract").get_json()["items"][0]["id"]
    assert client.post("/api/v1/objections", json={"record_id": record_id, "reason": "异议理由秘密"}).status_code == 201
    client.post("/logout")
    return ent, consent, report, penalty


def test_no_public_endpoint_shows_anything_private(exposed, app):
    ent, consent, report, penalty = exposed
    anon = app.test_client()
    forbidden = (*SECRETS, consent.consent_id, report.report_no, report.digest)
    api = [f"/api/v1/public/enterprises/{ent.uscc}", f"/api/v1/enterprises/{ent.uscc}",
           f"/api/v1/enterprises?q={ent.name}", f"/api/v1/enterprises/{ent.uscc}/evaluation",
           f"/api/v1/enterprises/{ent.uscc}/evaluations", "/api/v1/lists/red", "/api/v1/lists/black",
           "/api/v1/lists/watch", "/api/v1/grades/distribution", "/api/v1/index", "/api/v1/commitment-texts",
           "/api/v1/products", "/api/v1/marketplace/stats"]
    pages = ["/", f"/enterprises?q={ent.name}", f"/enterprises/{ent.uscc}", "/lists", "/lists/red", "/lists/black",
             "/lists/watch", "/credit-index", "/products", "/marketplace/stats"]
    seen, queue = set(), api + pages
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        resp = anon.get(path, headers={"Accept": "text/html"} if not path.startswith("/api/") else {})
        body = resp.get_data(as_text=True)
        assert resp.status_code == 200, (path, resp.status_code)
        for secret in forbidden:
            assert secret not in body, (path, secret)
        if not path.startswith("/api/"):  # follow every public link once
            for href in re.findall(r'href="(/[^"#]*)"', body):
                href = href.replace("&amp;", "&")
                if href.startswith(("/static/", "/login", "/api/docs")) or href in seen:
                    continue
                if href.startswith(("/enterprises", "/lists", "/credit-index", "/products", "/marketplace", "/api/v1/")):
                    queue.append(href)
    assert f"/enterprises/{ent.uscc}" in seen and len(seen) > 20
    profile = anon.get(f"/api/v1/public/enterprises/{ent.uscc}").get_json()
    assert [set(p) <= set(PENALTY_FIELDS) for p in profile["penalties"]] == [True]
    assert [set(li) <= set(LICENCE_FIELDS) for li in profile["licences"]] == [True]
    assert sorted(m["list"] for m in profile["lists"]) == ["black", "watch"] and profile["grade"] == "C"
    assert profile["grade_label"] == "信用缺失"
    assert [c["title"] for c in profile["commitments"]] == ["信用电力自律公约"]
    assert set(profile) == {"uscc", "name", "segment", "segment_label", "region_code", "region", "registered_capital",
                            "founded_on", "status", "status_label", "grade", "grade_label", "grade_as_of", "scorecard_version",
                            "lists", "commitments", "licences", "penalties"}
    assert "explanation" not in anon.get(f"/api/v1/enterprises/{ent.uscc}/evaluation").get_json()


def test_the_private_endpoints_refuse_the_public(exposed, app):
    ent, consent, report, _ = exposed
    anon = app.test_client()
    for path in (f"/api/v1/enterprises/{ent.uscc}/profile", f"/api/v1/enterprises/{ent.uscc}/records",
                 f"/api/v1/consents/{consent.consent_id}", "/api/v1/query-log", "/api/v1/me/report",
                 "/api/v1/objections", "/api/v1/repairs", "/api/v1/me/lists", "/api/v1/me/notices",
                 "/api/v1/list-changes", f"/api/v1/reports/{report.report_no}"):
        assert anon.get(path).status_code == 401, path
