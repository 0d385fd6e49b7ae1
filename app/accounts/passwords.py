"""Password hashing: Argon2id with parameters from configuration.

Production uses argon2-cffi's default profile (RFC 9106's second recommendation: 64 MiB,
3 passes, 4 lanes), above OWASP's minimum for Argon2id. A test suite may choose the cheap
``test`` profile (``PC_PASSWORD_HASH=test``): the hashes it writes are still Argon2id and
still verify, only cheaper to compute; anything but ``test`` weaker than OWASP's minimum is
refused at start-up. A hash made under other parameters verifies and is upgraded at the next
sign-in (``check_needs_rehash``).
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher, Type


@dataclass(frozen=True)
class Argon2Params:
    time_cost: int  # passes
    memory_kib: int
    parallelism: int  # lanes


PROFILES = {
    "production": Argon2Params(time_cost=3, memory_kib=64 * 1024, parallelism=4),
    "test": Argon2Params(time_cost=1, memory_kib=8, parallelism=1),
}
# OWASP Password Storage Cheat Sheet, Argon2id: any one of these (memory KiB, passes) at one
# lane is the minimum; they trade memory for passes at equal defence.
OWASP_MINIMUMS = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))


def meets_owasp(params: Argon2Params) -> bool:
    return any(params.memory_kib >= memory and params.time_cost >= passes for memory, passes in OWASP_MINIMUMS)


def hasher_for(params: Argon2Params) -> PasswordHasher:
    return PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib,
                          parallelism=params.parallelism, type=Type.ID)


class _Hashing:
    def __init__(self, params: Argon2Params) -> None:
        self.configure(params)

    def configure(self, params: Argon2Params) -> None:
        self.params = params
        self.hasher = hasher_for(params)
        self._dummy: str | None = None

    @property
    def dummy_hash(self) -> str:
        """A hash to verify against for unknown usernames, so sign-in takes the same time."""
        if self._dummy is None:
            self._dummy = self.hasher.hash("powercredit-dummy-password")
        return self._dummy


hashing = _Hashing(PROFILES["production"])


def configure(params: Argon2Params) -> None:
    """Use ``params`` from now on (the application factory and the CLI call it with the
    configured parameters)."""
    if params != hashing.params:
        hashing.configure(params)
