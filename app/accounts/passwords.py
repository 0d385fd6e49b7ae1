"""Password hashing: Argon2id with parameters from configuration.

Production uses argon2-cffi's default profile (RFC 9106's second recommendation: 64 MiB,
3 passes, 4 lanes), above OWASP's minimum for Argon2id. A test suite may choose the cheap
``test`` profile (``PC_PASSWORD_HASH=test``): the hashes it writes are still Argon2id and
still verify, only cheaper to compute; anything but ``test`` weaker than OWASP's minimum is
refused at start-up. A hash made under weaker parameters verifies and is strengthened at the next
sign-in; a stronger one is never weakened.
"""

from __future__ import annotations

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError

from app.core.config import PROFILES, Argon2Params


def hasher_for(params: Argon2Params) -> PasswordHasher:
    return PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib,
                          parallelism=params.parallelism, type=Type.ID)


class _Hashing:
    def __init__(self, params: Argon2Params) -> None:
        self.configure(params)

    def configure(self, params: Argon2Params) -> None:
        self.params = params
        self.hasher = hasher_for(params)
        # Verified against for unknown usernames, so that sign-in takes the same time.
        self.dummy_hash = self.hasher.hash("powercredit-dummy-password")

    def should_rehash(self, stored: str) -> bool:
        """Whether a hash that just verified should be made again with the configured
        parameters: only to strengthen it, never to weaken a stronger one (a test profile
        pointed at real data must not downgrade its hashes)."""
        if not self.hasher.check_needs_rehash(stored):
            return False
        try:
            old = extract_parameters(stored)
        except InvalidHashError:
            return True
        stronger = (self.params.memory_kib >= old.memory_cost and self.params.time_cost >= old.time_cost
                    and self.params.parallelism >= old.parallelism)
        return old.type != Type.ID or stronger


hashing = _Hashing(PROFILES["production"])  # until the factory or the CLI configures it


def configure(params: Argon2Params) -> None:
    """Use ``params`` from now on (the application factory and the CLI call it with the
    configured parameters)."""
    if params != hashing.params:
        hashing.configure(params)
