"""Field encryption for personal data at rest (AES-256-GCM).

A stored value is ``<key id>:<base64(nonce ‖ ciphertext ‖ tag)>``.  The associated data
names the table, the column, the row and the key id, so a ciphertext copied into another
row or column fails to decrypt.  Keys carry ids: the keyring has one active key for new
writes and keeps retired keys for reading until ``powercredit keys rotate`` has
re-encrypted everything.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.core.config import (
    Settings,
    create_private_once,
    field_keys_path,
    load_field_keys_document,
    write_private,
)

NONCE_BYTES = 12


class DecryptionError(Exception):
    """A stored ciphertext does not decrypt with the keyring (wrong key, row or tampering)."""


@dataclass(frozen=True)
class KeyRing:
    active: str
    keys: dict[str, bytes]

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> KeyRing:
        try:
            keys = {kid: base64.b64decode(value) for kid, value in doc["keys"].items()}
            active = str(doc["active"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RuntimeError("字段加密密钥配置格式错误：需要 {active, keys}") from exc
        if active not in keys:
            raise RuntimeError(f"字段加密密钥配置错误：当前密钥 {active} 不在密钥表中")
        for kid, key in keys.items():
            if len(key) != 32:
                raise RuntimeError(f"字段加密密钥 {kid} 长度必须为 32 字节")
        return cls(active=active, keys=keys)

    def to_document(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "keys": {kid: base64.b64encode(k).decode() for kid, k in self.keys.items()},
        }

    def with_new_key(self) -> KeyRing:
        n = 1 + max((int(k[1:]) for k in self.keys if k[1:].isdigit()), default=0)
        kid = f"k{n}"
        return KeyRing(active=kid, keys={**self.keys, kid: AESGCM.generate_key(bit_length=256)})

    @classmethod
    def generate(cls) -> KeyRing:
        return cls(active="k1", keys={"k1": AESGCM.generate_key(bit_length=256)})


def load_keyring(settings: Settings) -> KeyRing:
    """The configured keyring; generated into the instance folder on first use."""
    doc = load_field_keys_document(settings)
    if doc is not None:
        return KeyRing.from_document(doc)
    text = create_private_once(field_keys_path(settings), json.dumps(KeyRing.generate().to_document(), indent=2))
    return KeyRing.from_document(json.loads(text))


def save_keyring(settings: Settings, ring: KeyRing) -> None:
    if os.environ.get("PC_FIELD_KEYS"):
        raise RuntimeError("密钥来自环境变量 PC_FIELD_KEYS，无法写回；请在密钥管理系统中更新")
    write_private(field_keys_path(settings), json.dumps(ring.to_document(), indent=2))


class FieldCipher:
    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    @staticmethod
    def _aad(table: str, column: str, row: str, kid: str) -> bytes:
        return json.dumps([table, column, row, kid], ensure_ascii=False).encode()

    def encrypt(self, plaintext: str | None, *, table: str, column: str, row: str) -> str | None:
        if plaintext is None:
            return None
        kid = self.ring.active
        nonce = secrets.token_bytes(NONCE_BYTES)
        ct = AESGCM(self.ring.keys[kid]).encrypt(
            nonce, plaintext.encode(), self._aad(table, column, row, kid)
        )
        return f"{kid}:{base64.b64encode(nonce + ct).decode()}"

    def decrypt(self, stored: str | None, *, table: str, column: str, row: str) -> str | None:
        if stored is None:
            return None
        kid, _, body = stored.partition(":")
        key = self.ring.keys.get(kid)
        if key is None:
            raise DecryptionError(f"未知的密钥编号 {kid}")
        raw = base64.b64decode(body)
        try:
            pt = AESGCM(key).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._aad(table, column, row, kid)
            )
        except InvalidTag as exc:
            raise DecryptionError(f"{table}.{column} 第 {row} 行解密失败") from exc
        return pt.decode()

    def key_id_of(self, stored: str | None) -> str | None:
        return None if stored is None else stored.partition(":")[0]
