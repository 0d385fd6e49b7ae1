"""``POST /api/v1/records/batch``: OAuth2 client credentials, content types, limits."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from app.archive.models import CreditRecord
from app.oauth.models import OAuthToken


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_batch_json_array_with_per_row_results(client, db, make_enterprise, make_provider, make_client, token_for, rows):
    ent = make_enterprise()
    provider = make_provider()
    oc, secret = make_client(provider)
    token = token_for(oc, secret)
    body = [rows.contract(ent.uscc, "c-1"), rows.contract(ent.uscc, "c-2", due_on="2024-02-30")]
    resp = client.post("/api/v1/records/batch", json=body, headers=_auth(token))
    assert resp.status_code == 200, resp.get_json()
    data = resp.get_json()
    assert (data["accepted"], data["refused"], data["committed"]) == (1, 1, True)
    assert data["rows"][1]["errors"]["payload.due_on"]
    again = client.post("/api/v1/records/batch", json=body[:1], headers=_auth(token)).get_json()
    assert again["unchanged"] == 1
    assert db.scalar(sa.select(sa.func.count()).select_from(CreditRecord)) == 1


def test_batch_ndjson_reports_a_broken_line(client, make_enterprise, make_provider, make_client, token_for, rows):
    ent = make_enterprise()
    oc, secret = make_client(make_provider())
    lines = json.dumps(rows.utility(ent.uscc, "u-1")) + "\n{not json\n"
    resp = client.post("/api/v1/records/batch", data=lines.encode(),
                       headers={**_auth(token_for(oc, secret)), "Content-Type": "application/x-ndjson"})
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["accepted"] == 1 and data["refused"] == 1
    assert "_row" in data["rows"][1]["errors"]


def test_all_or_nothing_batch_is_a_422_problem_naming_row_and_field(client, db, make_enterprise, make_provider,
                                                                   make_client, token_for, rows):
    ent = make_enterprise()
    oc, secret = make_client(make_provider())
    body = [rows.contract(ent.uscc, "a"), rows.contract(ent.uscc, "b", amount="-1")]
    resp = client.post("/api/v1/records/batch?mode=all_or_nothing", json=body, headers=_auth(token_for(oc, secret)))
    assert resp.status_code == 422
    assert resp.mimetype == "application/problem+json"
    problem = resp.get_json()
    assert problem["code"] == "batch_refused"
    assert "rows[1].payload.amount" in problem["errors"]
    assert db.scalar(sa.select(sa.func.count()).select_from(CreditRecord)) == 0


def test_no_token_is_401_with_www_authenticate(client, rows):
    resp = client.post("/api/v1/records/batch", json=[rows.contract("91110000053621038D")])
    assert resp.status_code == 401
    assert resp.mimetype == "application/problem+json"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert resp.get_json()["code"] == "missing_authorization"


def test_token_in_query_string_is_refused(client, make_provider, make_client, token_for, rows):
    oc, secret = make_client(make_provider())
    token = token_for(oc, secret)
    resp = client.post(f"/api/v1/records/batch?access_token={token}", json=[rows.contract("91110000053621038D")])
    assert resp.status_code in (401, 422)
    assert resp.status_code != 200


def test_wrong_scope_is_403(client, make_provider, make_client, token_for, rows):
    oc, secret = make_client(make_provider(), scope="")
    resp = client.post("/api/v1/records/batch", json=[rows.contract("91110000053621038D")],
                       headers=_auth(token_for(oc, secret)))
    assert resp.status_code == 403
    assert resp.get_json()["code"] == "insufficient_scope"
    assert 'error="insufficient_scope", scope="records:write"' in resp.headers["WWW-Authenticate"]


def test_expired_and_revoked_tokens_are_401(client, db, make_provider, make_client, token_for, rows):
    oc, secret = make_client(make_provider())
    expired = token_for(oc, secret)
    revoked = token_for(oc, secret)
    tokens = db.scalars(sa.select(OAuthToken).where(OAuthToken.client_pk == oc.id).order_by(OAuthToken.id)).all()
    tokens[0].expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    tokens[1].revoked_at = dt.datetime.now(dt.UTC)
    db.flush()
    for token in (expired, revoked, "made-up-token"):
        resp = client.post("/api/v1/records/batch", json=[rows.contract("91110000053621038D")], headers=_auth(token))
        assert resp.status_code == 401, token
        assert resp.get_json()["code"] == "invalid_token"


def test_wrong_content_type_is_415(client, make_provider, make_client, token_for):
    oc, secret = make_client(make_provider())
    resp = client.post("/api/v1/records/batch", data="a,b\n1,2", headers={**_auth(token_for(oc, secret)),
                                                                           "Content-Type": "text/csv"})
    assert resp.status_code == 415
    assert resp.mimetype == "application/problem+json"


def test_body_over_the_limit_is_413(app, client, make_provider, make_client, token_for, rows, monkeypatch):
    import dataclasses

    oc, secret = make_client(make_provider())
    token = token_for(oc, secret)
    small = dataclasses.replace(app.extensions["pc_settings"], max_batch_bytes=2000)
    monkeypatch.setitem(app.extensions, "pc_settings", small)
    body = [rows.contract("91110000053621038D", f"r-{i}") for i in range(20)]
    resp = client.post("/api/v1/records/batch", json=body, headers=_auth(token))
    assert resp.status_code == 413
    assert resp.mimetype == "application/problem+json"


def test_too_many_rows_is_refused_whole(app, client, make_provider, make_client, token_for, rows, monkeypatch):
    import dataclasses

    oc, secret = make_client(make_provider())
    token = token_for(oc, secret)
    monkeypatch.setitem(app.extensions, "pc_settings",
                        dataclasses.replace(app.extensions["pc_settings"], max_batch_rows=2))
    resp = client.post("/api/v1/records/batch", json=[rows.contract("91110000053621038D", f"r{i}") for i in range(3)],
                       headers=_auth(token))
    assert resp.status_code == 422
    assert resp.get_json()["code"] == "batch_too_large"


def test_a_client_that_is_not_a_provider_cannot_submit(client, make_client, token_for, rows):
    oc, secret = make_client(None)
    resp = client.post("/api/v1/records/batch", json=[rows.contract("91110000053621038D")],
                       headers=_auth(token_for(oc, secret)))
    assert resp.status_code == 422
    assert resp.get_json()["code"] == "not_a_provider"


def test_hostile_bodies_are_problems_or_refused_rows_never_500(client, make_enterprise, make_provider, make_client,
                                                               token_for, rows):
    ent = make_enterprise()
    oc, secret = make_client(make_provider())
    auth = _auth(token_for(oc, secret))
    nested = json.dumps(rows.utility(ent.uscc, "u-1")) + "\n" + "[" * 100_000 + "\n"
    resp = client.post("/api/v1/records/batch", data=nested.encode(),
                       headers={**auth, "Content-Type": "application/x-ndjson"})
    assert resp.status_code == 200
    assert (resp.get_json()["accepted"], resp.get_json()["refused"]) == (1, 1)
    # A body that is not JSON (or not text) is a 400, as on every other endpoint.
    resp = client.post("/api/v1/records/batch", data=b"[" * 100_000, headers={**auth, "Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
    resp = client.post("/api/v1/records/batch", data=b"[\xff\xfe]", headers={**auth, "Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
    assert "_batch" in resp.get_json()["errors"]
    resp = client.post("/api/v1/records/batch", data=b"{}", headers={**auth, "Content-Type": "application/json"})
    assert resp.status_code == 422 and resp.get_json()["errors"] == {"_batch": ["应为记录的 JSON 数组。"]}


def test_a_null_ended_on_is_the_same_as_none_given(client, db, make_enterprise, make_provider, make_client,
                                                   token_for, rows):
    """The sample record in docs/api.md carries ``"ended_on": null``: the end date is then derived
    from the payload, as when the field is absent (and the same record is then unchanged)."""
    ent = make_enterprise()
    oc, secret = make_client(make_provider())
    headers = _auth(token_for(oc, secret))
    with_null = {**rows.contract(ent.uscc, "n-1"), "ended_on": None}
    resp = client.post("/api/v1/records/batch", json=[with_null], headers=headers)
    assert resp.status_code == 200 and resp.get_json()["accepted"] == 1, resp.get_json()
    again = client.post("/api/v1/records/batch", json=[rows.contract(ent.uscc, "n-1")], headers=headers).get_json()
    assert again["unchanged"] == 1, again
    record = db.scalar(sa.select(CreditRecord).where(CreditRecord.provider_ref == "n-1"))
    assert record is not None and record.ended_on is not None  # derived: the contract's fulfilment day
    bad = client.post("/api/v1/records/batch", json=[{**rows.contract(ent.uscc, "n-2"), "ended_on": "someday"}],
                      headers=headers).get_json()
    assert "ended_on" in bad["rows"][0]["errors"], bad
