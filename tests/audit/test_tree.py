"""The audit log's Merkle tree through the API: signed tree heads published and verifiable
with the JWKS alone, inclusion proofs of every access to a firm's data for that firm (and no
other), consistency proofs for anyone — each checked with tests/audit/rfc9162.py, written
from the RFC apart from the application's code."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask
from sqlalchemy.orm import Session

from app.audit import services as audit
from app.audit.models import AuditEvent
from app.audit.services import STH_TYP
from consent.models import QueryLog
from tests.audit import rfc9162
from tests.consent.conftest import bearer
from tests.reports.conftest import pull


def b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_sth(head: dict[str, Any], jwks: dict[str, Any]) -> dict[str, Any]:
    """The tree head's JWS checked with nothing but the published JWKS and Ed25519."""
    protected, payload, signature = head["signature"].split(".")
    header = json.loads(b64(protected))
    assert header == {"alg": "Ed25519", "kid": head["kid"], "typ": STH_TYP}
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519"
    Ed25519PublicKey.from_public_bytes(b64(jwk["x"])).verify(b64(signature), f"{protected}.{payload}".encode())
    return dict(json.loads(b64(payload)))


def events(db: Session) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))


def root_of(db: Session, size: int) -> bytes:
    """MTH of the first ``size`` events, computed here from the rows."""
    return rfc9162.mth([rfc9162.event_bytes(e) for e in events(db)[:size]])


def sign(app: Flask, db: Session) -> Any:
    return audit.sign_head(db, app.extensions["pc_signing_keys"])


def firm_user(make_user: Any, ent: Any) -> Any:
    return make_user("firm", enterprise=ent)


def check_inclusion(proof: dict[str, Any], root: bytes) -> bool:
    leaf = rfc9162.leaf(proof["leaf_data"].encode())
    assert leaf.hex() == proof["leaf_hash"]
    return rfc9162.verify_inclusion(proof["leaf_index"], proof["tree_size"], leaf,
                                    [bytes.fromhex(p) for p in proof["audit_path"]], root)


def test_tree_heads_are_public_verify_with_the_jwks_alone_and_are_kept_outside_the_database(
        app, client, db, login, make_user) -> None:
    anonymous = app.test_client()
    missing = anonymous.get("/api/v1/audit/tree-head")
    assert missing.status_code == 404 and missing.get_json()["code"] == "tree_head_not_found"
    for i in range(5):
        audit.record(db, "system", "test.event", detail={"i": i, "text": "中文"})
    assert anonymous.post("/api/v1/audit/tree-heads").get_json()["code"] in ("csrf_failed", "sign_in_required")
    login(make_user("bank"))
    assert client.post("/api/v1/audit/tree-heads").status_code == 403
    login(make_user("operator"))
    made = client.post("/api/v1/audit/tree-heads")
    assert made.status_code == 201, made.get_json()
    head = made.get_json()

    assert anonymous.get("/api/v1/audit/tree-head").get_json() == head
    assert anonymous.get(made.headers["Location"]).get_json() == head
    assert anonymous.get("/api/v1/audit/tree-heads").get_json()["items"][0] == head
    payload = verify_sth(head, anonymous.get("/.well-known/jwks.json").get_json())
    assert payload == {k: head[k] for k in ("tree_size", "root_hash", "timestamp", "kid")}
    assert head["tree_size"] == len(events(db)) >= 5
    assert head["root_hash"] == root_of(db, head["tree_size"]).hex()

    folder = Path(app.extensions["pc_settings"].instance_path) / "audit"
    published = {k: v for k, v in head.items() if k != "signed_at"}
    assert json.loads((folder / "tree-heads.jsonl").read_text().splitlines()[-1]) == published
    assert json.loads((folder / "tree-head.json").read_text()) == published


def test_every_access_to_a_firms_data_is_an_event_the_firm_can_prove(
        app, archive, bank, active_token, client, db, login, make_enterprise) -> None:
    uscc = archive.enterprise.uscc
    _, tok = active_token(scopes=["identity", "tax"], fetch_type="periodic", frequency={"unit": "day", "value": 5})
    pulled = pull(bank, tok["access_token"], uscc)
    assert pulled.status_code == 201, pulled.get_json()
    report_no = pulled.get_json()["report"]["report_no"]
    assert bank.fetch(tok["access_token"], uscc, sections=["tax"]).status_code == 200
    assert client.get(f"/api/v1/reports/{report_no}", headers=bearer(bank.cc_token()["access_token"])).status_code == 200
    refused = bank.fetch(tok["access_token"], uscc, sections=["contract"])
    assert refused.status_code == 403 and refused.get_json()["code"] == "scope_insufficient"
    other = audit.record(db, "client:pc_other", "gate.access", subject_type="consent", subject_id="cst_other",
                         detail={"uscc": make_enterprise().uscc})
    head = sign(app, db)

    login(archive.user)
    listed = client.get(f"/api/v1/enterprises/{uscc}/audit-events?per_page=100").get_json()["items"]
    kinds = sorted((e["action"], e["outcome"]) for e in listed)
    assert kinds == [("gate.access", "ok"), ("gate.access", "ok"), ("gate.access", "refused"), ("report.read", "ok")]
    assert other.id not in {e["id"] for e in listed}
    # Each entry of the firm's query log is one of these events.
    logs = db.scalars(sa.select(QueryLog.id).where(QueryLog.enterprise_id == archive.enterprise.id)).all()
    assert len(logs) == 2
    assert sorted(logs) == sorted(e["detail"]["query_log_id"] for e in listed if e["outcome"] == "ok"
                                  and e["action"] == "gate.access")
    assert {e["detail"].get("report_no") for e in listed} >= {report_no}

    root = bytes.fromhex(client.get("/api/v1/audit/tree-head").get_json()["root_hash"])
    assert root == root_of(db, head.tree_size)
    rows = {e.id: e for e in events(db)}
    for e in listed:
        assert e["leaf_index"] is not None
        proof = client.get(f"/api/v1/audit/proofs/inclusion?event={e['id']}").get_json()
        assert proof["tree_size"] == head.tree_size and proof["tree_head"]["root_hash"] == root.hex()
        assert proof["leaf_index"] == e["leaf_index"] and proof["event_id"] == e["id"]
        assert proof["leaf_data"].encode() == rfc9162.event_bytes(rows[e["id"]])
        assert json.loads(proof["leaf_data"])["detail"]["uscc"] == uscc
        assert check_inclusion(proof, root)
        # …and in every smaller tree that holds it.
        size = e["leaf_index"] + 1
        small = client.get(f"/api/v1/audit/proofs/inclusion?event={e['id']}&tree_size={size}").get_json()
        assert small["tree_size"] == size and small["tree_head"] is None
        assert check_inclusion(small, root_of(db, size))
        assert not check_inclusion(small, root)


def test_a_firm_is_refused_proofs_of_events_about_others(app, client, db, login, make_user, make_enterprise) -> None:
    a, b = make_enterprise(), make_enterprise()
    mine = audit.record(db, "client:pc_x", "gate.access", subject_type="consent", subject_id="cst_a",
                        detail={"uscc": a.uscc})
    theirs = audit.record(db, "client:pc_x", "gate.access", subject_type="consent", subject_id="cst_b",
                          detail={"uscc": b.uscc})
    about_nobody = audit.record(db, "system", "client.register")
    sign(app, db)
    anonymous = app.test_client()
    assert anonymous.get(f"/api/v1/audit/proofs/inclusion?event={mine.id}").status_code == 401
    assert anonymous.get(f"/api/v1/enterprises/{a.uscc}/audit-events").status_code == 401

    login(firm_user(make_user, a))
    assert client.get(f"/api/v1/audit/proofs/inclusion?event={mine.id}").status_code == 200
    for event_id in (theirs.id, about_nobody.id, theirs.id + 1000):
        refused = client.get(f"/api/v1/audit/proofs/inclusion?event={event_id}")
        assert refused.status_code == 404 and refused.get_json()["code"] == "audit_event_not_found", event_id
    listed = client.get(f"/api/v1/enterprises/{b.uscc}/audit-events")
    assert listed.status_code == 403 and listed.get_json()["code"] == "tenancy_denied"
    assert client.get("/api/v1/audit-events").status_code == 403  # the whole log stays the operators'

    login(make_user("bank"))
    assert client.get(f"/api/v1/audit/proofs/inclusion?event={mine.id}").get_json()["code"] == "role_denied"

    login(make_user("operator"))
    for event_id in (theirs.id, about_nobody.id):
        proof = client.get(f"/api/v1/audit/proofs/inclusion?event={event_id}")
        assert proof.status_code == 200 and check_inclusion(proof.get_json(), root_of(db, proof.get_json()["tree_size"]))
    assert [e["id"] for e in client.get(f"/api/v1/enterprises/{b.uscc}/audit-events").get_json()["items"]] == [theirs.id]


def test_consistency_proofs_between_tree_heads_are_public(app, db) -> None:
    for i in range(5):
        audit.record(db, "system", "test.event", detail={"i": i})
    first = sign(app, db)
    for i in range(8):
        audit.record(db, "system", "test.event", detail={"i": 5 + i})
    second = sign(app, db)
    anonymous = app.test_client()
    proof = anonymous.get(f"/api/v1/audit/proofs/consistency?first={first.tree_size}").get_json()
    assert (proof["first"], proof["second"]) == (first.tree_size, second.tree_size)
    assert proof["tree_head"]["root_hash"] == second.root_hash
    assert rfc9162.verify_consistency(first.tree_size, second.tree_size, bytes.fromhex(first.root_hash),
                                      bytes.fromhex(second.root_hash),
                                      [bytes.fromhex(p) for p in proof["consistency_path"]])
    n = second.tree_size
    for m in range(1, n + 1):
        proof = anonymous.get(f"/api/v1/audit/proofs/consistency?first={m}&second={n}").get_json()
        path = [bytes.fromhex(p) for p in proof["consistency_path"]]
        assert rfc9162.verify_consistency(m, n, root_of(db, m), bytes.fromhex(second.root_hash), path), m
        assert proof["first_root"] == root_of(db, m).hex()
    for query, field in ((f"first={n}&second={n - 1}", "query.first"), (f"first=1&second={n + 1}", "query.second"),
                         ("first=0", "query.first"), ("second=3", "query.first"), ("first=x", "query.first")):
        refused = anonymous.get(f"/api/v1/audit/proofs/consistency?{query}")
        assert refused.status_code == 422 and field in refused.get_json()["errors"], (query, refused.get_json())


def test_an_event_after_the_last_signed_head_waits_for_the_next(app, client, db, login, make_user) -> None:
    anonymous = app.test_client()
    assert anonymous.get("/api/v1/audit/proofs/consistency?first=1").get_json()["code"] == "tree_head_not_found"
    early = audit.record(db, "system", "test.event")
    head = sign(app, db)
    late = audit.record(db, "system", "test.event")
    login(make_user("operator"))
    waiting = client.get(f"/api/v1/audit/proofs/inclusion?event={late.id}")
    assert waiting.status_code == 409 and waiting.get_json()["code"] == "audit_event_not_yet_in_tree"
    index = client.get(f"/api/v1/audit/proofs/inclusion?event={early.id}").get_json()["leaf_index"]
    for size in (index, head.tree_size + 1):
        refused = client.get(f"/api/v1/audit/proofs/inclusion?event={early.id}&tree_size={size}")
        assert refused.status_code == 422 and "query.tree_size" in refused.get_json()["errors"], size
    second = sign(app, db)  # the late event, and the operator's sign-in (audited) after it
    assert second.tree_size == head.tree_size + 2
    proof = client.get(f"/api/v1/audit/proofs/inclusion?event={late.id}").get_json()
    assert proof["tree_size"] == second.tree_size and check_inclusion(proof, root_of(db, second.tree_size))


def test_writing_an_event_does_no_tree_work(db, statements) -> None:
    """The tree takes events in when a head is signed: an append stays the chain's few
    statements (on PostgreSQL one round trip: the lock and the head, then the INSERT)."""
    audit.record(db, "system", "test.warm")
    statements.clear()
    audit.record(db, "system", "test.event", detail={"uscc": "9" * 18})
    assert len(statements) == (3 if db.get_bind().dialect.name == "postgresql" else 2), statements
    assert not any("audit_leaf" in s or "audit_node" in s or "audit_tree_head" in s for s in statements)


def test_the_firm_an_event_is_about_is_a_code_of_18_characters(db) -> None:
    good = audit.record(db, "system", "gate.access", detail={"uscc": "91330106MA2H00014Q"})
    for detail in ({"uscc": "x" * 40}, {"uscc": 123}, {}, {"uscc": None}):
        assert audit.record(db, "system", "gate.access", detail=detail).uscc is None
    db.expire_all()
    assert db.get(AuditEvent, good.id).uscc == "91330106MA2H00014Q"


def test_an_operator_reading_a_firms_archive_is_an_event_the_firm_can_prove(client, db, login, make_user,
                                                                             make_enterprise):
    import sqlalchemy as sa

    from app.audit.models import AuditEvent

    ent = make_enterprise()
    operator = make_user("operator")
    login(operator)
    assert client.get(f"/api/v1/enterprises/{ent.uscc}/profile").status_code == 200
    assert client.get(f"/api/v1/enterprises/{ent.uscc}/records").status_code == 200
    assert client.get(f"/enterprises/{ent.uscc}/records").status_code == 200
    reads = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "archive.read",
                                                   AuditEvent.subject_id == ent.uscc)).all()
    assert sorted(e.detail["what"] for e in reads) == ["profile", "records", "records_page"]
    assert all(e.detail["uscc"] == ent.uscc and e.actor == f"user:{operator.username}" for e in reads)
    client.get("/logout")
    login(make_user("firm", ent))  # the firm reading its own is no access to record
    assert client.get(f"/api/v1/enterprises/{ent.uscc}/records").status_code == 200
    assert db.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "archive.read", AuditEvent.subject_id == ent.uscc)) == 3
