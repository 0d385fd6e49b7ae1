"""Credit commitments: a signed statement that verifies offline and fails when tampered, a
record in the archive (on reports, in the willingness dimension), one signature a version."""

from __future__ import annotations

import pytest

from app.core.signing import SignatureInvalid
from app.oversight.commitments import verify_statement


def sign(client, text="self_discipline"):
    return client.post("/api/v1/commitments", json={"text": text, "signatory": "王建国", "signatory_title": "董事长"})


def test_signing_files_a_verifiable_statement_that_counts(app, db, client, make_enterprise, firm_user, sign_in):
    ent = make_enterprise()
    user = firm_user(ent)
    sign_in(user)
    texts = {t["code"]: t for t in client.get("/api/v1/commitment-texts").get_json()}
    assert set(texts) == {"self_discipline", "market_admission"} and len(texts["self_discipline"]["sha256"]) == 64
    resp = sign(client)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    jwks = app.extensions["pc_signing_keys"].jwks()
    payload = verify_statement(body["statement"], jwks)
    assert payload["enterprise"]["uscc"] == ent.uscc and payload["text"]["sha256"] == texts["self_discipline"]["sha256"]
    assert payload["signatory"] == "王建国" and payload["text"]["version"] == "2024"
    head, claims, sig = body["statement"].split(".")
    tampered = ".".join([head, claims[:-2] + ("A" if claims[-2] != "A" else "B") + claims[-1], sig])
    with pytest.raises(SignatureInvalid):
        verify_statement(tampered, jwks)
    # Filed in the archive: on the firm's report and counted in the willingness dimension.
    report = client.get("/api/v1/me/report").get_json()["report"]["sections"]
    assert [r["payload"]["title"] for r in report["commitment"]] == ["信用电力自律公约"]
    from reports.describe import describe

    assert describe(report["commitment"][0]).startswith("信用电力自律公约；版本 v2024")  # no internal code
    evaluation = client.get(f"/api/v1/enterprises/{ent.uscc}/evaluation").get_json()
    factor = next(f for f in evaluation["explanation"]["factors"] if f["key"] == "commitments")
    assert factor["value"] == 1
    assert sign(client).status_code == 409  # once a version
    assert sign(client, "market_admission").status_code == 201
    public = client.get(f"/api/v1/public/enterprises/{ent.uscc}").get_json()
    assert sorted(c["title"] for c in public["commitments"]) == ["信用电力自律公约", "电力市场准入信用承诺书"]
    assert "王建国" not in str(public)


def test_only_firms_sign_and_only_known_texts(client, sign_in, make_user, make_enterprise, firm_user):
    sign_in(make_user("bank"))
    assert sign(client).status_code == 403
    sign_in(firm_user(make_enterprise()))
    unknown = sign(client, "no_such_text")
    assert unknown.status_code == 422 and "text" in unknown.get_json()["errors"]
    missing = client.post("/api/v1/commitments", json={"text": "self_discipline"})
    assert missing.status_code == 422 and {"signatory", "signatory_title"} <= set(missing.get_json()["errors"])


def test_another_firm_cannot_read_a_signed_commitment(client, sign_in, make_enterprise, firm_user, make_user):
    sign_in(firm_user(make_enterprise()))
    no = sign(client).get_json()["commitment_no"]
    assert client.get(f"/api/v1/commitments/{no}").status_code == 200
    sign_in(firm_user(make_enterprise()))
    assert client.get(f"/api/v1/commitments/{no}").status_code == 404
    sign_in(make_user("operator"))
    assert client.get(f"/api/v1/commitments/{no}").status_code == 200
