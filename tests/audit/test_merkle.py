"""The Merkle tree of app.audit.merkle against RFC 9162 as written again in tests/audit/rfc9162.py:
the published test vectors, every audit path and consistency proof of small trees, and the
RFC's verification algorithms accepting them (and refusing them changed)."""

from __future__ import annotations

import pytest

from app.audit import merkle
from tests.audit import rfc9162

# The test vectors of RFC 6962's reference implementations (certificate-transparency,
# Trillian): eight leaves and the root of every prefix.
LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43", bytes(range(0x50, 0x58)),
          bytes(range(0x60, 0x70))]
ROOTS = ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
         "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
         "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
         "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
         "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
         "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
         "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
         "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]
DATA = [f"event {i}".encode() for i in range(70)]


class Store:
    """The perfect subtrees a CompactRange emits, as app.audit.services keeps them."""

    def __init__(self, data: list[bytes]) -> None:
        self.tree = merkle.CompactRange()
        self.nodes: dict[tuple[int, int], bytes] = {}
        for d in data:
            h = merkle.leaf_hash(d)
            self.nodes[(0, self.tree.size)] = h
            for level, i, n in self.tree.append(h):
                self.nodes[(level, i)] = n

    def hashes(self, ranges: list[merkle.Range]) -> list[bytes]:
        return [merkle.range_hash(lo, hi, self.nodes) for lo, hi in ranges]


def test_the_published_vectors() -> None:
    tree = merkle.CompactRange()
    assert tree.root() == rfc9162.mth([]) == merkle.EMPTY_ROOT
    for n, d in enumerate(LEAVES, 1):
        tree.append(merkle.leaf_hash(d))
        assert tree.root().hex() == ROOTS[n - 1] == rfc9162.mth(LEAVES[:n]).hex()


def test_every_stored_node_is_the_hash_of_its_leaves() -> None:
    store = Store(DATA)
    assert len(store.nodes) == 2 * len(DATA) - bin(len(DATA)).count("1")  # a full binary forest
    for (level, i), h in store.nodes.items():
        assert h == rfc9162.mth(DATA[i << level:(i + 1) << level])
    for n in range(len(DATA) + 1):
        assert store.hashes([(0, n)])[0] == rfc9162.mth(DATA[:n])


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33, 70])
def test_audit_paths_are_rfc_9162s_and_verify(n: int) -> None:
    store = Store(DATA[:n])
    root = rfc9162.mth(DATA[:n])
    for m in range(n):
        path = store.hashes(merkle.inclusion_ranges(m, n))
        assert path == rfc9162.path(m, DATA[:n])
        h = rfc9162.leaf(DATA[m])
        assert rfc9162.verify_inclusion(m, n, h, path, root)
        assert not rfc9162.verify_inclusion(m, n, rfc9162.leaf(b"forged"), path, root)
        if path:
            assert not rfc9162.verify_inclusion(m, n, h, [*path[:-1], bytes(32)], root)
        if m + 1 < n:
            assert not rfc9162.verify_inclusion(m + 1, n, h, path, root)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 33, 70])
def test_consistency_proofs_are_rfc_9162s_and_verify(n: int) -> None:
    store = Store(DATA[:n])
    second = rfc9162.mth(DATA[:n])
    for m in range(1, n + 1):
        proof = store.hashes(merkle.consistency_ranges(m, n))
        assert proof == rfc9162.proof(m, DATA[:n])
        first = rfc9162.mth(DATA[:m])
        assert rfc9162.verify_consistency(m, n, first, second, proof)
        if m < n:
            # A first tree that is not a prefix of the second: refused.
            other = rfc9162.mth([*DATA[:m - 1], b"rewritten"])
            assert not rfc9162.verify_consistency(m, n, other, second, proof)
            assert not rfc9162.verify_consistency(m, n, first, second, [*proof[:-1], bytes(32)])


def test_a_tree_is_rebuilt_from_its_perfect_subtrees() -> None:
    store = Store(DATA[:45])
    resumed = merkle.CompactRange.of(45, lambda level, i: store.nodes[(level, i)])
    assert resumed.root() == rfc9162.mth(DATA[:45])
    for d in DATA[45:]:
        resumed.append(merkle.leaf_hash(d))
    assert resumed.root() == rfc9162.mth(DATA)


def test_proofs_outside_the_tree_are_refused() -> None:
    with pytest.raises(ValueError):
        merkle.inclusion_ranges(5, 5)
    with pytest.raises(ValueError):
        merkle.consistency_ranges(0, 5)
    with pytest.raises(ValueError):
        merkle.consistency_ranges(6, 5)
