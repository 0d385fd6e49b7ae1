"""One verification page for every signed document: the form speaks of reports (PC…),
screenings (PS…) and certificates (PCC…), a number of no kind is refused saying which kinds
there are, and the OpenAPI document describes the three JSON answers — each real answer
matches exactly one of them."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import re
import secrets
from typing import Any

import jsonschema
import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.certificates.models import Certificate
from app.core import clock
from tests.consent.conftest import bearer
from tests.procurement.conftest import make_tender

KINDS_IN_WORDS = "信用报告（PC 开头）、信用等级证书（PCC 开头）、投标人信用筛查结果（PS 开头）"


def visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_form_speaks_of_every_kind(client: FlaskClient) -> None:
    page = client.get("/verify")
    text = visible_text(page.get_data(as_text=True))
    assert page.status_code == 200 and "本平台文书真伪核验" in text
    assert "核验本平台出具的信用报告（ PC 开头）、信用等级证书（ PCC 开头）、投标人信用筛查结果（ PS 开头）" in text
    assert "信用报告真伪核验" not in text and "请输入报告编号" not in text
    assert 'placeholder="PC… / PCC… / PS…"' in page.get_data(as_text=True)
    empty = client.get("/verify?report_no=")
    assert empty.status_code == 422
    assert (f"请输入要核验的编号：{KINDS_IN_WORDS}，印在封面、页脚或证书底部，扫描二维码即带上编号与摘要。"
            in empty.get_data(as_text=True))


@pytest.mark.parametrize("number", ["XY20261118ABCDEFGHJKLM", "P1", "CC2026ABCDEFGHJKLM"])
def test_a_number_of_no_kind_names_the_kinds(client: FlaskClient, number: str) -> None:
    answer = client.get(f"/verify/{number}?format=json")
    assert answer.status_code == 422 and answer.mimetype == "application/problem+json"
    assert answer.get_json()["errors"] == {"report_no": [f"不是本平台文书的编号：应为{KINDS_IN_WORDS}。"]}
    page = client.get(f"/verify/{number}")
    text = visible_text(page.get_data(as_text=True))
    assert page.status_code == 422 and f"编号：不是本平台文书的编号：应为{KINDS_IN_WORDS}。" in text
    assert "report_no" not in text


def _json_schema(node: Any, components: dict[str, Any]) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: references resolved, ``nullable`` as a null type."""
    if isinstance(node, list):
        return [_json_schema(n, components) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _json_schema(components[node["$ref"].rsplit("/", 1)[1]], components)
    out = {k: _json_schema(v, components) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


@pytest.fixture
def answers(client: FlaskClient, db: Session, make_enterprise: Any, login: Any, archive: Any) -> dict[str, Any]:
    """A real JSON answer of /verify for each kind: a self-report, a screening, a certificate."""
    login(archive.user)
    report = client.get("/api/v1/me/report").get_json()["report"]["report_no"]
    client.post("/logout", data={})
    tender = make_tender(db, client)
    screening = tender.http.post("/api/v1/screenings", headers=bearer(tender.token()), json={
        "tender_name": "核验测试", "codes": [make_enterprise().uscc]}).headers["X-Screening-No"]
    today = clock.today()
    cert = Certificate(certificate_no=f"PCC{today:%Y}{base64.b32encode(secrets.token_bytes(10)).decode()[:12]}",
                       enterprise_id=make_enterprise().id, status="issued", grade="AA",
                       grade_as_of=today - dt.timedelta(days=100), issued_at=clock.now(),
                       valid_from=today - dt.timedelta(days=90), valid_until=clock.add_years(today, 2),
                       status_changed_at=clock.now())
    db.add(cert)
    db.flush()
    out = {}
    for key, number in (("report_no", report), ("screening_no", screening), ("certificate_no", cert.certificate_no)):
        resp = client.get(f"/verify/{number}?format=json")
        assert resp.status_code == 200, resp.get_json()
        out[key] = resp.get_json()
    return out


def test_the_openapi_document_describes_the_three_answers(client: FlaskClient, answers: dict[str, Any]) -> None:
    doc = client.get("/api/openapi.json").get_json()
    operation = doc["paths"]["/verify/{report_no}"]["get"]
    for prefix in ("`PC…` 信用报告", "`PS…` 投标人信用筛查结果", "`PCC…` 信用等级证书"):
        assert prefix in operation["description"]
    shapes = operation["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"]
    assert [s["$ref"] for s in shapes] == ["#/components/schemas/Verification",
                                           "#/components/schemas/ScreeningVerification",
                                           "#/components/schemas/PublicCertificate"]
    components = copy.deepcopy(doc["components"]["schemas"])
    one_of = _json_schema({"oneOf": shapes}, components)
    for key, answer in answers.items():
        jsonschema.validate(answer, one_of)  # exactly one shape fits each answer
        own = next(s for s in one_of["oneOf"] if key in s["properties"])
        assert set(answer) == set(own["properties"]), key  # every field documented, none missing
    form = doc["paths"]["/verify"]["get"]
    assert "PS…" in form["summary"] and "PCC…" in form["summary"]


def test_the_command_line_names_a_report_and_why_it_is_invalid(client: FlaskClient, login: Any, archive: Any,
                                                              tmp_path: Any) -> None:
    """``powercredit verify``: what the file is and its number, valid or not and why — a byte
    of the content, or of the digest or address the file states, changed is invalid (exit 1)."""
    import json

    from click.testing import CliRunner

    from app.cli import main

    login(archive.user)
    raw = client.get("/api/v1/me/report").get_data()
    envelope = json.loads(raw)
    number, digest = envelope["report"]["report_no"], envelope["digest"]
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(client.get("/.well-known/jwks.json").get_json()))

    def verify(data: bytes) -> Any:
        path = tmp_path / "report.json"
        path.write_bytes(data)
        return CliRunner().invoke(main, ["verify", str(path), "--jwks", str(keys)])

    ok = verify(raw)
    assert ok.exit_code == 0 and ok.output.startswith(f"核验通过：信用报告 {number}（自主查询版）"), ok.output
    issued = dt.datetime.fromisoformat(envelope["report"]["issued_at"].replace("Z", "+00:00"))
    assert f"出具时间 {issued.astimezone(clock.BEIJING):%Y-%m-%d %H:%M:%S}（北京时间）" in ok.output  # not raw UTC
    signature = envelope["signature"]
    broken = verify(raw.replace(signature.encode(), signature.split(".")[0][:-2].encode() + b"..x", 1))
    assert broken.exit_code == 1 and "签名验证失败" in broken.output and "_" not in broken.output.split("——")[-1]
    name = envelope["report"]["subject"]["name"]
    content = verify(raw.replace(name.encode(), (name[:-1] + "某").encode(), 1))
    assert content.exit_code == 1
    assert f"核验失败：信用报告 {number} 无效——报告内容与签名不符：内容摘要不一致，报告已被改动" in content.output
    other = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    stated = verify(raw.replace(f'"digest": "{digest}"'.encode(), f'"digest": "{other}"'.encode(), 1))
    assert stated.exit_code == 1 and f"文件所载摘要 {other} 与内容的摘要 {digest} 不符" in stated.output
