"""Who is calling, for the views of every layer: the signed-in user (Flask-Login's session;
the accounts package loads users) and a client's bearer token (checked by the OAuth server,
which hands its check in at start-up, ``app.wiring``). Roles are named by their codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_login import current_user

from app.core.errors import Forbidden, Unauthorized

ROLE_LABELS = {"operator": "征信机构", "firm": "企业", "bank": "金融机构", "group": "集团信用管理人员",
               "tenderer": "招标采购人员"}


class SignInRequired(Unauthorized):
    code = "sign_in_required"


class RoleDenied(Forbidden):
    code = "role_denied"


class TenancyDenied(Forbidden):
    code = "tenancy_denied"


def require_role(user: Any, *roles: str) -> None:
    if str(user.role) not in roles:
        names = "、".join(ROLE_LABELS.get(str(r), str(r)) for r in roles)
        raise RoleDenied(f"此操作仅限以下角色：{names}")


def signed_in(*roles: str) -> Any:
    """The signed-in user (session cookie), optionally limited to ``roles``."""
    if not current_user.is_authenticated:
        raise SignInRequired("请先登录", headers={"WWW-Authenticate": 'Session realm="powercredit"'})
    user = current_user._get_current_object()
    if roles:
        require_role(user, *roles)
    return user


BearerCheck = Callable[..., Any]
_bearer: list[BearerCheck] = []


def set_bearer_check(check: BearerCheck) -> None:
    """How a bearer token is checked (the OAuth server's resource protector)."""
    _bearer[:] = [check]


def bearer_token(*scopes: str) -> Any:
    """The caller's OAuth access token, valid and holding ``scopes``; refused otherwise
    (401/403 as RFC 6750 says)."""
    if not _bearer:
        raise RuntimeError("bearer tokens are not wired: call app.wiring.wire() at start-up")
    return _bearer[0](*scopes)
