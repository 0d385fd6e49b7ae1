"""Errors of accounts (sign-in, roles and tenancy are ``app.core.auth``'s, for every layer)."""

from __future__ import annotations

from app.core.errors import Conflict


class UserExists(Conflict):
    code = "user_exists"
