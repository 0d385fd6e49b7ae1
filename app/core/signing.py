"""The platform's signing keys (Ed25519) and compact JWS for signed documents.

Consents, reports and commitments are signed as JWS with ``alg: Ed25519`` (RFC 9864's
fully-specified name for EdDSA over Ed25519) and the key's ``kid``.  Public keys, retired
ones included, are published at ``/.well-known/jwks.json`` so anyone can verify offline.

Keys come from ``PC_SIGNING_KEYS`` (a JWKS document with private keys and ``"active"``) or
are generated once into ``instance/signing-keys.json`` (mode 0600); ``powercredit keys
rotate-signing`` adds a key and makes it active, keeping the old ones for verification.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey

from app.core.config import Settings, create_private_once, write_private

ALG = "Ed25519"


class SignatureInvalid(Exception):
    """A JWS that does not verify with any published key (tampered, unknown kid, bad alg)."""


@dataclass(frozen=True)
class SigningKeys:
    active: str
    keys: dict[str, OKPKey]

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> SigningKeys:
        try:
            keys = {str(k["kid"]): OKPKey.import_key(k) for k in doc["keys"]}
            active = str(doc["active"])
        except (KeyError, TypeError, ValueError, JoseError) as exc:
            raise RuntimeError("签名密钥配置格式错误：需要 {active, keys: [JWK…]}") from exc
        if active not in keys or not keys[active].is_private:
            raise RuntimeError(f"签名密钥配置错误：当前密钥 {active} 不存在或缺少私钥")
        for kid, key in keys.items():
            if key.curve_name != "Ed25519":
                raise RuntimeError(f"签名密钥 {kid} 必须是 Ed25519")
        return cls(active=active, keys=keys)

    def to_document(self) -> dict[str, Any]:
        return {"active": self.active, "keys": [k.as_dict(private=True) for k in self.keys.values()]}

    @classmethod
    def generate(cls) -> SigningKeys:
        return cls(active="s1", keys={"s1": OKPKey.generate_key("Ed25519", parameters={"kid": "s1"})})

    def with_new_key(self) -> SigningKeys:
        n = 1 + max((int(k[1:]) for k in self.keys if k[1:].isdigit()), default=0)
        kid = f"s{n}"
        return SigningKeys(active=kid, keys={**self.keys, kid: OKPKey.generate_key("Ed25519", parameters={"kid": kid})})

    def jwks(self) -> dict[str, Any]:
        """The public JWKS (every key, retired ones too)."""
        return {"keys": [{**k.as_dict(private=False), "alg": ALG, "use": "sig"} for k in self.keys.values()]}

    def sign(self, payload: dict[str, Any], typ: str) -> str:
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        header = {"alg": ALG, "kid": self.active, "typ": typ}
        return jws.serialize_compact(header, body, self.keys[self.active], algorithms=[ALG])


_JOSE_REASONS = {
    "decode_error": "不是有效的紧凑 JWS（格式错误或不完整）",
    "bad_signature": "签名与内容不符：内容被改动，或不是本平台签发",
    "missing_key": "公钥集（JWKS）中没有签名所用的密钥（kid）",
    "invalid_key_id": "公钥集（JWKS）中没有签名所用的密钥（kid）",
    "unsupported_algorithm": "签名算法不受支持（应为 Ed25519）",
    "missing_algorithm": "签名头缺少算法（alg）",
    "invalid_key_type": "公钥类型不符（应为 OKP / Ed25519）",
    "invalid_key_curve": "公钥曲线不符（应为 Ed25519）",
}


def verify_jws(token: str, jwks: dict[str, Any], typ: str | None = None) -> dict[str, Any]:
    """Verify a compact JWS against a public JWKS (as published); returns the payload.
    Works offline: nothing but the token and the key set is needed."""
    try:
        key_set = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        obj = jws.deserialize_compact(token, key_set, algorithms=[ALG])
        header = obj.headers()
        if typ is not None and header.get("typ") != typ:
            raise SignatureInvalid(f"文档类型不符：{header.get('typ')}")
        payload = json.loads(obj.payload)
    except JoseError as exc:
        code = getattr(exc, "error", "") or type(exc).__name__
        reason = _JOSE_REASONS.get(code) or f"签名无法验证（{code}）"  # the library's code only where we have no words
        raise SignatureInvalid(f"签名验证失败：{reason}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureInvalid("签名验证失败：签名内容不是有效的 JSON，或公钥集（JWKS）格式有误") from exc
    if not isinstance(payload, dict):
        raise SignatureInvalid("签名内容不是 JSON 对象")
    return payload


def signing_keys_path(settings: Settings) -> Any:
    return settings.instance_path / "signing-keys.json"


def existing_signing_keys(settings: Settings) -> SigningKeys | None:
    """This installation's signing keys (``PC_SIGNING_KEYS`` or the instance's file), or
    ``None`` where there are none yet: checking a signature must never create keys."""
    raw = os.environ.get("PC_SIGNING_KEYS")
    if raw:
        return SigningKeys.from_document(json.loads(raw))
    path = signing_keys_path(settings)
    if path.exists():
        return SigningKeys.from_document(json.loads(path.read_text()))
    return None


def load_signing_keys(settings: Settings) -> SigningKeys:
    """The signing keys, generated (and saved) on first use."""
    found = existing_signing_keys(settings)
    if found is not None:
        return found
    text = create_private_once(signing_keys_path(settings), json.dumps(SigningKeys.generate().to_document(), indent=2))
    return SigningKeys.from_document(json.loads(text))


def save_signing_keys(settings: Settings, keys: SigningKeys) -> None:
    if os.environ.get("PC_SIGNING_KEYS"):
        raise RuntimeError("签名密钥来自环境变量 PC_SIGNING_KEYS，无法写回；请在密钥管理系统中更新")
    write_private(signing_keys_path(settings), json.dumps(keys.to_document(), indent=2))
