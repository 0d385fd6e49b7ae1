"""RFC 9162 §2.1, written again from the RFC for the tests, independent of ``app.audit.merkle``:
the tree hash MTH, audit paths PATH and consistency proofs PROOF by their recursive
definitions, and the verification algorithms of §2.1.3.2 and §2.1.4.2 step by step."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    """§2.1.1 MTH over the leaves' data."""
    if not d:
        return sha256(b"")
    if len(d) == 1:
        return leaf(d[0])
    k = _k(len(d))
    return node(mth(d[:k]), mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    """§2.1.3.1 PATH(m, D[n])."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def proof(m: int, d: list[bytes]) -> list[bytes]:
    """§2.1.4.1 PROOF(m, D[n])."""
    def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
        if m == len(d):
            return [] if b else [mth(d)]
        k = _k(len(d))
        if m <= k:
            return subproof(m, d[:k], b) + [mth(d[k:])]
        return subproof(m - k, d[k:], False) + [mth(d[:k])]

    return subproof(m, d, True)


def verify_inclusion(leaf_index: int, tree_size: int, leaf_hash: bytes, inclusion_path: list[bytes],
                     root_hash: bytes) -> bool:
    """§2.1.3.2."""
    if leaf_index >= tree_size:
        return False
    fn, sn = leaf_index, tree_size - 1
    r = leaf_hash
    for p in inclusion_path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(first: int, second: int, first_hash: bytes, second_hash: bytes,
                       consistency_path: list[bytes]) -> bool:
    """§2.1.4.2 (and a tree is consistent with itself when the hashes agree and the proof is empty)."""
    if first == second:
        return not consistency_path and first_hash == second_hash
    if not consistency_path or not 0 < first < second:
        return False
    path = list(consistency_path)
    if first & (first - 1) == 0:
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


def event_bytes(event: Any) -> bytes:
    """An audit event's leaf data as docs/architecture.md defines it: the canonical JSON (keys
    sorted, no spaces, UTF-8) of its id and content, the time in UTC with microseconds."""
    import datetime as dt

    body = {"id": event.id, "at": event.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            "actor": event.actor, "action": event.action, "outcome": event.outcome, "code": event.code,
            "subject_type": event.subject_type, "subject_id": event.subject_id, "detail": event.detail,
            "request_id": event.request_id}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
