"""The bank integration guide (docs/integration.md) and its example client
(examples/bank_client.py), held to the platform: the client runs the whole flow against a live
server — client-credentials token, consent request, the firm's approval (authorization code,
PKCE S256), token exchange, report pull, saved file, offline and online verification — and a
changed byte fails; its canonical JSON is the platform's byte for byte; the guide's worked
example is what the platform's own code signs; the guide's page is its Markdown."""

from __future__ import annotations

import ast
import base64
import datetime as dt
import hashlib
import json
import random
import re
import secrets
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import orjson
import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from werkzeug.serving import make_server

from app import create_app, docs_web
from app.accounts.services import create_institution, create_user
from app.archive.categories import CATEGORIES
from app.archive.ingestion import ingest_records
from app.archive.services import create_provider, load_enterprise, register_enterprise
from app.archive.uscc import make_uscc
from app.core.signing import SigningKeys
from app.oauth.services import register_bank_client
from app.scoring.services import evaluate
from consent.models import Consent, ConsentStatus, QueryLog
from examples import bank_client as example
from reports.models import Report
from reports.schemas import report_json_schema
from reports.services import STATEMENT_TYP, canonical, envelope_json, statement, verify_envelope
from tests.conftest import PASSWORD, contract_row, frozen_python, utility_row

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "bank_client.py"
WORKED = ROOT / "examples" / "worked_example"
WORKED_FILE = WORKED / "PC20261207EXAMPLE23456.json"
GUIDE = ROOT / "docs" / "integration.md"
PASTED = "https://bank.example.com/oauth/callback"  # a redirect URI this machine does not serve
SCOPES = ["identity", "evaluation", "summary", "contract", "tax"]


def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


# --- a live server, a firm with an evaluation, a bank with a client -----------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Live:
    base: str
    app: Flask
    uscc: str
    firm_username: str
    client_id: str
    secret: str
    loopback: str  # a registered redirect URI on this machine (the example listens there)
    licence_no: str

    def config(self, redirect_uri: str = PASTED) -> example.Config:
        return example.Config(self.base, self.client_id, self.secret, redirect_uri)

    def firm_approves(self, url: str, *, follow: bool = False) -> str:
        """The test plays the firm's administrator: signs in, opens the consent screen the
        bank's URL names, approves; returns where the browser is sent (or, with ``follow``,
        goes there, as a browser does)."""
        browser = requests.Session()
        page = browser.get(f"{self.base}/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        resp = browser.post(f"{self.base}/login", data={"username": self.firm_username, "password": PASSWORD,
                                                        "csrf_token": token}, allow_redirects=False)
        assert resp.status_code == 302
        screen = browser.get(url)
        assert screen.status_code == 200, screen.text[:500]
        token = re.search(r'name="csrf_token" value="([^"]+)"', screen.text).group(1)  # type: ignore[union-attr]
        resp = browser.post(url, data={"csrf_token": token, "decision": "approve"}, allow_redirects=False)
        assert resp.status_code == 302, resp.text[:500]
        callback = resp.headers["Location"]
        if follow:
            landed = browser.get(callback, timeout=30)
            assert landed.status_code == 200 and "已收到授权结果" in landed.text
        return callback

    def scalar(self, stmt: Any) -> Any:
        with self.app.extensions["pc_db"].transaction() as s:
            return s.scalar(stmt)


@pytest.fixture
def live(fresh_databases: Any, tmp_path: Path) -> Iterator[Live]:
    url = fresh_databases.new()
    app = create_app({"database_url": url, "instance_path": tmp_path / "instance", "secret_key": "live-secret",
                      "testing": True})
    if "docs_web" not in app.blueprints:  # until the roof registers the guide's page
        app.register_blueprint(docs_web.bp)
    loopback = f"http://127.0.0.1:{free_port()}/callback"
    with app.extensions["pc_db"].transaction() as s:
        uscc = make_uscc("9", "1", "330106", str(secrets.randbelow(10**8)).zfill(8))
        ent, _ = register_enterprise(s, app.extensions["pc_cipher"], load_enterprise(
            {"uscc": uscc, "name": "示例（浙江）电力设备有限公司", "segment": "supplier",
             "registered_capital": "5000000", "founded_on": "2015-03-01"}))
        provider = create_provider(s, code=f"prov-{secrets.token_hex(3)}", name="测试数据源",
                                   kind="procurement_platform", categories=list(CATEGORIES), coverage="region")
        breach = contract_row(uscc, "c-bad", status="breached")
        del breach["payload"]["fulfilled_on"]
        result = ingest_records(s, provider, [
            contract_row(uscc, "c-1"), breach, utility_row(uscc, "u-1"),
            {"provider_ref": "t-1", "uscc": uscc, "category": "tax", "payload": {"year": 2025, "grade": "D"}}])
        assert result.accepted == 4
        evaluate(s, ent)  # a grade with its adverse factors: the report's JSON numbers (60.0, 2.4 …)
        username = f"firm-{secrets.token_hex(3)}"
        create_user(s, username=username, password=PASSWORD, role="firm", enterprise_uscc=ent.uscc)
        licence_no = f"B{secrets.token_hex(4).upper()}"
        inst = create_institution(s, name="示例银行股份有限公司杭州分行", licence_no=licence_no)
        oauth, secret = register_bank_client(s, inst, name="信贷系统", redirect_uris=[PASTED, loopback])
        client_id = oauth.client_id
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Live(f"http://127.0.0.1:{server.server_port}", app, uscc, username, client_id, str(secret),
                   loopback, licence_no)
    finally:
        server.shutdown()
        app.extensions["pc_db"].dispose()


def pull(live: Live, out_dir: Path) -> tuple[example.Outcome, list[str]]:
    lines: list[str] = []
    outcome = example.run(live.config(), live.uscc, live.firm_approves, out_dir, scopes=SCOPES, log=lines.append)
    return outcome, lines


def report_span(raw: bytes) -> tuple[int, int]:
    """Where the report member's bytes lie in a served file (``{"report":`` … ``,"digest": ``)."""
    start = len(b'{"report":')
    assert raw.startswith(b'{"report":{')
    return start, raw.index(b',"digest": "')


# --- the whole flow, live ------------------------------------------------------------------------

@pytest.mark.slow
def test_the_example_client_runs_the_whole_flow_against_the_live_server(live: Live, tmp_path: Path) -> None:
    out, lines = pull(live, tmp_path / "reports")

    # 1. the system token: client credentials, consents:write only
    assert out.system_token["token_type"] == "Bearer" and out.system_token["scope"] == "consents:write"
    # 2. the consent request: PENDING, for this firm and these sections
    consent = out.consent
    assert consent["status"] == "PENDING" and consent["uscc"] == live.uscc
    assert consent["purpose"] == "loan_application" and sorted(consent["scopes"]) == sorted(SCOPES)
    # 3. the firm's approval: an authorization-code request with PKCE S256 naming the consent
    auth = out.authorization
    assert auth is not None
    query = {k: v[0] for k, v in parse_qs(urlsplit(auth.url).query).items()}
    assert auth.url.startswith(f"{live.base}/oauth/authorize?")
    assert query == {"response_type": "code", "client_id": live.client_id, "redirect_uri": PASTED,
                     "state": auth.state, "code_challenge": auth.code_challenge, "code_challenge_method": "S256",
                     "consent_id": consent["consent_id"]}
    assert auth.code_challenge == base64.urlsafe_b64encode(
        hashlib.sha256(auth.code_verifier.encode()).digest()).rstrip(b"=").decode()
    assert 43 <= len(auth.code_verifier) <= 128
    back = {k: v[0] for k, v in parse_qs(urlsplit(out.callback_url).query).items()}
    assert out.callback_url.startswith(PASTED + "?") and back["state"] == auth.state and back["iss"] == live.base
    assert back["code"]
    # 4. the token: bound to the consent, which it names; one-time, so no refresh token
    assert out.token["consent_id"] == consent["consent_id"] and "refresh_token" not in out.token
    assert sorted(out.token["scope"].split()) == sorted(f"report:{s}" for s in SCOPES)
    assert live.scalar(sa.select(Consent.status).where(Consent.consent_id == consent["consent_id"])) \
        == ConsentStatus.active
    # 5. the report: pulled through the consent, saved as received
    assert out.report_path is not None and out.verified is not None
    raw = out.report_path.read_bytes()
    report_no = out.report_path.stem
    stored = live.scalar(sa.select(Report).where(Report.report_no == report_no))
    assert stored is not None and stored.consent_pk is not None
    start, end = report_span(raw)
    assert raw[start:end] == stored.body.encode()  # the frozen report, byte for byte
    assert out.report_headers["X-Report-No"] == report_no and out.report_headers["X-Report-Digest"] == stored.digest
    assert out.report_headers["Location"].endswith(f"/api/v1/reports/{report_no}")
    assert live.scalar(sa.select(Consent.use_count).where(Consent.consent_id == consent["consent_id"])) == 1
    assert live.scalar(sa.select(sa.func.count()).select_from(QueryLog)) == 1
    # 6. verified offline, exactly as the platform verifies it
    jwks = json.loads(out.jwks_path.read_text(encoding="utf-8")) if out.jwks_path else {}
    assert jwks == requests.get(f"{live.base}/.well-known/jwks.json").json()
    verified = out.verified
    assert verified.digest == stored.digest and verified.kid == stored.kid == jwks["keys"][0]["kid"]
    assert verified.statement == verify_envelope(json.loads(raw), jwks)
    assert verified.statement["recipient"] == {"type": "institution", "name": "示例银行股份有限公司杭州分行",
                                               "licence_no": live.licence_no}
    assert verified.statement["subject"]["uscc"] == live.uscc
    assert verified.report["consent"]["consent_id"] == consent["consent_id"]
    # the JSON numbers the report carries (the grade's adverse factors) were kept as written
    factors = verified.report["sections"]["evaluation"]["adverse_factors"]
    numbers = [f[k] for f in factors for k in ("points", "points_lost") if k in f]
    assert numbers and all(isinstance(n, example.JsonNumber) and "." in n.text for n in numbers)
    assert example.canonical_json(verified.report) == canonical(json.loads(raw)["report"]) == stored.body.encode()
    # 7. verified online
    assert out.online is not None
    assert out.online["digest_matches"] is True and out.online["signature_valid"] is True
    assert out.online["report_no"] == report_no and out.online["recipient"] == "示例银行股份有限公司杭州分行"
    assert [line[:5] for line in lines if line.startswith("[")] == [f"[{n}/7]" for n in range(1, 8)]


@pytest.mark.slow
def test_one_changed_byte_of_the_saved_report_fails_offline_verification(live: Live, tmp_path: Path) -> None:
    out, _ = pull(live, tmp_path / "reports")
    assert out.report_path is not None and out.jwks_path is not None
    raw = out.report_path.read_bytes()
    jwks = json.loads(out.jwks_path.read_text(encoding="utf-8"))
    assert example.verify_report_file(raw, jwks).report_no == out.report_path.stem
    start, end = report_span(raw)
    accepted = []
    for i in range(start, end):  # every byte of the report, each changed alone
        changed = bytearray(raw)
        changed[i] ^= 0x01
        try:
            example.verify_report_file(bytes(changed), jwks)
        except example.VerificationFailed:
            continue
        accepted.append((i, raw[max(start, i - 20):i + 20]))
    assert not accepted, accepted[:5]
    # … and a changed digest, key id or signature header in the file
    envelope = raw[end:]
    for member in (b'"digest": "', b'"kid": "', b'"signature": "'):
        at = end + envelope.index(member) + len(member) + 2
        changed = bytearray(raw)
        changed[at] ^= 0x01
        with pytest.raises(example.VerificationFailed):
            example.verify_report_file(bytes(changed), jwks)
    # a key set without the signing key: the kid is unknown (fetch the JWKS again)
    with pytest.raises(example.UnknownKey):
        example.verify_report_file(raw, json.loads((WORKED / "jwks.json").read_text(encoding="utf-8")))


def run_command_line(live: Live, out_dir: Path, redirect_uri: str) -> tuple[int, str, str]:
    """``bank_client.py pull`` in a child process (on the suite's clock), the test playing
    the firm: through the example's loopback listener, or pasting the callback."""
    code = ("import runpy, sys; sys.argv = ['bank_client.py', *sys.argv[1:]]; "
            f"runpy.run_path({str(EXAMPLE)!r}, run_name='__main__')")
    args = ["pull", "--base-url", live.base, "--client-id", live.client_id, "--redirect-uri", redirect_uri,
            "--uscc", live.uscc, "--scopes", ",".join(SCOPES), "--out", str(out_dir), "--wait", "60"]
    env = {"PC_CLIENT_SECRET": live.secret, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8",
           "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(frozen_python(code, *args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8", env=env, cwd=ROOT)
    watchdog = threading.Timer(90, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None and proc.stdin is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith(f"{live.base}/oauth/authorize?"):
                break
        assert seen and seen[-1].startswith(f"{live.base}/oauth/authorize?"), "".join(seen) + proc.stderr.read()  # type: ignore[union-attr]
        if redirect_uri == PASTED:
            callback = live.firm_approves(seen[-1].strip())
            proc.stdin.write(callback + "\n")
            proc.stdin.flush()
        else:
            live.firm_approves(seen[-1].strip(), follow=True)  # the browser lands on the example's listener
        rest, err = proc.communicate(timeout=60)
    finally:
        watchdog.cancel()
    return proc.returncode, "".join(seen) + rest, err


@pytest.mark.slow
@pytest.mark.parametrize("how", ["loopback", "paste"])
def test_the_command_line_pulls_saves_and_verifies(live: Live, tmp_path: Path, how: str) -> None:
    out_dir = tmp_path / "reports"
    rc, stdout, stderr = run_command_line(live, out_dir, live.loopback if how == "loopback" else PASTED)
    assert rc == 0, stdout + stderr
    assert "[6/7] 离线核验通过" in stdout and "[7/7] 在线核验通过" in stdout
    [saved] = list(out_dir.glob("PC*.json"))
    stored = live.scalar(sa.select(Report).where(Report.report_no == saved.stem))
    assert stored is not None and stored.digest in stdout
    start, end = report_span(saved.read_bytes())
    assert saved.read_bytes()[start:end] == stored.body.encode()

    def verify(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(EXAMPLE), "verify", str(path), "--jwks", str(out_dir / "jwks.json")],
                              capture_output=True, text=True, encoding="utf-8", timeout=60,
                              env={"PYTHONIOENCODING": "utf-8", "PATH": "/usr/bin:/bin"})

    ok = verify(saved)
    assert ok.returncode == 0 and f"核验通过：报告 {saved.stem}" in ok.stdout, ok.stderr
    raw = bytearray(saved.read_bytes())
    at = raw.index(live.uscc.encode(), start) + 5  # a digit of the firm's code in the report
    raw[at] = ord("0") if raw[at] != ord("0") else ord("1")
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(bytes(raw))
    bad = verify(tampered)
    assert bad.returncode == 1 and "核验失败：报告内容与签名不符" in bad.stderr, (bad.stdout, bad.stderr)


# --- the rules: the example's canonical JSON is the platform's ----------------------------------

def test_the_example_canonicalises_every_character_as_the_platform_does() -> None:
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for i in range(0, len(chars), 4096):
        chunk = "".join(chars[i:i + 4096])
        assert example.canonical_json(chunk) == canonical({"s": chunk})[5:-1], hex(ord(chunk[0]))
    doc = {"b": 1, "a": {"d": None, "c": True}, "é": [False, "京/沪", "\u2028", "😀"], "\uffff": 2, "😀": 3,
           "Z": "他说\"好\"\n\t\u001f\\"}
    assert example.canonical_json(doc) == canonical(doc)


def test_the_example_writes_floats_as_the_platform_does() -> None:
    rng = random.Random(2026)
    values = [0.0, -0.0, 60.0, 2.4, 0.1, 100.0, 1e-4, 9.99e-5, 1e-5, 1.5e-5, 1e-6, 1e-7, 1.234e-10, 5e-324,
              1e15, 9.999e15, 1e16, 1.5e16, 1e21, 1e22, 1.7976931348623157e308, 2.0 ** 60, -9.99e-5]
    values += [struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(100_000)]
    values += [round(rng.uniform(0, 100), rng.randint(0, 4)) for _ in range(20_000)]
    values = [v for v in values if v == v and abs(v) != float("inf")]
    wrong = [(v, example.canonical_json(v), orjson.dumps(v)) for v in values if example.canonical_json(v) != orjson.dumps(v)]
    assert not wrong, wrong[:5]


def test_the_guides_escaping_table_is_the_platforms() -> None:
    text = guide()
    rows = {'他说"好"': '"他说\\"好\\""', "a\\b": '"a\\\\b"', "\n": '"\\n"', "\t": '"\\t"', "\x1f": '"\\u001f"',
            "京/沪": '"京/沪"'}
    for value, written in rows.items():
        assert canonical({"v": value})[5:-1].decode() == written
        assert f"`{written}`" in text, written
    assert canonical({"b": 1, "a": {"d": None, "c": True}}).decode() == '{"a":{"c":true,"d":null},"b":1}'
    assert '`{"a":{"c":true,"d":null},"b":1}`' in text
    assert canonical({"v": [60.0, 2.4, 0.0, 6]}).decode() == '{"v":[60.0,2.4,0.0,6]}'


# --- the guide's worked example, byte for byte ---------------------------------------------------

RFC8032_SECRET = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_worked_example_is_what_the_platform_signs_and_the_guide_says() -> None:
    text = guide()
    raw = WORKED_FILE.read_bytes()
    jwks = json.loads((WORKED / "jwks.json").read_text(encoding="utf-8"))
    envelope = json.loads(raw)
    report = envelope["report"]
    jsonschema.validate(report, report_json_schema("1.2"))

    # the report as the guide lists it, canonicalised by the platform, is the file's
    listed = [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", text, re.S)
              if '"report_no": "PC20261207EXAMPLE23456"' in block]
    assert listed == [report]
    body = canonical(listed[0])
    start, end = report_span(raw)
    assert raw[start:end] == body and start + 1 == 11
    assert len(body) == 3113 and "共 3113 字节" in text and f"（{len(raw)} 字节）" in text
    assert body.decode().startswith(re.search(r"```text\n(\{\"consent\".*?)…\n```", text, re.S).group(1))  # type: ignore[union-attr]
    ending = re.search(r"结尾是 `…(.*?)`", text).group(1)  # type: ignore[union-attr]
    assert len(ending) > 40 and body.decode().endswith(ending)
    assert '`"points":60.0,"points_lost":2.4`' in text and b'"points":60.0,"points_lost":2.4' in body
    assert example.canonical_json(example.load_json(raw)["report"]) == body
    digest = hashlib.sha256(body).hexdigest()
    assert digest == envelope["digest"] == "5766b5afcf1141ab748534fd01d2d016ba0fc859ca8098ba81a2dedc6e0d7338"
    assert f"```text\n{digest}\n```" in text

    # the RFC 8032 test key signs the statement into exactly the file's JWS (Ed25519 is deterministic)
    assert f"私钥（32 字节，十六进制）：{RFC8032_SECRET}" in text and f"公钥（32 字节，十六进制）：{RFC8032_PUBLIC}" in text
    key = OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "kid": "example-1",
                             "d": b64u(bytes.fromhex(RFC8032_SECRET)), "x": b64u(bytes.fromhex(RFC8032_PUBLIC))})
    keys = SigningKeys(active="example-1", keys={"example-1": key})
    signed = keys.sign(statement(report, digest), STATEMENT_TYP)
    assert signed == envelope["signature"] and f"```text\n{signed}\n```" in text
    assert keys.jwks() == jwks
    assert "JWK：" + json.dumps(jwks["keys"][0], sort_keys=True, separators=(",", ":")) in text
    header, payload, signature = signed.split(".")
    assert b64u_decode(header).decode() == '{"alg":"Ed25519","kid":"example-1","typ":"pc-report+jws"}'
    assert f"`{b64u_decode(header).decode()}`" in text
    assert f"```json\n{b64u_decode(payload).decode()}\n```" in text
    assert f"```text\n{b64u_decode(signature).hex()}\n```" in text

    # the file is what the platform serves for such a report
    stored = Report(body=body.decode(), digest=digest, signature=signed, kid="example-1")
    verify_url = f"https://powercredit.example.cn/verify/PC20261207EXAMPLE23456?digest={digest}"
    assert envelope_json(stored, verify_url).encode() == raw

    # it verifies — by the platform, by the example, by its command line — and the counter-example does not
    assert verify_envelope(envelope, jwks) == example.verify_report_file(raw, jwks).statement
    done = subprocess.run([sys.executable, str(EXAMPLE), "verify", str(WORKED_FILE), "--jwks", str(WORKED / "jwks.json")],
                          capture_output=True, text=True, encoding="utf-8", timeout=60,
                          env={"PYTHONIOENCODING": "utf-8", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and "核验通过：报告 PC20261207EXAMPLE23456" in done.stdout, done.stderr
    js = body.replace(b'"points":60.0', b'"points":60', 1)
    assert js != body and f"变为 `{hashlib.sha256(js).hexdigest()}`" in text
    with pytest.raises(example.VerificationFailed, match="内容摘要不一致"):
        example.verify_report_file(raw.replace(b'"points":60.0', b'"points":60', 1), jwks)


def test_the_guides_minimal_verification_code_works_and_refuses_a_change() -> None:
    [code] = [block for block in re.findall(r"```python\n(.*?)\n```", guide(), re.S) if "def verify_report" in block]
    space: dict[str, Any] = {}
    exec(compile(code, "integration.md", "exec"), space)  # noqa: S102 (the guide's own code)
    raw = WORKED_FILE.read_bytes()
    jwks = json.loads((WORKED / "jwks.json").read_text(encoding="utf-8"))
    assert space["verify_report"](raw, jwks)["report_no"] == "PC20261207EXAMPLE23456"
    changed = raw.replace("示例（贵州）".encode(), "示例（贵阳）".encode(), 1)
    with pytest.raises(ValueError, match="digest differs"):
        space["verify_report"](changed, jwks)
    with pytest.raises(JoseError):
        space["verify_report"](raw, {"keys": []})


def test_the_example_imports_nothing_of_the_platform() -> None:
    tree = ast.parse(EXAMPLE.read_text(encoding="utf-8"))
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert modules - set(sys.stdlib_module_names) == {"requests", "joserfc"}


def test_consent_terms_fit_the_platforms_rules() -> None:
    now = dt.datetime(2026, 11, 18, 2, 0, tzinfo=dt.UTC)
    terms = example.consent_terms("loan_application", ["identity"], now=now)
    assert terms["valid_until"] == "2026-12-18T02:00:00+00:00"
    assert terms["data_range"] == {"from": "2023-11-19", "to": "2026-11-18"}
    assert "frequency" not in terms and terms["fetch_type"] == "one_time"


# --- the guide as a page --------------------------------------------------------------------------

def test_the_page_is_the_guide(live: Live) -> None:
    text = guide()
    assert docs_web.TEMPLATE.read_text(encoding="utf-8") == docs_web.build_template(text), \
        "the page is out of date: run `python -m app.docs_web`"
    resp = requests.get(f"{live.base}/docs/integration")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    page = resp.text
    assert "<title>金融机构接入指南 · PowerCredit</title>" in page and '<main id="main">' in page
    assert "5766b5afcf1141ab748534fd01d2d016ba0fc859ca8098ba81a2dedc6e0d7338" in page
    assert '<table>' in page and "{%" not in page
    ids = set(re.findall(r'<h[1-6] id="([^"]+)"', page))
    assert {"91-报告文件信封", "92-规范化-json报告正文的字节", "94-签名jws", "97-逐字节可复现的示例"} <= ids
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert links and set(links) <= ids, set(links) - ids


def test_the_application_serves_the_guide(app: Flask, client: FlaskClient) -> None:
    assert "docs_web" in app.blueprints
    assert client.get("/docs/integration").status_code == 200


def test_the_api_documentation_links_the_guide(app: Flask, client: FlaskClient) -> None:
    info = client.get("/api/openapi.json").get_json()["info"]
    assert "/docs/integration" in info.get("description", "")
