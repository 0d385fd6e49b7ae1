"""The Merkle tree of RFC 9162 (Certificate Transparency v2) §2.1, as pure functions.

A leaf's hash is ``SHA-256(0x00 || data)``, an interior node's ``SHA-256(0x01 || left ||
right)``; the tree over ``n`` leaves splits at ``k``, the largest power of two below ``n``
(§2.1.1), so every tree is a row of *perfect* subtrees (sizes the bits of ``n``, largest
first) folded from the right.

The proofs (§2.1.3 audit paths, §2.1.4 consistency proofs) are produced here as the leaf
ranges whose subtree hashes they list, so that the caller can read those hashes from
wherever it keeps the tree (``app.audit.services`` keeps every perfect subtree) and combine
them with :func:`range_hash`.  Nothing here reads a database or the clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}), the hash of an empty tree

Range = tuple[int, int]  # leaves [lo, hi)


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split(n: int) -> int:
    """``k``: the largest power of two smaller than ``n`` (``n`` ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def is_perfect(lo: int, hi: int) -> bool:
    """Whether leaves [lo, hi) are one perfect subtree of every larger tree: a power of two
    leaves, starting at a multiple of that power."""
    size = hi - lo
    return size > 0 and size & (size - 1) == 0 and lo % size == 0


def node_of(lo: int, hi: int) -> tuple[int, int]:
    """A perfect range as (level, index): level 0 is a leaf, level ``L`` the ``index``-th
    subtree of ``2**L`` leaves."""
    level = (hi - lo).bit_length() - 1
    return level, lo >> level


def perfect_pieces(lo: int, hi: int) -> list[Range]:
    """The perfect subtrees that make up the subtree over [lo, hi), left to right, as
    RFC 9162 splits it (``lo`` is where a split of a larger tree puts it: a multiple of the
    power of two at or above ``hi - lo``)."""
    pieces: list[Range] = []
    while hi - lo > 0:
        if is_perfect(lo, hi):
            pieces.append((lo, hi))
            break
        k = split(hi - lo)
        pieces.append((lo, lo + k))
        lo += k
    return pieces


def fold(hashes: list[bytes]) -> bytes:
    """The subtree hash of consecutive perfect subtrees (as :func:`perfect_pieces` gives
    them): folded from the right."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


def range_hash(lo: int, hi: int, perfect: Mapping[tuple[int, int], bytes]) -> bytes:
    """MTH(D[lo:hi]) from the hashes of its perfect subtrees, keyed by (level, index)."""
    return fold([perfect[node_of(a, b)] for a, b in perfect_pieces(lo, hi)])


def inclusion_ranges(m: int, n: int) -> list[Range]:
    """The ranges whose hashes make PATH(m, D[n]) (§2.1.3.1), nearest the leaf first."""
    if not 0 <= m < n:
        raise ValueError(f"leaf {m} is not in a tree of {n}")
    out: list[Range] = []
    lo, hi = 0, n
    while hi - lo > 1:
        k = split(hi - lo)
        if m - lo < k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    out.reverse()
    return out


def consistency_ranges(m: int, n: int) -> list[Range]:
    """The ranges whose hashes make PROOF(m, D[n]) (§2.1.4.1), in the proof's order; empty
    when ``m == n``."""
    if not 0 < m <= n:
        raise ValueError(f"no consistency proof from {m} to {n}")
    out: list[Range] = []

    def subproof(m: int, lo: int, hi: int, whole: bool) -> None:
        if m == hi - lo:
            if not whole:
                out.append((lo, hi))
            return
        k = split(hi - lo)
        if m <= k:
            subproof(m, lo, lo + k, whole)
            out.append((lo + k, hi))
        else:
            subproof(m - k, lo + k, hi, False)
            out.append((lo, lo + k))

    subproof(m, 0, n, True)
    return out


def needed_nodes(ranges: Iterable[Range]) -> set[tuple[int, int]]:
    """The perfect subtrees, as (level, index), whose hashes the ranges are made of."""
    return {node_of(a, b) for lo, hi in ranges for a, b in perfect_pieces(lo, hi)}


@dataclass
class CompactRange:
    """The tree over leaves [0, size), kept as its perfect subtrees only (at most one per
    level): appending a leaf is O(log n), the root O(log n), whatever the size.  ``append``
    returns the interior nodes the new leaf completes, so a store can keep them."""

    size: int = 0
    peaks: list[tuple[int, bytes]] = field(default_factory=list)  # (level, hash), largest first

    @classmethod
    def of(cls, size: int, perfect: Callable[[int, int], bytes]) -> CompactRange:
        """The compact range of an existing tree, from its perfect subtrees by (level, index)."""
        return cls(size, [(node_of(a, b)[0], perfect(*node_of(a, b))) for a, b in perfect_pieces(0, size)])

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        made: list[tuple[int, int, bytes]] = []
        index, level, acc = self.size, 0, leaf
        while self.peaks and self.peaks[-1][0] == level:
            acc = node_hash(self.peaks.pop()[1], acc)
            level += 1
            made.append((level, index >> level, acc))
        self.peaks.append((level, acc))
        self.size += 1
        return made

    def root(self) -> bytes:
        return fold([h for _, h in self.peaks])
