"""``GET /api/v1/ingestion-runs[/{id}]`` and ``/console/ingestion``: what each batch did, row
by row — for operators only."""

from __future__ import annotations

import sqlalchemy as sa

from app.archive.models import CreditRecord


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _batch(client, make_enterprise, make_provider, make_client, token_for, rows):
    ent = make_enterprise()
    provider = make_provider()
    oc, secret = make_client(provider)
    token = token_for(oc, secret)
    first = client.post("/api/v1/records/batch", headers=_auth(token), json=[
        rows.contract(ent.uscc, "c-1"), rows.contract(ent.uscc, "c-2", due_on="2024-02-30"),
        rows.contract(ent.uscc, "c-3")]).get_json()
    second = client.post("/api/v1/records/batch", headers=_auth(token), json=[
        rows.contract(ent.uscc, "c-1", amount="99.00"), rows.contract(ent.uscc, "c-3")]).get_json()
    return ent, provider, first, second


def test_an_operator_sees_each_rows_result(client, db, make_enterprise, make_provider, make_client, token_for, rows,
                                           make_user, login):
    ent, provider, first, second = _batch(client, make_enterprise, make_provider, make_client, token_for, rows)
    login(make_user("operator"))
    listed = client.get(f"/api/v1/ingestion-runs?provider={provider.code}").get_json()
    assert [r["id"] for r in listed["items"]] == [second["run_id"], first["run_id"]]  # newest first
    assert (listed["items"][1]["accepted"], listed["items"][1]["refused"]) == (2, 1)
    only_refused = client.get(f"/api/v1/ingestion-runs?provider={provider.code}&refused_only=true").get_json()
    assert [r["id"] for r in only_refused["items"]] == [first["run_id"]]

    run = client.get(f"/api/v1/ingestion-runs/{first['run_id']}").get_json()
    assert [(f["row_index"], f["provider_ref"]) for f in run["refusals"]] == [(1, "c-2")]
    assert "payload.due_on" in run["refusals"][0]["errors"]
    # c-1 was corrected by the second batch: the first batch's version is now superseded.
    assert sorted((r["provider_ref"], r["version"], r["status"]) for r in run["rows"]) == [
        ("c-1", 1, "superseded"), ("c-3", 1, "accepted")]
    later = client.get(f"/api/v1/ingestion-runs/{second['run_id']}").get_json()
    assert [(r["provider_ref"], r["version"], r["status"]) for r in later["rows"]] == [("c-1", 2, "corrected")]
    assert later["unchanged"] == 1 and later["rows_meta"]["total"] == 1
    assert db.scalar(sa.select(sa.func.count()).select_from(CreditRecord)) == 2

    page = client.get(f"/console/ingestion/{first['run_id']}").get_data(as_text=True)
    assert "c-2" in page and "payload.due_on" in page and "已被后续批次更正" in page
    assert client.get("/api/v1/ingestion-runs/999999").status_code == 404
    assert client.get("/api/v1/ingestion-runs?page=0").get_json()["errors"]["query.page"]


def test_nobody_else_sees_ingestion_or_evaluation_runs(client, make_enterprise, make_provider, make_client,
                                                      token_for, rows, make_user, login, app):
    _, _, first, _ = _batch(client, make_enterprise, make_provider, make_client, token_for, rows)
    paths = ("/api/v1/ingestion-runs", f"/api/v1/ingestion-runs/{first['run_id']}", "/api/v1/evaluation-runs")
    anon = app.test_client()
    for path in paths:
        assert anon.get(path).status_code == 401, path
    assert anon.get("/console/ingestion", headers={"Accept": "text/html"}).status_code == 302  # to sign-in
    firm_user = make_user("firm", make_enterprise())
    login(firm_user)
    for path in (*paths, "/console/ingestion", f"/console/ingestion/{first['run_id']}", "/console/evaluations"):
        assert client.get(path).status_code == 403, path
    login(make_user("bank"))
    for path in (*paths, "/console/ingestion", "/console/evaluations"):
        assert client.get(path).status_code == 403, path


def test_an_operator_lists_evaluation_runs(client, db, make_enterprise, make_user, login):
    from app.scoring.services import run_evaluations

    make_enterprise()
    run = run_evaluations(db, "all")
    db.flush()
    login(make_user("operator"))
    listed = client.get("/api/v1/evaluation-runs").get_json()
    assert listed["items"][0]["id"] == run.id and listed["items"][0]["mode"] == "all"
    assert listed["items"][0]["firms"] >= 1 and listed["items"][0]["evaluated"] >= 1
    assert f"#{run.id}" in client.get("/console/evaluations").get_data(as_text=True)
