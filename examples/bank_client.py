"""PowerCredit 电力征信 — an example bank client (金融机构接入示例).

What a bank's developer writes, from the outside: it imports nothing of the platform, only the
standard library, ``requests`` (HTTP) and ``joserfc`` (JWS, Ed25519).  It does the whole flow
the integration guide (docs/integration.md, served at /docs/integration) describes:

1. the server metadata (RFC 8414) and a client-credentials token with ``consents:write``;
2. ``POST /api/v1/consents`` for a firm (its USCC) → PENDING, with a ``consent_id``;
3. the firm's approval: an authorization-code request with PKCE S256 naming the consent
   (the URL is printed; the firm's administrator opens it, signs in and approves);
4. the code exchanged for a token bound to the consent (the answer names its ``consent_id``);
5. ``POST /api/v1/reports`` → the report file, saved byte for byte as received;
6. the file verified offline — canonical JSON, SHA-256, the Ed25519 JWS against the JWKS —
   and, optionally, online at ``/verify/{report_no}?digest=…``.

Usage::

    export PC_CLIENT_SECRET=…            # never on the command line
    python examples/bank_client.py pull --base-url http://127.0.0.1:8000 \\
        --client-id pc_… --redirect-uri http://127.0.0.1:8765/callback \\
        --uscc 91520102MAQ8B4YQ14 --out reports/

    python examples/bank_client.py verify reports/PC….json --jwks reports/jwks.json

``pull`` waits for the firm's approval: with a loopback redirect URI (``http://127.0.0.1:PORT/…``,
as the demo's) it listens there for the browser's redirect; otherwise (or with ``--paste``) it
asks for the address the browser was sent to.  ``verify`` needs no network; with
``--base-url`` it fetches the JWKS again when the file names a key it does not know (rotation).
Exit status: 0 verified, 1 verification failed, 2 any other error.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import http.server
import json
import os
import re
import secrets
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

REPORT_TYP = "pc-report+jws"  # the JWS "typ" of a report's signed statement
ALG = "Ed25519"  # RFC 9864's name for EdDSA over Ed25519: the only algorithm the platform signs with
TIMEOUT = 30  # seconds, every HTTP request


# --- canonical JSON ---------------------------------------------------------------------------
# The platform digests a report's canonical JSON: UTF-8, object members sorted by key (code
# point order), no whitespace, strings escaped only where JSON requires it, numbers as the
# platform wrote them.  Reading the file, every number is kept as the text it was written with
# (JsonNumber), so re-serialising writes it back unchanged.

@dataclass(frozen=True)
class JsonNumber:
    """A JSON number as written in the file (``60.0`` stays ``60.0``; a float would not say)."""

    text: str


class FileRefused(ValueError):
    """The file is not JSON the platform could have written (duplicate keys, NaN, not UTF-8)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:  # a second "report" could show one content and verify another
            raise FileRefused(f"重复的键：{key}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise FileRefused(f"不是 JSON 的数值：{name}")


def load_json(raw: bytes) -> Any:
    """Parse a file: strict UTF-8, no duplicate keys, numbers kept as written."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRefused("文件不是 UTF-8 编码") from exc
    if text.startswith("\ufeff"):
        raise FileRefused("文件以 BOM 开头：应按收到的字节保存，不要另存为带 BOM 的文本")
    return json.loads(text, parse_int=JsonNumber, parse_float=JsonNumber, parse_constant=_no_constant,
                      object_pairs_hook=_no_duplicates)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f]')


def _string(value: str) -> str:
    """A JSON string: ``"`` and ``\\`` escaped, U+0000–U+001F as \\b \\f \\n \\r \\t or \\u00xx
    (lower-case hex); everything else — ``/``, U+007F, U+2028, CJK, emoji — as itself."""
    return '"' + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), value) + '"'


def _float(value: float) -> str:
    """A float as the platform writes one: the shortest decimal that reads back as the same
    double; plain notation with at least one decimal (``60.0``) for 1e-5 <= |x| < 1e16,
    otherwise ``<digits>e<sign><exponent>`` (``1e-7``, ``1.5e+16``).  Reports carry floats
    only in [0, 100] (the evaluation's ``points``, ``points_lost``): always plain."""
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("NaN and infinities have no JSON form")
    text = repr(value)  # shortest round-trip; exponent form outside 1e-4 <= |x| < 1e16
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    power = int(exponent)
    if power == -5:  # 1e-5 <= |x| < 1e-4: plain, as the platform writes it
        sign, digits = ("-", mantissa[1:]) if mantissa.startswith("-") else ("", mantissa)
        return f"{sign}0.0000{digits.replace('.', '')}"
    return f"{mantissa}e{'+' if power > 0 else '-'}{abs(power)}"


def _encode(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, JsonNumber):
        return value.text
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(_string(key) + ":" + _encode(value[key]) for key in sorted(value)) + "}"
    raise TypeError(f"not JSON: {type(value).__name__}")


def canonical_json(value: Any) -> bytes:
    """The canonical bytes of a JSON value (see the module's notes).  Keys sort by code point,
    which for UTF-8 is the order of their bytes (not RFC 8785's UTF-16 order)."""
    return _encode(value).encode("utf-8")


# --- offline verification ---------------------------------------------------------------------

class VerificationFailed(Exception):
    """The report file does not verify: the message says why (in Chinese, for the operator)."""


class UnknownKey(VerificationFailed):
    """The signature names a key (kid) the JWKS at hand does not hold: fetch the JWKS again."""

    def __init__(self, kid: Any) -> None:
        super().__init__(f"公钥集（JWKS）中没有签名所用的密钥 kid={kid!r}：请重新获取 /.well-known/jwks.json")
        self.kid = kid


@dataclass(frozen=True)
class VerifiedReport:
    report_no: str
    digest: str
    kid: str
    statement: dict[str, Any]  # the signed statement (the JWS payload)
    report: dict[str, Any]  # the report as parsed (numbers as JsonNumber)


# What the signed statement repeats of the report: each must be equal.
STATEMENT_FIELDS = ("report_no", "kind", "issued_at", "subject", "recipient", "schema_version")


def _b64url(segment: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", segment):
        raise VerificationFailed("签名不是紧凑 JWS（base64url 段中有其他字符）")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _plain(value: Any) -> Any:
    """A parsed value with its numbers as Python numbers (for comparing with the statement)."""
    if isinstance(value, JsonNumber):
        return json.loads(value.text)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def verify_signature(token: str, jwks: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A report's compact JWS checked against the JWKS: header ``alg`` Ed25519, ``typ``
    pc-report+jws, ``kid`` a key of the set; returns (header, statement)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise VerificationFailed("签名不是紧凑 JWS（应为 header.payload.signature 三段）")
    try:
        header = json.loads(_b64url(parts[0]))
    except ValueError as exc:
        raise VerificationFailed("签名头不是 JSON") from exc
    if not isinstance(header, dict):
        raise VerificationFailed("签名头不是 JSON 对象")
    if header.get("alg") != ALG:
        raise VerificationFailed(f"签名算法应为 {ALG}，而文件中为 {header.get('alg')!r}")
    if header.get("typ") != REPORT_TYP:
        raise VerificationFailed(f"签名类型应为 {REPORT_TYP}，而文件中为 {header.get('typ')!r}")
    kid = header.get("kid")
    jwk = next((k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("kid") == kid), None)
    if jwk is None:
        raise UnknownKey(kid)
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise VerificationFailed(f"密钥 {kid} 不是 Ed25519 公钥")
    try:
        verified = jws.deserialize_compact(token, OKPKey.import_key(jwk), algorithms=[ALG])
        statement = json.loads(verified.payload)
    except JoseError as exc:
        raise VerificationFailed("签名无效：签名与所签内容不符，或不是该密钥所签") from exc
    except ValueError as exc:
        raise VerificationFailed("所签内容不是 JSON") from exc
    if not isinstance(statement, dict):
        raise VerificationFailed("所签内容不是 JSON 对象")
    return header, statement


def verify_report_file(raw: bytes, jwks: dict[str, Any]) -> VerifiedReport:
    """Verify a saved report file offline.  Steps (docs/integration.md, 离线核验):

    1. parse the file (strict UTF-8 JSON, no duplicate keys, numbers kept as written);
    2. canonical bytes of its ``report`` member, their SHA-256 in lower-case hex;
    3. the JWS in ``signature``: Ed25519, typ pc-report+jws, the key named by ``kid``;
    4. the signed statement: ``digest_alg`` SHA-256, ``digest`` = the digest of step 2, and
       report_no, kind, issued_at, subject, recipient, schema_version equal to the report's;
    5. the file's own ``digest``, ``digest_alg`` and ``kid`` agree (they are not signed: a
       disagreement means the file was edited)."""
    try:
        envelope = load_json(raw)
    except (FileRefused, ValueError) as exc:
        raise VerificationFailed(f"文件不是有效的报告文件：{exc}") from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("report"), dict) \
            or not isinstance(envelope.get("signature"), str):
        raise VerificationFailed("文件不是 PowerCredit 报告文件（缺少 report 或 signature）")
    report = envelope["report"]
    digest = hashlib.sha256(canonical_json(report)).hexdigest()
    header, statement = verify_signature(envelope["signature"], jwks)
    if statement.get("digest_alg") != "SHA-256":
        raise VerificationFailed(f"摘要算法应为 SHA-256，而签名声明中为 {statement.get('digest_alg')!r}")
    if statement.get("digest") != digest:
        raise VerificationFailed("报告内容与签名不符：内容摘要不一致，报告已被改动")
    plain = _plain(report)
    for name in STATEMENT_FIELDS:
        if name not in statement or statement[name] != plain.get(name):
            raise VerificationFailed(f"报告的 {name} 与签名声明不符")
    if envelope.get("digest") != digest or envelope.get("digest_alg") != "SHA-256":
        raise VerificationFailed("文件所列的 digest / digest_alg 与报告内容不符：文件被改动")
    if envelope.get("kid") != header["kid"]:
        raise VerificationFailed("文件所列的 kid 与签名头不符：文件被改动")
    return VerifiedReport(report_no=statement["report_no"], digest=digest, kid=header["kid"],
                          statement=statement, report=report)


# --- the platform's API ------------------------------------------------------------------------

class ApiError(Exception):
    """An answer other than the one expected: the status and what the platform said."""

    def __init__(self, step: str, resp: requests.Response) -> None:
        self.status = resp.status_code
        try:
            body = resp.json()
        except ValueError:
            body = {"detail": resp.text[:300]}
        self.body = body if isinstance(body, dict) else {"detail": body}
        # problem+json (code, detail, errors) or RFC 6749 (error, error_description)
        said = self.body.get("code") or self.body.get("error")
        detail = self.body.get("detail") or self.body.get("error_description") or ""
        errors = self.body.get("errors")
        super().__init__(f"{step}：HTTP {self.status} {said or ''} {detail} {json.dumps(errors, ensure_ascii=False) if errors else ''}".strip())


@dataclass(frozen=True)
class Config:
    base_url: str  # e.g. https://powercredit.example.cn (no trailing slash)
    client_id: str
    client_secret: str
    redirect_uri: str  # exactly as registered for the client


@dataclass(frozen=True)
class Authorization:
    """An authorization request in flight: its URL and what the callback is checked against."""

    url: str
    state: str
    code_verifier: str
    code_challenge: str


def pkce_pair() -> tuple[str, str]:
    """RFC 7636: a 64-character verifier and its S256 challenge, BASE64URL(SHA-256(verifier))
    without padding."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
    return verifier, challenge


def consent_terms(purpose: str, scopes: list[str], *, valid_days: int = 30, data_years: int = 3,
                  fetch_type: str = "one_time", data_life_months: int = 6,
                  now: dt.datetime | None = None) -> dict[str, Any]:
    """The body of POST /api/v1/consents but the firm: what, for what, for how long."""
    now = now or dt.datetime.now(dt.UTC)
    today = now.date()
    return {
        "purpose": purpose,
        "scopes": scopes,
        "data_range": {"from": (today - dt.timedelta(days=365 * data_years)).isoformat(), "to": today.isoformat()},
        "valid_until": (now + dt.timedelta(days=valid_days)).isoformat(timespec="seconds"),
        "fetch_type": fetch_type,
        "data_life": {"unit": "month", "value": data_life_months},
    }


class BankClient:
    """The platform's API as a bank system calls it."""

    def __init__(self, config: Config, http: requests.Session | None = None) -> None:
        self.config = config
        self.http = http or requests.Session()
        self._metadata: dict[str, Any] | None = None

    # discovery (RFC 8414): endpoints and the issuer, nothing guessed
    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            resp = self.http.get(f"{self.config.base_url}/.well-known/oauth-authorization-server", timeout=TIMEOUT)
            if resp.status_code != 200:
                raise ApiError("获取授权服务器元数据", resp)
            meta = resp.json()
            if meta.get("issuer") != self.config.base_url:
                raise RuntimeError(f"元数据的 issuer {meta.get('issuer')!r} 与所配置的地址 {self.config.base_url!r} 不符")
            self._metadata = meta
        return self._metadata

    def _token(self, step: str, form: dict[str, str]) -> dict[str, Any]:
        resp = self.http.post(self.metadata()["token_endpoint"], data=form, timeout=TIMEOUT,
                              auth=(self.config.client_id, self.config.client_secret))  # client_secret_basic
        if resp.status_code != 200:
            raise ApiError(step, resp)
        token = resp.json()
        if token.get("token_type", "").lower() != "bearer":
            raise RuntimeError(f"{step}：令牌类型应为 Bearer，而为 {token.get('token_type')!r}")
        return dict(token)

    def system_token(self) -> dict[str, Any]:
        """Step 1: the bank system's own token (client credentials) to ask for consents."""
        return self._token("获取系统令牌（client_credentials）",
                           {"grant_type": "client_credentials", "scope": "consents:write"})

    def request_consent(self, access_token: str, uscc: str, terms: dict[str, Any]) -> dict[str, Any]:
        """Step 2: ask the firm for its consent → 201, status PENDING, with a consent_id."""
        resp = self.http.post(f"{self.config.base_url}/api/v1/consents", json={"uscc": uscc, **terms},
                              headers={"Authorization": f"Bearer {access_token}"}, timeout=TIMEOUT)
        if resp.status_code != 201:
            raise ApiError("创建授权请求（POST /api/v1/consents）", resp)
        return dict(resp.json())

    def authorization(self, consent_id: str) -> Authorization:
        """Step 3: the URL the firm's administrator opens to approve the consent (RFC 6749
        §4.1.1 with PKCE S256 and the consent's id; no scope: the consent's sections)."""
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        query = urlencode({"response_type": "code", "client_id": self.config.client_id,
                           "redirect_uri": self.config.redirect_uri, "state": state,
                           "code_challenge": challenge, "code_challenge_method": "S256",
                           "consent_id": consent_id})
        return Authorization(f"{self.metadata()['authorization_endpoint']}?{query}", state, verifier, challenge)

    def code_from_callback(self, auth: Authorization, callback_url: str) -> str:
        """The code from the redirect back, after checking it answers this request (state) and
        comes from this platform (``iss``, RFC 9207); a refusal raises with its error."""
        if not callback_url.startswith(self.config.redirect_uri):
            raise RuntimeError(f"回调地址不是所登记的 {self.config.redirect_uri}：{callback_url}")
        query = {k: v[0] for k, v in parse_qs(urlsplit(callback_url).query).items()}
        if query.get("state") != auth.state:
            raise RuntimeError("回调中的 state 与请求不符：可能是伪造的回调，已丢弃")
        if query.get("iss") != self.metadata()["issuer"]:
            raise RuntimeError(f"回调中的 iss 应为 {self.metadata()['issuer']}，而为 {query.get('iss')!r}")
        if "error" in query:
            said = "企业拒绝了授权" if query["error"] == "access_denied" else "授权请求被拒绝"
            raise RuntimeError(f"{said}（error={query['error']}，{query.get('error_description', '')}）")
        if not query.get("code"):
            raise RuntimeError("回调中没有授权码（code）")
        return query["code"]

    def exchange(self, auth: Authorization, code: str) -> dict[str, Any]:
        """Step 4: the code (valid 60 s, once) for a token bound to the consent."""
        return self._token("以授权码换取令牌（authorization_code）", {
            "grant_type": "authorization_code", "code": code, "redirect_uri": self.config.redirect_uri,
            "code_verifier": auth.code_verifier})

    def pull_report(self, access_token: str, uscc: str, purpose: str,
                    sections: list[str] | None = None) -> requests.Response:
        """Step 5: the report, through the consent: 201 with the report file."""
        body: dict[str, Any] = {"uscc": uscc, "purpose": purpose}
        if sections:
            body["sections"] = sections
        resp = self.http.post(f"{self.config.base_url}/api/v1/reports", json=body, timeout=TIMEOUT,
                              headers={"Authorization": f"Bearer {access_token}"})
        if resp.status_code != 201:
            raise ApiError("获取信用报告（POST /api/v1/reports）", resp)
        return resp

    def jwks(self) -> dict[str, Any]:
        resp = self.http.get(self.metadata()["jwks_uri"], timeout=TIMEOUT)
        if resp.status_code != 200:
            raise ApiError("获取签名公钥（JWKS）", resp)
        return dict(resp.json())

    def verify_online(self, report_no: str, digest: str) -> dict[str, Any]:
        """The public check: was this number issued, with this digest, and does its
        signature hold (never the content)."""
        resp = self.http.get(f"{self.config.base_url}/verify/{report_no}", params={"digest": digest, "format": "json"},
                             headers={"Accept": "application/json"}, timeout=TIMEOUT)
        if resp.status_code != 200:
            raise ApiError("在线核验（/verify）", resp)
        return dict(resp.json())


def verify_with_rotation(raw: bytes, jwks: dict[str, Any],
                         fetch: Callable[[], dict[str, Any]] | None) -> tuple[VerifiedReport, dict[str, Any]]:
    """Verify with the JWKS at hand; if the signature names a key it lacks and the platform
    can be asked, fetch the JWKS once more (keys rotate; retired ones stay published)."""
    try:
        return verify_report_file(raw, jwks), jwks
    except UnknownKey:
        if fetch is None:
            raise
        fresh = fetch()
        return verify_report_file(raw, fresh), fresh


# --- the whole flow ---------------------------------------------------------------------------

@dataclass
class Outcome:
    """What each step gave (the test asserts on it)."""

    system_token: dict[str, Any] = field(default_factory=dict)
    consent: dict[str, Any] = field(default_factory=dict)
    authorization: Authorization | None = None
    callback_url: str = ""
    token: dict[str, Any] = field(default_factory=dict)
    report_headers: dict[str, str] = field(default_factory=dict)
    report_path: Path | None = None
    jwks_path: Path | None = None
    verified: VerifiedReport | None = None
    online: dict[str, Any] | None = None


def run(config: Config, uscc: str, approve: Callable[[str], str], out_dir: Path, *,
        purpose: str = "loan_application", scopes: list[str] | None = None, online: bool = True,
        log: Callable[[str], None] = print) -> Outcome:
    """The whole flow; ``approve`` takes the authorization URL and returns the address the
    firm's browser was sent back to (the callback with the code)."""
    client = BankClient(config)
    out = Outcome()
    out.system_token = client.system_token()
    log(f"[1/7] 系统令牌：scope={out.system_token['scope']}，{out.system_token['expires_in']} 秒内有效")

    out.consent = client.request_consent(out.system_token["access_token"], uscc,
                                         consent_terms(purpose, scopes or ["identity", "evaluation", "summary"]))
    consent_id = out.consent["consent_id"]
    log(f"[2/7] 授权请求：{consent_id}，状态 {out.consent['status']}（{out.consent.get('status_label', '')}）")

    out.authorization = auth = client.authorization(consent_id)
    log("[3/7] 请企业管理员在浏览器中打开以下地址，登录并同意授权：")
    log(auth.url)
    out.callback_url = approve(auth.url)
    code = client.code_from_callback(auth, out.callback_url)
    log("      企业已同意，收到授权码")

    out.token = client.exchange(auth, code)
    if out.token.get("consent_id") != consent_id:
        raise RuntimeError(f"令牌应绑定授权 {consent_id}，应答中为 {out.token.get('consent_id')!r}")
    log(f"[4/7] 访问令牌：绑定授权 {out.token['consent_id']}，scope={out.token['scope']}")

    resp = client.pull_report(out.token["access_token"], uscc, purpose)
    out.report_headers = {k: v for k, v in resp.headers.items() if k.lower().startswith("x-report-") or k == "Location"}
    report_no = resp.headers["X-Report-No"]
    out_dir.mkdir(parents=True, exist_ok=True)
    out.report_path = out_dir / f"{report_no}.json"
    out.report_path.write_bytes(resp.content)  # the bytes as received: never re-formatted
    log(f"[5/7] 报告 {report_no}：已保存到 {out.report_path}（{len(resp.content)} 字节）")

    jwks = client.jwks()
    out.jwks_path = out_dir / "jwks.json"
    out.jwks_path.write_text(json.dumps(jwks, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    out.verified, _ = verify_with_rotation(out.report_path.read_bytes(), jwks, client.jwks)
    if out.verified.digest != resp.headers.get("X-Report-Digest"):
        raise VerificationFailed("X-Report-Digest 与所算摘要不符")
    log(f"[6/7] 离线核验通过：SHA-256 {out.verified.digest}，签名密钥 {out.verified.kid}")

    if online:
        out.online = client.verify_online(report_no, out.verified.digest)
        if not (out.online.get("digest_matches") and out.online.get("signature_valid")):
            raise VerificationFailed(f"在线核验未通过：{out.online}")
        log(f"[7/7] 在线核验通过：{out.online['kind_label']}，出具给 {out.online['recipient']}，{out.online['issued_at']}")
    return out


# --- how the firm's approval comes back -------------------------------------------------------

def _loopback(redirect_uri: str) -> tuple[str, int] | None:
    parts = urlsplit(redirect_uri)
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost") and parts.port:
        return parts.hostname, parts.port
    return None


def listen_for_callback(redirect_uri: str, timeout: float = 600) -> Callable[[str], str]:
    """An ``approve`` that listens on a loopback redirect URI for the browser's redirect (the
    listener starts before the URL is shown, so no redirect is missed)."""
    where = _loopback(redirect_uri)
    if where is None:
        raise ValueError("只有 http://127.0.0.1:端口/… 形式的回调地址可在本机监听")
    received: list[str] = []
    done = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if urlsplit(self.path).path != (urlsplit(redirect_uri).path or "/"):
                self.send_error(404)
                return
            received.append(f"{redirect_uri.split('?')[0]}?{urlsplit(self.path).query}")
            body = "<!doctype html><meta charset=utf-8><title>授权结果</title><p>已收到授权结果，可以关闭此页面。</p>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            done.set()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the flow prints what matters

    server = http.server.HTTPServer(where, Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def approve(url: str) -> str:
        try:
            if not done.wait(timeout):
                raise TimeoutError(f"{timeout:.0f} 秒内没有收到回调")
            return received[0]
        finally:
            server.shutdown()
            server.server_close()

    return approve


def paste_callback(url: str) -> str:
    """An ``approve`` for a redirect URI this machine does not serve: the operator pastes the
    address the browser was sent to."""
    return input("请粘贴企业同意后浏览器跳转到的完整地址（回调地址）：").strip()


# --- command line -----------------------------------------------------------------------------

def _pull(args: argparse.Namespace) -> int:
    secret = os.environ.get("PC_CLIENT_SECRET")
    if not secret:
        print("请在环境变量 PC_CLIENT_SECRET 中给出客户端密钥（不要写在命令行上）", file=sys.stderr)
        return 2
    config = Config(args.base_url.rstrip("/"), args.client_id, secret, args.redirect_uri)
    approve = paste_callback if args.paste or _loopback(args.redirect_uri) is None \
        else listen_for_callback(args.redirect_uri, args.wait)
    try:
        run(config, args.uscc, approve, Path(args.out), purpose=args.purpose,
            scopes=args.scopes.split(",") if args.scopes else None, online=not args.offline,
            log=lambda line: print(line, flush=True))
    except VerificationFailed as exc:
        print(f"核验失败：{exc}", file=sys.stderr)
        return 1
    except (ApiError, RuntimeError, requests.RequestException, TimeoutError) as exc:
        print(f"失败：{exc}", file=sys.stderr)
        return 2
    return 0


def _verify(args: argparse.Namespace) -> int:
    raw = Path(args.file).read_bytes()
    client = BankClient(Config(args.base_url.rstrip("/"), "", "", "")) if args.base_url else None
    try:
        jwks = json.loads(Path(args.jwks).read_text(encoding="utf-8")) if args.jwks else None
        if jwks is None:
            if client is None:
                print("请用 --jwks 给出公钥集文件，或用 --base-url 从平台获取", file=sys.stderr)
                return 2
            jwks = client.jwks()
        verified, _ = verify_with_rotation(raw, jwks, client.jwks if client else None)
    except VerificationFailed as exc:
        print(f"核验失败：{exc}", file=sys.stderr)
        return 1
    except (ApiError, RuntimeError, OSError, ValueError, requests.RequestException) as exc:
        print(f"失败：{exc}", file=sys.stderr)
        return 2
    statement = verified.statement
    print(f"核验通过：报告 {verified.report_no}，SHA-256 {verified.digest}，签名密钥 {verified.kid}")
    print(f"  被查询企业 {statement['subject']['name']}（{statement['subject']['uscc']}），"
          f"出具给 {statement['recipient']['name']}，出具时间 {statement['issued_at']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bank_client.py", description="PowerCredit 电力征信：金融机构接入示例")
    sub = parser.add_subparsers(dest="command", required=True)
    pull = sub.add_parser("pull", help="完整流程：请求授权、企业同意、获取报告、保存并核验")
    pull.add_argument("--base-url", default=os.environ.get("PC_BASE_URL", "http://127.0.0.1:8000"))
    pull.add_argument("--client-id", default=os.environ.get("PC_CLIENT_ID"), required="PC_CLIENT_ID" not in os.environ)
    pull.add_argument("--redirect-uri", default=os.environ.get("PC_REDIRECT_URI", "http://127.0.0.1:8765/callback"))
    pull.add_argument("--uscc", required=True, help="被查询企业的统一社会信用代码")
    pull.add_argument("--purpose", default="loan_application", help="用途（默认 loan_application 贷款申请审查）")
    pull.add_argument("--scopes", default=None, help="报告部分，逗号分隔（默认 identity,evaluation,summary）")
    pull.add_argument("--out", default="reports", help="报告保存目录")
    pull.add_argument("--paste", action="store_true", help="不在本机监听回调，改为粘贴回调地址")
    pull.add_argument("--wait", type=float, default=600, help="等待企业同意的秒数")
    pull.add_argument("--offline", action="store_true", help="只做离线核验，不访问 /verify")
    check = sub.add_parser("verify", help="离线核验一份已保存的报告文件")
    check.add_argument("file")
    check.add_argument("--jwks", help="公钥集文件（/.well-known/jwks.json 的副本）")
    check.add_argument("--base-url", help="平台地址：未给 --jwks、或文件所用密钥不在其中时从平台获取")
    args = parser.parse_args(argv)
    return _pull(args) if args.command == "pull" else _verify(args)


if __name__ == "__main__":
    sys.exit(main())
