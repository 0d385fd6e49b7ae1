"""Issued reports are frozen and verifiable: the signature covers every byte of the report,
the public /verify page answers for real, forged and unknown numbers without showing any
content, and verification works offline (powercredit verify)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from app.core.signing import SignatureInvalid
from reports.models import Report
from reports.services import canonical, sha256_hex, verify_envelope
from tests.markup import unwrapped


@pytest.fixture
def issued(archive, login, client):
    login(archive.user)
    resp = client.get("/api/v1/me/report")
    assert resp.status_code == 201
    client.post("/logout", data={})
    return resp.get_json()


def jwks(client):
    return client.get("/.well-known/jwks.json").get_json()


def test_the_stored_body_is_the_digested_and_signed_bytes(issued, db, client):
    stored = db.scalar(sa.select(Report).where(Report.report_no == issued["report"]["report_no"]))
    assert stored.body.encode() == canonical(issued["report"])
    assert stored.digest == sha256_hex(stored.body.encode()) == issued["digest"]
    signed = verify_envelope(issued, jwks(client))
    assert signed["report_no"] == stored.report_no and signed["digest"] == stored.digest


def test_the_signature_fails_after_any_byte_of_the_report_changes(issued, client):
    keys = jwks(client)
    body = canonical(issued["report"])
    checked = 0
    for i in range(len(body)):
        tampered = bytearray(body)
        tampered[i] ^= 0x01
        try:
            doc = json.loads(bytes(tampered))
        except ValueError:
            continue  # not JSON any more: nothing to verify, and nothing a reader would accept
        checked += 1
        with pytest.raises(SignatureInvalid):
            verify_envelope({**issued, "report": doc}, keys)
    assert checked > len(body) // 2  # most single-bit changes still parse: they were all caught


def test_a_signature_from_another_key_or_another_report_fails(issued, client, archive, login):
    from app.core.signing import SigningKeys

    forged = dict(issued, signature=SigningKeys.generate().sign({"report_no": issued["report"]["report_no"],
                                                                 "digest": issued["digest"]}, "pc-report+jws"))
    with pytest.raises(SignatureInvalid):
        verify_envelope(forged, jwks(client))
    login(archive.user)
    other = client.get("/api/v1/me/report").get_json()
    with pytest.raises(SignatureInvalid):
        verify_envelope(dict(issued, signature=other["signature"]), jwks(client))
    with pytest.raises(SignatureInvalid):
        verify_envelope({"report": issued["report"]}, jwks(client))


def test_verify_for_a_real_report(issued, client):
    no, digest = issued["report"]["report_no"], issued["digest"]
    resp = client.get(f"/verify/{no}?digest={digest}", headers={"Accept": "application/json"})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["issued"] is True and body["digest_matches"] is True and body["signature_valid"] is True
    assert body["recipient"] == "受查询企业本身（自主查询）" and body["kind"] == "self"
    # Nothing of the content: no name, no code, no sections.
    text = resp.get_data(as_text=True)
    name, uscc = issued["report"]["subject"]["name"], issued["report"]["subject"]["uscc"]
    assert name not in text and uscc not in text and "sections" not in text
    page = client.get(f"/verify/{no}?digest={digest}")
    html = unwrapped(page.get_data(as_text=True))
    assert page.status_code == 200 and "核验通过" in html and name not in html and uscc not in html
    # The time as the PDF prints it: Beijing time.
    import datetime as dt
    from zoneinfo import ZoneInfo

    issued_at = dt.datetime.fromisoformat(issued["report"]["issued_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"{issued_at:%Y-%m-%d %H:%M}（北京时间）" in html
    assert client.get(f"/verify/{no}").get_json() is None  # HTML by default
    assert client.get(f"/verify/{no}?format=json").get_json()["digest_checked"] is False


def test_an_empty_verify_form_asks_for_the_number(client):
    resp = client.get("/verify?report_no=")
    assert resp.status_code == 422 and "请输入要核验的编号：信用报告（PC 开头）" in resp.get_data(as_text=True)


def test_anyone_can_type_a_number_into_the_verify_form(issued, client):
    home = client.get("/").get_data(as_text=True)
    assert 'href="/verify"' in home  # in the public navigation
    form = client.get("/verify")
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and 'name="report_no"' in html and 'name="digest"' in html
    assert "核验通过" not in html and "未查询到" not in html
    no, digest = issued["report"]["report_no"], issued["digest"]
    typed = client.get(f"/verify?report_no=%20{no.lower()}%20&digest={digest}")
    assert typed.status_code == 302 and typed.headers["Location"] == f"/verify/{no}?digest={digest}"
    page = client.get(typed.headers["Location"]).get_data(as_text=True)
    assert "核验通过" in page and f'value="{no}"' in page


def test_verify_for_a_bank_report_names_the_bank_and_not_the_firm(archive, bank, active_token, client):
    from tests.reports.conftest import pull

    _, tok = active_token(scopes=["identity"])
    env = pull(bank, tok["access_token"], archive.enterprise.uscc).get_json()
    client.post("/logout", data={})
    body = client.get(f"/verify/{env['report']['report_no']}?format=json").get_json()
    assert body["recipient"] == bank.institution.name and body["kind_label"] == "授信机构版"
    assert archive.enterprise.name not in json.dumps(body, ensure_ascii=False)


def test_verify_for_a_forged_digest_an_unknown_and_a_malformed_number(issued, client):
    no = issued["report"]["report_no"]
    forged = client.get(f"/verify/{no}?digest={'0' * 64}&format=json")
    assert forged.status_code == 200 and forged.get_json()["digest_matches"] is False
    assert "摘要不一致" in client.get(f"/verify/{no}?digest={'0' * 64}").get_data(as_text=True)
    unknown = no[:10] + ("A" if no[10] != "A" else "B") + no[11:]
    resp = client.get(f"/verify/{unknown}?format=json")
    assert resp.status_code == 404 and resp.get_json()["code"] == "report_not_found"
    page = client.get(f"/verify/{unknown}")
    assert page.status_code == 404 and "不是本平台出具的报告" in page.get_data(as_text=True)
    bad = client.get("/verify/PC2026-hello?format=json")
    assert bad.status_code == 422 and "report_no" in bad.get_json()["errors"]
    bad_date = client.get("/verify/PC20261399ABCDEFGHIJKL?format=json")
    assert bad_date.status_code == 422
    bad_digest = client.get(f"/verify/{no}?digest=xyz&format=json")
    assert bad_digest.status_code == 422 and "digest" in bad_digest.get_json()["errors"]
    assert client.get("/verify/PC2026-hello").status_code == 422


def test_offline_verification_from_the_command_line(issued, client, tmp_path, app):
    from app.cli import main

    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(jwks(client)))
    good = tmp_path / "report.json"
    good.write_text(json.dumps(issued, ensure_ascii=False, indent=2), encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(main, ["verify", str(good), "--jwks", str(keys)])
    assert ok.exit_code == 0, ok.output
    assert "核验通过" in ok.output and issued["report"]["report_no"] in ok.output
    tampered = json.loads(good.read_text(encoding="utf-8"))
    tampered["report"]["subject"]["name"] += "（改）"
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(tampered, ensure_ascii=False), encoding="utf-8")
    refused = runner.invoke(main, ["verify", str(bad), "--jwks", str(keys)])
    assert refused.exit_code == 1 and "核验失败" in refused.output
    assert "（自主查询版）" in ok.output or "（授信机构版）" in ok.output  # the kind in words
    junk = tmp_path / "junk.json"
    junk.write_text("not json")
    refused = runner.invoke(main, ["verify", str(junk), "--jwks", str(keys)])
    assert refused.exit_code == 1 and "不是合法的 JSON，第 1 行第 1 列：此处应为一个值" in refused.output
    # A key set that is JSON but not a JWKS, and one that is not there: a message, not a traceback.
    empty = tmp_path / "empty-jwks.json"
    empty.write_text("{}")
    refused = runner.invoke(main, ["verify", str(good), "--jwks", str(empty)])
    assert refused.exit_code == 1 and refused.exception is None or isinstance(refused.exception, SystemExit)
    assert "公钥集（JWKS）格式有误" in refused.output, refused.output
    refused = runner.invoke(main, ["verify", str(good), "--jwks", str(tmp_path / "missing.json")])
    assert refused.exit_code == 1 and "文件不存在" in refused.output, refused.output


def test_json_is_asked_for_with_format_even_when_the_client_accepts_anything(client):
    resp = client.get("/verify/PC20261124AAAAAAAAAAAA?format=json", headers={"Accept": "*/*"})
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == "report_not_found"
    page = client.get("/verify/PC20261124AAAAAAAAAAAA", headers={"Accept": "text/html,*/*"})
    assert page.status_code == 404 and page.mimetype == "text/html"


def test_offline_verification_without_jwks_uses_this_installations_keys_and_never_makes_new_ones(
        issued, app, tmp_path, monkeypatch):
    from app.cli import main

    report = tmp_path / "report.json"
    report.write_text(json.dumps(issued, ensure_ascii=False), encoding="utf-8")
    monkeypatch.delenv("PC_SIGNING_KEYS", raising=False)
    # A machine with no instance keys: a clear refusal that asks for --jwks, and nothing
    # created (new keys would call a genuine report forged).
    elsewhere = tmp_path / "no-instance"
    monkeypatch.setenv("PC_INSTANCE_PATH", str(elsewhere))
    refused = CliRunner().invoke(main, ["verify", str(report)])
    assert refused.exit_code == 1 and "--jwks" in refused.output and "核验失败" not in refused.output, refused.output
    assert not elsewhere.exists()
    refused = CliRunner().invoke(main, ["commitments", "verify", str(report)])
    assert refused.exit_code == 1 and "--jwks" in refused.output and not elsewhere.exists()
    # On the platform's own machine the instance's keys are used.
    monkeypatch.setenv("PC_INSTANCE_PATH", str(app.extensions["pc_settings"].instance_path))
    ok = CliRunner().invoke(main, ["verify", str(report)])
    assert ok.exit_code == 0 and "核验通过" in ok.output, ok.output
