"""Flask-side sign-in glue: the user loader and ``require_user`` for API views."""

from __future__ import annotations

from typing import cast

from flask_login import current_user

from app.accounts.errors import SignInRequired
from app.accounts.models import Role, User
from app.accounts.services import load_user, require_role
from app.errors import Forbidden
from app.extensions import db_session, login_manager


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    return load_user(db_session(), user_id)


def require_user(*roles: Role) -> User:
    """The signed-in user (session cookie), optionally limited to ``roles``."""
    if not current_user.is_authenticated:
        raise SignInRequired("请先登录", headers={"WWW-Authenticate": 'Session realm="powercredit"'})
    user = cast(User, current_user._get_current_object())
    if roles:
        require_role(user, *roles)
    return user


def require_firm() -> User:
    """The signed-in firm user, bound to its enterprise."""
    user = require_user(Role.firm)
    if user.enterprise_id is None or user.enterprise is None:
        raise Forbidden("该账号未关联企业", code="no_enterprise")
    return user
