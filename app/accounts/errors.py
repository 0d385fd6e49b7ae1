"""Errors of sign-in, roles and tenancy."""

from __future__ import annotations

from app.core.errors import Conflict, Forbidden, Unauthorized


class SignInRequired(Unauthorized):
    code = "sign_in_required"


class RoleDenied(Forbidden):
    code = "role_denied"


class TenancyDenied(Forbidden):
    code = "tenancy_denied"


class UserExists(Conflict):
    code = "user_exists"
