"""Public verification at /verify/{no} (page and JSON) and GET /api/v1/certificates/{no}: a real
certificate, a forged one (a number never issued; the right number with another digest), a
revoked one; malformed input named; the PDF (its text, and the QR code's payload: the verify
address with the number and digest)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from app.certificates import pdf as certificate_pdf
from app.certificates import services
from tests.certificates.conftest import reload

FORGED_DIGEST = "0" * 64


def verify_json(client: Any, number: str, digest: str | None = None) -> Any:
    query = {"format": "json", **({"digest": digest} if digest else {})}
    return client.get(f"/verify/{number}", query_string=query)


def test_a_real_certificate_verifies_with_its_digest(client, db, issued):
    cert, ent, _ = issued("AAA")
    resp = verify_json(client, cert.certificate_no, cert.digest)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["valid"] is True and body["in_force"] is True and body["status"] == "issued"
    assert body["digest_matches"] is True and body["signature_valid"] is True
    assert (body["enterprise_name"], body["uscc"], body["grade"]) == (ent.name, ent.uscc, "AAA")
    assert body["valid_from"] == "2026-11-18" and body["valid_until"] == "2029-11-17"
    page = client.get(f"/verify/{cert.certificate_no}?digest={cert.digest}").get_data(as_text=True)
    assert "证书有效" in page and ent.name in page and "2029-11-17" in page and "一致" in page
    api = client.get(f"/api/v1/certificates/{cert.certificate_no}", query_string={"digest": cert.digest})
    assert api.status_code == 200 and api.get_json() == body
    lower = client.get(f"/verify/{cert.certificate_no.lower()}?format=json")  # typed in lower case
    assert lower.status_code == 200 and lower.get_json()["certificate_no"] == cert.certificate_no


def test_a_forged_certificate_fails_an_unknown_number_and_a_changed_digest(client, db, issued):
    cert, _, _ = issued()
    never = "PCC2026" + "A" * 12
    resp = verify_json(client, never)
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == "certificate_not_found"
    page = client.get(f"/verify/{never}")
    assert page.status_code == 404 and "不是本平台颁发的信用等级证书" in page.get_data(as_text=True)
    changed = verify_json(client, cert.certificate_no, FORGED_DIGEST).get_json()
    assert changed["valid"] is False and changed["digest_matches"] is False and changed["in_force"] is True
    assert changed["verdict"].startswith("摘要不一致")
    html = client.get(f"/verify/{cert.certificate_no}?digest={FORGED_DIGEST}").get_data(as_text=True)
    assert "摘要不一致" in html and "伪造或篡改" in html


def test_a_revoked_certificate_is_reported_revoked_with_its_reason(client, db, issued, operator):
    cert, _, _ = issued()
    services.revoke(db, operator, cert.certificate_no, "企业提供虚假材料")
    body = verify_json(client, cert.certificate_no, cert.digest).get_json()
    assert body["status"] == "revoked" and body["status_label"] == "已撤销"
    assert body["valid"] is False and body["in_force"] is False and body["digest_matches"] is True
    assert body["status_reason"] == "企业提供虚假材料" and body["verdict"] == "证书已撤销：不再有效"
    html = client.get(f"/verify/{cert.certificate_no}").get_data(as_text=True)
    assert "已撤销" in html and "企业提供虚假材料" in html


def test_a_tampered_row_fails_its_signature(client, db, issued):
    cert, _, _ = issued("A")
    cert.body = cert.body.replace('"grade":"A"', '"grade":"AAA"')
    db.flush()
    body = verify_json(client, cert.certificate_no).get_json()
    assert body["signature_valid"] is False and body["valid"] is False


@pytest.mark.parametrize("column", ["grade", "valid_until", "valid_from"])
def test_a_row_changed_after_issue_fails_its_signature(client, db, issued, column):
    """The answer shows the grade and validity from the row: changed there after issue (the
    signed body left alone), the signature no longer vouches for them."""
    import datetime as dt

    cert, _, _ = issued("A")
    setattr(cert, column, "AAA" if column == "grade" else getattr(cert, column) + dt.timedelta(days=365))
    db.flush()
    body = verify_json(client, cert.certificate_no, cert.digest).get_json()
    assert body["signature_valid"] is False and body["valid"] is False and body["in_force"] is False


def test_a_result_in_notice_is_shown_as_such_and_applications_are_unknown(client, db, publicized, applied):
    cert, ent, _ = publicized()
    body = verify_json(client, cert.certificate_no).get_json()
    assert body["issued"] is False and body["status"] == "publicized" and body["valid"] is False
    assert body["digest"] is None and body["signature_valid"] is None
    waiting, _, _ = applied()
    assert verify_json(client, waiting.certificate_no).status_code == 404


@pytest.mark.parametrize(("number", "digest", "field"), [
    ("PCC26ABC", None, "certificate_no"),
    ("PCC2026AAAAAAAAAAA1", None, "certificate_no"),  # 1 is not base32
    ("PCC2026AAAAAAAAAAAA", "xyz", "digest"),
])
def test_malformed_input_is_a_problem_naming_the_field(client, db, number, digest, field):
    resp = verify_json(client, number, digest)
    assert resp.status_code == 422 and field in resp.get_json()["errors"]
    api = client.get(f"/api/v1/certificates/{number}", query_string={"digest": digest} if digest else {})
    assert api.status_code == 422 and field in api.get_json()["errors"]


def test_the_check_form_redirects_a_number_to_its_page(client, db, issued):
    cert, _, _ = issued()
    form = client.get("/certificates/verify")
    assert form.status_code == 200 and "证书编号" in form.get_data(as_text=True)
    resp = client.get("/verify", query_string={"report_no": cert.certificate_no.lower(), "digest": cert.digest})
    assert resp.status_code == 302 and f"/verify/{cert.certificate_no}" in resp.headers["Location"]


def test_the_pdf_names_the_firm_and_number_and_its_qr_code_holds_the_verify_address(
        client, db, issued, sign_in, monkeypatch, tmp_path):
    cert, ent, user = issued("AA")
    drawn: list[str] = []
    original = certificate_pdf.qr_drawing

    def spy(url: str, *args: Any, **kwargs: Any) -> Any:
        drawing = original(url, *args, **kwargs)
        drawn.append(drawing.contents[0].value)
        return drawing

    monkeypatch.setattr(certificate_pdf, "qr_drawing", spy)
    sign_in(user)
    resp = client.get(f"/api/v1/certificates/{cert.certificate_no}/pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert resp.headers["X-Certificate-Digest"] == cert.digest
    assert drawn == [f"http://localhost/verify/{cert.certificate_no}?digest={cert.digest}"]
    path = tmp_path / "c.pdf"
    path.write_bytes(resp.data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert cert.certificate_no in text and ent.name in text and ent.uscc in text
    assert "信用等级证书" in text and "2026 年 11 月 18 日 至 2029 年 11 月 17 日" in text and cert.digest in text
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    assert "WenQuanYiMicroHei" in fonts and "Helvetica" not in fonts  # the Chinese font embedded, nothing else
    # The QR code scanned goes to a page that says the certificate is valid.
    scanned = client.get(drawn[0].removeprefix("http://localhost") + "&format=json").get_json()
    assert scanned["valid"] is True and scanned["digest_matches"] is True


def test_a_revoked_certificates_pdf_says_so(client, db, issued, operator, sign_in, tmp_path):
    cert, _, user = issued()
    services.revoke(db, operator, reload(db, cert).certificate_no, "列入黑名单")
    sign_in(user)
    path = tmp_path / "r.pdf"
    path.write_bytes(client.get(f"/api/v1/certificates/{cert.certificate_no}/pdf").data)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "已撤销" in text and "以核验结果为准" in text
