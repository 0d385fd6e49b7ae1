"""Who is calling, for the views of every layer: the signed-in user (Flask-Login's session;
the accounts package loads users) and a client's bearer token (checked by the OAuth server,
which hands its check in at start-up, ``app.wiring``). Roles are named by their codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import request
from flask_login import current_user

from app.core.errors import Forbidden, Unauthorized

ROLE_LABELS = {"operator": "征信机构", "firm": "企业", "bank": "金融机构", "group": "集团信用管理人员",
               "tenderer": "招标采购人员"}


REALM = "powercredit"
SESSION_CHALLENGE = f'Session realm="{REALM}"'
# An endpoint that bank (or procurement) systems call with a token and people call signed in:
# both challenges (RFC 9110 §11.6.1), the system's first.
BEARER_AND_SESSION = f'Bearer realm="{REALM}", {SESSION_CHALLENGE}'


class SignInRequired(Unauthorized):
    code = "sign_in_required"


def anonymous() -> bool:
    """Nobody says who is asking: no signed-in session and no token."""
    return (not current_user.is_authenticated and "Authorization" not in request.headers
            and "access_token" not in request.args)


def refuse_anonymous(*, bearer: bool = False, hint: str | None = None) -> None:
    """Who is asking comes first: a caller with neither session nor token gets 401 with the
    endpoint's challenges (the Bearer one first where a system may call) before its input
    is looked at or a CSRF token asked for."""
    if anonymous():
        text = hint or ("请先登录，或以 Authorization: Bearer 访问令牌调用" if bearer else "请先登录")
        raise SignInRequired(text, headers={"WWW-Authenticate": BEARER_AND_SESSION if bearer else SESSION_CHALLENGE})


def caller_first(*, bearer: bool = False) -> Callable[[Any], Any]:
    """A view decorator, put above the ones that read the body or query (flask-smorest's
    ``arguments`` validates before the view runs): :func:`refuse_anonymous` first."""
    def wrap(view: Any) -> Any:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            refuse_anonymous(bearer=bearer)
            return view(*args, **kwargs)
        return inner
    return wrap


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
        raise SignInRequired("请先登录", headers={"WWW-Authenticate": SESSION_CHALLENGE})
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
