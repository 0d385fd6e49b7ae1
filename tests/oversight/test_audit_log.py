"""Operators read the audit log (API and console page), filtered; nobody else does."""

from __future__ import annotations

from app.audit import services as audit


def _events(db):
    audit.record(db, "user:alice", "consent.revoke", subject_type="consent", subject_id="cst_a", request_id="r-1")
    audit.record(db, "client:pc_bank", "report.read", subject_type="report", subject_id="PC1", detail={"format": "pdf"})
    audit.record(db, "ip:10.0.0.9", "oauth.token", outcome="refused", code="invalid_client")
    db.flush()


def test_operators_read_the_log_newest_first_with_filters(client, db, login, make_user):
    _events(db)
    login(make_user("operator"))
    everything = client.get("/api/v1/audit-events?per_page=100").get_json()
    actions = [e["action"] for e in everything["items"]]
    assert actions.index("oauth.token") < actions.index("report.read") < actions.index("consent.revoke")
    assert all(e["hash"] for e in everything["items"])
    family = client.get("/api/v1/audit-events?action=consent").get_json()["items"]
    assert {e["action"] for e in family} == {"consent.revoke"}
    refused = client.get("/api/v1/audit-events?outcome=refused").get_json()["items"]
    assert [(e["action"], e["code"]) for e in refused][:1] == [("oauth.token", "invalid_client")]
    one = client.get("/api/v1/audit-events?subject_type=report&subject_id=PC1").get_json()
    assert one["meta"]["total"] == 1 and one["items"][0]["detail"] == {"format": "pdf"}
    assert client.get("/api/v1/audit-events?request_id=r-1").get_json()["items"][0]["subject_id"] == "cst_a"
    bad = client.get("/api/v1/audit-events?outcome=maybe")
    assert bad.status_code == 422 and "query.outcome" in bad.get_json()["errors"]
    page = client.get("/console/audit?action=report")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "report.read" in html and "consent.revoke" not in html
    assert client.get("/console/audit?outcome=maybe").status_code == 422


def test_nobody_else_reads_the_log(client, db, login, make_user, make_enterprise):
    _events(db)
    assert client.get("/api/v1/audit-events").status_code == 401
    for who in (make_user("firm", enterprise=make_enterprise()), make_user("bank")):
        login(who)
        assert client.get("/api/v1/audit-events").status_code == 403
        assert client.get("/console/audit").status_code == 403
