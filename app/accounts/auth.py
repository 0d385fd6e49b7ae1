"""Flask-side sign-in glue: the user loader and ``require_user`` for API views."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit

from flask import flash, redirect, request, url_for
from flask import session as flask_session
from flask_login import current_user
from flask_wtf.csrf import validate_csrf
from wtforms import ValidationError

from app.accounts import sessions
from app.accounts.models import Role, User
from app.accounts.services import load_user
from app.core.auth import signed_in
from app.core.errors import DomainError, Forbidden
from app.core.extensions import database, db_session, login_manager, settings


class CsrfRequired(DomainError):
    status = 400
    code = "csrf_failed"


ENDED_KEY = "_pc_ended"  # why the browser's last session ended, for the sign-in page
REASON_KEY = "_pc_sign_in_for"  # {next, text}: why a page sent the browser to sign in


def explain_sign_in(next_path: str, text: str) -> None:
    """A page sending the browser to sign in says why (shown on the sign-in page for as long
    as its ``next`` is this path, wrong passwords included)."""
    flask_session[REASON_KEY] = {"next": next_path, "text": text}


def sign_in_reason(next_path: str | None) -> str | None:
    stored = flask_session.get(REASON_KEY)
    if isinstance(stored, dict) and next_path and stored.get("next") == next_path:
        return str(stored.get("text") or "") or None
    return None


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    """The user of the request's session: only while its server-side session is open (not
    signed out, ended by a password change or a disabled account, idle or expired)."""
    if not user_id.isdigit():
        return None
    token = flask_session.get(sessions.TOKEN_KEY)
    row = sessions.find_open(db_session(), token, int(user_id), settings().session_idle_minutes)
    if row is None:
        why = sessions.why_not_open(db_session(), token, int(user_id), settings().session_idle_minutes)
        if why:  # said on the sign-in page the browser is sent to, once
            flask_session[ENDED_KEY] = why
        flask_session.pop(sessions.TOKEN_KEY, None)
        return None
    sessions.touch(database().transaction, row)
    return load_user(db_session(), user_id)


def require_user(*roles: Role) -> User:
    """The signed-in user (session cookie), optionally limited to ``roles``."""
    return cast(User, signed_in(*roles))


def require_firm() -> User:
    """The signed-in firm user, bound to its enterprise."""
    user = require_user(Role.firm)
    if user.enterprise_id is None or user.enterprise is None:
        raise Forbidden("该账号未关联企业", code="no_enterprise")
    return user


def refuse_cross_site(what: str) -> None:
    """A GET that spends something (a self-report counts against the year's free ones) must
    not be triggered by another site's link or image: the session cookie (SameSite=Lax)
    travels on top-level navigations from anywhere.  Refused when the browser says the
    request came from another site (``Sec-Fetch-Site``), or — from browsers that do not
    say — when its ``Origin`` or ``Referer`` names another host.  Programs that send
    neither (curl, scripts) and addresses typed in or bookmarked are served."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        if site in ("same-origin", "none"):
            return
        raise Forbidden(f"{what}只能在本站页面或直接请求中发起，不能经其他网站的链接发起", code="cross_site_request")
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return
    try:
        host = urlsplit(source).netloc
    except ValueError:  # not even a URL ("http://[oops/"): not this site's
        host = None
    if host != request.host:
        raise Forbidden(f"{what}只能在本站页面或直接请求中发起，不能经其他网站的链接发起", code="cross_site_request")


def require_csrf_header(what: str) -> None:
    """A GET that spends something, asked for with the session cookie: the session's CSRF
    token in ``X-CSRFToken``, as every write by a signed-in user through the API carries it.
    A link (from another site, a mail, a chat) cannot add a header."""
    try:
        validate_csrf(request.headers.get("X-CSRFToken"))
    except ValidationError as exc:
        raise CsrfRequired(f"{what}须在 X-CSRFToken 头中带上页面的 CSRF 令牌（在本站页面上操作即可）") from exc


class PasswordChangeRequired(Forbidden):
    code = "password_change_required"


# What a user holding a one-time password may still reach: the page and the API that change
# it, who they are, signing out, and the site's files.
_WHILE_TEMPORARY = {"accounts.password_page", "accounts.change_password", "accounts.me", "accounts.logout",
                    "static", "web.favicon"}


def password_change_first() -> Any:
    """A ``before_request`` hook: a user signed in with a password an operator handed over
    (``must_change_password``) is sent to the change-password page, whatever they open,
    until they set their own; the API answers 403 ``password_change_required``.  Bank
    systems (bearer tokens) carry no session and are not concerned."""
    if request.endpoint in _WHILE_TEMPORARY or request.endpoint is None:
        return None
    user = current_user
    if not user.is_authenticated or not getattr(user, "must_change_password", False):
        return None
    if request.path.startswith("/api/"):
        raise PasswordChangeRequired("请先修改一次性密码：POST /api/v1/me/password")
    flash("您使用的是运营人员发放的一次性密码：请先设置自己的密码，再继续使用。", "info")
    nxt = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("accounts.password_page", next=nxt))
