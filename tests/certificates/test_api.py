"""The API: who may do what (a firm only for itself, operators review, anyone signed in
objects, everyone verifies), 201 with Location, and bad input as problems naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from app.certificates import services
from tests.certificates.conftest import OPERATOR, reload
from tests.consent.conftest import csrf_of


def problem(resp: Any, status: int, field: str | None = None, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)[:600]
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    if field is not None:
        assert field in body["errors"], body
    if code is not None:
        assert body["code"] == code, body
    return body


def test_a_firm_applies_and_follows_its_application(client, db, make_enterprise, grade, firm_user, sign_in):
    ent = make_enterprise()
    grade(ent, "AA")
    user = firm_user(ent)
    sign_in(user)
    resp = client.post("/api/v1/me/certificates", json={"declaration": True})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "applied" and body["uscc"] == ent.uscc and body["events"][0]["to_status"] == "applied"
    assert resp.headers["Location"] == f"/api/v1/me/certificates/{body['certificate_no']}"
    assert client.get(resp.headers["Location"]).get_json()["certificate_no"] == body["certificate_no"]
    listed = client.get("/api/v1/me/certificates").get_json()
    assert [c["certificate_no"] for c in listed["items"]] == [body["certificate_no"]]
    problem(client.post("/api/v1/me/certificates", json={"declaration": True}), 409,
            code="certificate_application_open")
    withdrawn = client.post(f"/api/v1/me/certificates/{body['certificate_no']}/withdraw", json={})
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"


@pytest.mark.parametrize(("payload", "field"), [
    ({}, "declaration"),
    ({"declaration": False}, "declaration"),
    ({"declaration": "yes"}, "declaration"),
    ({"declaration": True, "note": "x"}, "note"),
])
def test_bad_application_bodies_are_named(client, db, make_enterprise, grade, firm_user, sign_in, payload, field):
    ent = make_enterprise()
    grade(ent, "AA")
    sign_in(firm_user(ent))
    problem(client.post("/api/v1/me/certificates", json=payload), 422, field)


def test_an_ineligible_firm_is_told_why_naming_its_grade(client, db, make_enterprise, grade, firm_user, sign_in):
    ent = make_enterprise()
    grade(ent, "BB")
    sign_in(firm_user(ent))
    body = problem(client.post("/api/v1/me/certificates", json={"declaration": True}), 422, "grade", "not_eligible")
    assert "BB 低于获证最低等级 A" in body["errors"]["grade"][0]


def test_a_firm_sees_only_its_own(client, db, issued, make_enterprise, grade, firm_user, sign_in):
    cert, _, _ = issued()
    other = make_enterprise()
    grade(other, "AA")
    sign_in(firm_user(other))
    for path in (f"/api/v1/me/certificates/{cert.certificate_no}", f"/api/v1/certificates/{cert.certificate_no}/history",
                 f"/api/v1/certificates/{cert.certificate_no}/pdf"):
        problem(client.get(path), 404, code="certificate_not_found")
    problem(client.post(f"/api/v1/me/certificates/{cert.certificate_no}/withdraw", json={}), 404)
    assert client.get("/api/v1/me/certificates").get_json()["items"] == []
    problem(client.get("/api/v1/certificates"), 403)  # the operators' list
    # the public facts are everyone's
    assert client.get(f"/api/v1/certificates/{cert.certificate_no}").status_code == 200


@pytest.mark.parametrize("role", ["bank", "tenderer", "group"])
def test_other_roles_cannot_apply_review_or_resolve(client, db, publicized, person, sign_in, role):
    cert, _, _ = publicized()
    who = person(role)
    o = services.object_to(db, person("bank"), cert.certificate_no, "异议")
    sign_in(who)
    problem(client.post("/api/v1/me/certificates", json={"declaration": True}), 403)
    for action in ("evaluate", "issue"):
        problem(client.post(f"/api/v1/certificates/{cert.certificate_no}/{action}", json={}), 403)
    problem(client.post(f"/api/v1/certificate-objections/{o.objection_no}/resolve",
                        json={"outcome": "upheld", "resolution": "我来处理"}), 403, code="not_an_operator")
    problem(client.get(f"/api/v1/certificate-objections/{o.objection_no}"), 404)  # someone else's objection
    assert reload(db, cert).status == "publicized" and o.status == "open"


def test_anonymous_callers_cannot_object_or_apply_but_may_verify(client, db, publicized):
    cert, _, _ = publicized()
    problem(client.post(f"/api/v1/certificates/{cert.certificate_no}/objections", json={"text": "匿名异议"}), 401,
            code="sign_in_required")  # who is asking comes first, before any CSRF token is asked for
    client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_of(client.get("/login").get_data(as_text=True))  # not signed in
    problem(client.post(f"/api/v1/certificates/{cert.certificate_no}/objections", json={"text": "匿名异议"}), 401,
            code="sign_in_required")
    problem(client.post("/api/v1/me/certificates", json={"declaration": True}), 401)
    assert reload(db, cert).status == "publicized" and not services.objections_of(db, cert)
    problem(client.get(f"/api/v1/certificates/{cert.certificate_no}/pdf"), 401)
    assert client.get(f"/api/v1/certificates/{cert.certificate_no}").get_json()["status"] == "publicized"
    notices = client.get("/api/v1/public/certificate-notices").get_json()
    assert cert.certificate_no in [n["certificate_no"] for n in notices["items"]] and notices["rules"]


def test_objecting_and_resolving_through_the_api(client, db, publicized, person, operator, sign_in, login):
    cert, ent, user = publicized()
    bank = person("bank")
    sign_in(bank)
    problem(client.post(f"/api/v1/certificates/{cert.certificate_no}/objections", json={"text": ""}), 422, "text")
    problem(client.post(f"/api/v1/certificates/{cert.certificate_no}/objections", json={}), 422, "text")
    problem(client.post(f"/api/v1/certificates/{cert.certificate_no}/objections", json={"text": "x", "y": 1}), 422, "y")
    problem(client.post("/api/v1/certificates/PCC2026AAAAAAAAAAAA/objections", json={"text": "x"}), 404)
    resp = client.post(f"/api/v1/certificates/{cert.certificate_no}/objections", json={"text": "该企业有安全生产事故未报送"})
    assert resp.status_code == 201 and resp.headers["Location"].startswith("/api/v1/certificate-objections/cob_")
    no = resp.get_json()["objection_no"]
    assert client.get(resp.headers["Location"]).get_json()["objector"] == bank.display_name
    assert [o["objection_no"] for o in client.get("/api/v1/certificate-objections").get_json()["items"]] == [no]
    # The firm sees the objection, not who raised it.
    sign_in(user)
    seen = client.get(f"/api/v1/me/certificates/{cert.certificate_no}").get_json()
    assert seen["open_objections"] == 1 and seen["objections"][0]["text"] == "该企业有安全生产事故未报送"
    assert "objector" not in seen["objections"][0]
    problem(client.post(f"/api/v1/certificates/{cert.certificate_no}/objections", json={"text": "自己"}), 403,
            code="own_certificate")
    sign_in(operator)
    problem(client.post(f"/api/v1/certificate-objections/{no}/resolve", json={"outcome": "maybe", "resolution": "x"}),
            422, "outcome")
    problem(client.post(f"/api/v1/certificate-objections/{no}/resolve", json={"outcome": "upheld"}), 422, "resolution")
    done = client.post(f"/api/v1/certificate-objections/{no}/resolve",
                       json={"outcome": "upheld", "resolution": "经核查属实"})
    assert done.status_code == 200 and done.get_json()["status"] == "upheld"
    assert reload(db, cert).status == "rejected"
    problem(client.post(f"/api/v1/certificate-objections/{no}/resolve",
                        json={"outcome": "dismissed", "resolution": "再次"}), 409, code="objection_resolved")


def test_writes_without_the_csrf_header_are_refused(client, db, publicized, person, sign_in):
    cert, _, _ = publicized()
    sign_in(person("bank"))
    client.environ_base.pop("HTTP_X_CSRFTOKEN", None)
    resp = client.post(f"/api/v1/certificates/{cert.certificate_no}/objections", json={"text": "异议"})
    assert resp.status_code == 400


def test_an_operator_runs_the_procedure_through_the_api(client, db, applied, publicized, operator, sign_in):
    waiting, _, _ = applied("AA")
    cert, ent, _ = publicized("AAA", days_ago=8)
    sign_in(operator)
    queue = client.get("/api/v1/certificates", query_string={"status": "applied"}).get_json()
    assert waiting.certificate_no in [c["certificate_no"] for c in queue["items"]]
    problem(client.get("/api/v1/certificates", query_string={"status": "lost"}), 422, "query.status")
    problem(client.get("/api/v1/certificates", query_string={"per_page": 0}), 422, "query.per_page")
    problem(client.post(f"/api/v1/certificates/{waiting.certificate_no}/evaluate", json={"note": ""}), 422, "note")
    evaluated = client.post(f"/api/v1/certificates/{waiting.certificate_no}/evaluate", json={})
    assert evaluated.status_code == 200 and evaluated.get_json()["status"] == "publicized"
    problem(client.post(f"/api/v1/certificates/{waiting.certificate_no}/evaluate", json={}), 409,
            code="certificate_status")
    issued = client.post(f"/api/v1/certificates/{cert.certificate_no}/issue", json={"note": "期满发证"})
    assert issued.status_code == 200 and issued.get_json()["status"] == "issued"
    assert issued.get_json()["events"][-1]["note"] == "期满发证"  # kept in the history
    assert evaluated.get_json()["events"][-1]["note"] is None  # none typed
    assert issued.get_json()["verify_url"] == f"http://localhost/verify/{cert.certificate_no}?digest={reload(db, cert).digest}"
    problem(client.post(f"/api/v1/certificates/{cert.certificate_no}/suspend", json={}), 422, "reason")
    problem(client.post(f"/api/v1/certificates/{cert.certificate_no}/suspend", json={"reason": " "}), 422, "reason")
    problem(client.post(f"/api/v1/certificates/{cert.certificate_no}/restore", json={"reason": "恢复"}), 409)
    assert client.post(f"/api/v1/certificates/{cert.certificate_no}/suspend",
                       json={"reason": "核查"}).get_json()["status"] == "suspended"
    assert client.post(f"/api/v1/certificates/{cert.certificate_no}/restore",
                       json={"reason": "核查无误"}).get_json()["status"] == "issued"
    revoked = client.post(f"/api/v1/certificates/{cert.certificate_no}/revoke", json={"reason": "企业注销"})
    assert revoked.get_json()["status"] == "revoked"
    history = client.get(f"/api/v1/certificates/{cert.certificate_no}/history").get_json()
    assert [e["to_status"] for e in history["events"]] == ["applied", "publicized", "issued", "suspended", "issued",
                                                           "revoked"]
    problem(client.post("/api/v1/certificates/PCC2026AAAAAAAAAAAA/revoke", json={"reason": "x"}), 404)
    profile = client.get(f"/api/v1/public/enterprises/{ent.uscc}/certificates").get_json()
    assert profile[0]["status"] == "revoked" and profile[0]["status_reason"] == "企业注销"


def test_issue_before_the_notice_ends_is_a_conflict(client, db, publicized, operator, sign_in):
    cert, _, _ = publicized()
    sign_in(operator)
    problem(client.post(f"/api/v1/certificates/{cert.certificate_no}/issue", json={}), 409, code="notice_period_running")
    assert OPERATOR.startswith("user:")


def test_messages_are_plain_chinese_naming_no_field(client, db, make_enterprise, grade, firm_user, publicized, person,
                                                     operator, sign_in):
    """The `errors` keys are the field names; the messages under them are what a person reads
    on the form, where no field called `declaration` or `outcome` is to be seen."""
    ent = make_enterprise()
    grade(ent, "AA")
    sign_in(firm_user(ent))
    body = problem(client.post("/api/v1/me/certificates", json={"declaration": False}), 422, "declaration")
    assert body["errors"]["declaration"] == ["申报须作出承诺：承诺平台所存及本企业报送的信用信息真实、完整，同意评价结果公示。"]
    cert, _, _ = publicized()
    o = services.object_to(db, person("bank"), cert.certificate_no, "有异议")
    sign_in(operator)
    body = problem(client.post(f"/api/v1/certificate-objections/{o.objection_no}/resolve",
                               json={"outcome": "maybe", "resolution": "x"}), 422, "outcome")
    assert body["errors"]["outcome"] == ["处理结果只能是异议成立或异议不成立。"]
    with pytest.raises(services.InvalidInput) as bad:
        services.resolve_objection(db, operator, o.objection_no, "open", "x")
    assert bad.value.errors == {"outcome": ["处理结果只能是异议成立或异议不成立。"]}
    for messages in bad.value.errors.values():
        assert not any(word in m for m in messages for word in ("outcome", "upheld", "dismissed", "declaration"))


def test_the_operators_note_on_an_evaluation_or_an_issue_goes_into_the_history(client, db, applied, publicized,
                                                                                 grade, operator, sign_in):
    """The optional 「说明」 was accepted and thrown away: it is the event's ``note`` now, on
    the result published, the application rejected, the certificate issued."""
    waiting, _, _ = applied("AA")
    failing, failing_ent, _ = applied("A")
    grade(failing_ent, "BBB")  # fallen since the application: the evaluation rejects it
    cert, _, user = publicized("AAA", days_ago=8)
    sign_in(operator)
    evaluated = client.post(f"/api/v1/certificates/{waiting.certificate_no}/evaluate",
                            json={"note": "  材料齐全，按当前等级公示 "})
    assert evaluated.status_code == 200, evaluated.get_json()
    last = evaluated.get_json()["events"][-1]
    assert (last["to_status"], last["note"]) == ("publicized", "材料齐全，按当前等级公示")
    rejected = client.post(f"/api/v1/certificates/{failing.certificate_no}/evaluate", json={"note": "等级已下降"})
    assert rejected.get_json()["status"] == "rejected" and rejected.get_json()["events"][-1]["note"] == "等级已下降"
    issued = client.post(f"/api/v1/certificates/{cert.certificate_no}/issue", json={"note": "公示期满，核对无误"})
    assert issued.get_json()["status"] == "issued"
    history = client.get(f"/api/v1/certificates/{cert.certificate_no}/history").get_json()["events"]
    assert [(e["to_status"], e["note"]) for e in history] == [
        ("applied", None), ("publicized", None), ("issued", "公示期满，核对无误")]
    assert history[-1]["detail"]["note"] == "公示期满，核对无误"
    problem(client.post(f"/api/v1/certificates/{cert.certificate_no}/issue", json={"note": "x" * 501}), 422, "note")
    sign_in(user)  # the firm reads its history with the note
    mine = client.get(f"/api/v1/me/certificates/{cert.certificate_no}").get_json()["events"]
    assert mine[-1]["note"] == "公示期满，核对无误"
