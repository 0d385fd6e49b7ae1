"""Who is calling a monitoring endpoint: a bank's system (a Bearer token with scope
``monitoring``) or a signed-in user (a bank officer, a group, a firm, an operator)."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from app.accounts.auth import require_user
from app.core.auth import BEARER_AND_SESSION, SignInRequired
from app.core.extensions import cookie_csrf
from app.monitoring.parties import Party, party_of_client, party_of_user
from app.oauth.bearer import bank_token

MONITORING_SCOPE = "monitoring"


def caller_party(*, writes: bool = False) -> Party:
    """Who asks, first (401 with both challenges, the Bearer one first, when nobody); a
    signed-in user's writes carry the CSRF token."""
    if "Authorization" in request.headers or "access_token" in request.args:
        return party_of_client(bank_token(MONITORING_SCOPE).client)
    if not current_user.is_authenticated:
        raise SignInRequired("请先登录，或以 Authorization: Bearer 访问令牌调用（金融机构系统，范围 monitoring）",
                             headers={"WWW-Authenticate": BEARER_AND_SESSION})
    user = require_user()
    if writes:
        cookie_csrf()
    return party_of_user(user)
