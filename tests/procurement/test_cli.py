"""``powercredit verify FILE`` checks a downloaded screening file offline, as it checks a
report: it says what the file is, its number, and valid or invalid and why; any byte of the
content (or of the file's stated digest or address) changed is invalid, exit 1.  Reports do
not import procurement: the screening's check is handed in through ``reports.cli``'s
registry, which the roof fills."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from app.procurement import services as procurement
from reports import cli as reports_cli

SCREENING_FILE = reports_cli.SignedFile("screening", procurement.KIND_LABEL, "screening_no",
                                        procurement.verify_envelope, procurement.describe_statement)


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the roof registers for ``powercredit verify`` (the same call), for this test only."""
    monkeypatch.setattr(reports_cli, "_files", dict(reports_cli._files))
    reports_cli.register_file(SCREENING_FILE)


@pytest.fixture
def files(tender: Any, make_enterprise: Any, grade: Any, app: Flask, tmp_path: Path) -> dict[str, Any]:
    good, bad = make_enterprise(name="浙江恒昌电力设备有限公司"), make_enterprise(name="杭州宏达输变电工程有限公司")
    grade(good, "AA")
    grade(bad, "BB")
    resp = tender.screen([good.uscc, bad.uscc, good.uscc], {"min_grade": "A"})
    assert resp.status_code == 201
    raw = resp.get_data()
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(app.extensions["pc_signing_keys"].jwks()))
    path = tmp_path / f"{resp.headers['X-Screening-No']}.json"
    path.write_bytes(raw)
    return {"raw": raw, "path": path, "jwks": keys, "number": resp.headers["X-Screening-No"], "tmp": tmp_path,
            "tenderer": tender.institution}


def run(path: Path, jwks: Path) -> Any:
    from app.cli import main

    return CliRunner().invoke(main, ["verify", str(path), "--jwks", str(jwks)])


def test_a_screening_file_verifies_offline(registered: None, files: dict[str, Any]) -> None:
    ok = run(files["path"], files["jwks"])
    assert ok.exit_code == 0, ok.output
    envelope = json.loads(files["raw"])
    issued = envelope["screening"]["issued_at"]
    lines = ok.output.splitlines()
    assert lines[0].startswith(f"核验通过：投标人信用筛查结果 {files['number']}，出具给招标人 {files['tenderer'].name}"
                               f"（机构编号 {files['tenderer'].licence_no}），筛查投标人 2 家，出具时间 ")
    assert lines[0].endswith("（北京时间）") and issued[:4] in lines[0]
    assert lines[1] == f"摘要 SHA-256 {envelope['digest']}，签名有效"


def changed(files: dict[str, Any], old: bytes, new: bytes) -> Path:
    raw: bytes = files["raw"]
    assert raw.count(old) >= 1
    out = files["tmp"] / "changed.json"
    out.write_bytes(raw.replace(old, new, 1))
    return out


@pytest.mark.parametrize(("old", "new", "why"), [
    ("杭州宏达".encode(), "杭州宏远".encode(), "筛查结果内容与签名不符：内容摘要不一致，文件已被改动"),  # a name, one character
    (b'"outcome":"fail"', b'"outcome":"pass"', "筛查结果内容与签名不符：内容摘要不一致，文件已被改动"),
    (b'"min_grade":"A"', b'"min_grade":"B"', "筛查结果内容与签名不符：内容摘要不一致，文件已被改动"),
])
def test_a_changed_byte_of_the_content_is_invalid(registered: None, files: dict[str, Any], old: bytes, new: bytes,
                                                  why: str) -> None:
    refused = run(changed(files, old, new), files["jwks"])
    assert refused.exit_code == 1, refused.output
    assert f"核验失败：投标人信用筛查结果 {files['number']} 无效——{why}" in refused.output
    assert "核验通过" not in refused.output


def test_a_changed_byte_of_the_signature_or_the_stated_digest_is_invalid(registered: None,
                                                                          files: dict[str, Any]) -> None:
    envelope = json.loads(files["raw"])
    signature, digest = envelope["signature"], envelope["digest"]
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    refused = run(changed(files, signature.encode(), flipped.encode()), files["jwks"])
    assert refused.exit_code == 1 and "核验失败：投标人信用筛查结果" in refused.output and "签名验证失败" in refused.output
    other = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    refused = run(changed(files, f'"digest": "{digest}"'.encode(), f'"digest": "{other}"'.encode()), files["jwks"])
    assert refused.exit_code == 1 and f"文件所载摘要 {other} 与内容的摘要 {digest} 不符" in refused.output
    refused = run(changed(files, f"/verify/{files['number']}".encode(), b"/verify/PS20260101AAAAAAAAAAAA"),
                  files["jwks"])
    assert refused.exit_code == 1 and "文件所载核验地址与编号、摘要不符" in refused.output


def test_another_platforms_keys_do_not_verify_it(registered: None, files: dict[str, Any], tmp_path: Path) -> None:
    from app.core.signing import SigningKeys

    stranger = tmp_path / "other-jwks.json"
    stranger.write_text(json.dumps(SigningKeys.generate().jwks()))
    refused = run(files["path"], stranger)
    assert refused.exit_code == 1 and f"核验失败：投标人信用筛查结果 {files['number']} 无效——签名验证失败" in refused.output


def test_a_file_of_no_kind_names_the_kinds(registered: None, files: dict[str, Any]) -> None:
    other = files["tmp"] / "other.json"
    other.write_text(json.dumps({"certificate": {}, "signature": "x"}))
    refused = run(other, files["jwks"])
    assert refused.exit_code == 1
    assert "文件不是 PowerCredit 的签名文件：应含 report（信用报告）、screening（投标人信用筛查结果） 之一及 signature" \
        in refused.output


def test_the_roof_registers_the_screening_file() -> None:
    import app.cli  # noqa: F401 — the command line as installed

    assert "screening" in {k.member for k in reports_cli.signed_files() if k.verify is procurement.verify_envelope}
