"""Sign-in pages (session cookie, CSRF-protected form) and ``/api/v1/me``."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_login import current_user, login_user, logout_user
from marshmallow import ValidationError

from app.accounts import sessions, throttle
from app.accounts.auth import require_user
from app.accounts.models import Role
from app.accounts.schemas import LoginSchema, MeSchema, PasswordChangeSchema, SessionSchema
from app.accounts.services import (
    actor_names,
    authenticate,
    change_own_password,
    get_user,
    set_active,
)
from app.audit import services as audit
from app.core.errors import Conflict, DomainError, InvalidInput, flatten_messages
from app.core.extensions import cookie_csrf, db_session, limiter, settings

bp = Blueprint("accounts", __name__, template_folder="templates")  # its pages beside it

# The signed-in user's API (session cookie; writes carry X-CSRFToken), in the OpenAPI document
# (added by create_app).
_ERRORS = {"401": "UNAUTHORIZED", "default": "DEFAULT_ERROR"}


def _ok(schema: Any, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


OPENAPI_ROUTES: dict[str, dict[str, Any]] = {  # by endpoint
    "accounts.me": {"get": {"tags": ["accounts"], "summary": "当前登录的用户",
                           "responses": {"200": _ok(MeSchema), **_ERRORS}}},
    "accounts.change_password": {"post": {
        "tags": ["accounts"], "summary": "修改本人密码：本人的其他会话随即结束",
        "requestBody": {"required": True, "content": {"application/json": {"schema": PasswordChangeSchema}}},
        "responses": {"200": _ok({"type": "object", "required": ["changed", "ended_sessions"], "properties": {
            "changed": {"type": "boolean"}, "ended_sessions": {"type": "integer"}}}), **_ERRORS}}},
    "accounts.my_sessions": {"get": {
        "tags": ["accounts"], "summary": "本人未结束的会话（current：本次所用的）",
        "responses": {"200": _ok({"type": "object", "required": ["items"], "properties": {
            "items": {"type": "array", "items": SessionSchema}}}), **_ERRORS}}},
    "accounts.disable_user": {"post": {
        "tags": ["accounts"], "summary": "停用用户（运营人员）：其会话随即全部结束",
        "responses": {"200": _ok({"type": "object", "properties": {
            "username": {"type": "string"}, "active": {"type": "boolean"}, "ended_sessions": {"type": "integer"}}}),
            **_ERRORS}}},
    "accounts.enable_user": {"post": {
        "tags": ["accounts"], "summary": "重新启用用户（运营人员；用户须重新登录）",
        "responses": {"200": _ok({"type": "object", "properties": {
            "username": {"type": "string"}, "active": {"type": "boolean"}}}), **_ERRORS}}},
}


@bp.app_context_processor
def _people() -> dict[str, Any]:
    """Pages of lower layers (the audit log) name the people among their actors (``user:…``)
    with ``people_named(actors)``: {actor: (display name, role label)}."""
    return {"people_named": lambda actors: actor_names(db_session(), actors)}


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site, else the home page.  Browsers read
    ``\\`` as ``/`` and drop tabs and newlines, so ``/\\evil.example`` or ``/<TAB>/evil.example``
    would leave the site: a backslash, a control character or whitespace refuses the target."""
    if (target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc
            and "\\" not in target and not any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in target)):
        return target
    return url_for("web.home")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20/minute", methods=["POST"])
def login() -> Any:
    form: dict[str, Any] = {"username": "", "next": request.args.get("next")}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        try:
            data = LoginSchema().load(form)
        except ValidationError as exc:
            errors = flatten_messages(exc.messages)
        else:
            address = request.remote_addr
            wait = throttle.wait_seconds(db_session(), data["username"], address)
            if wait:
                audit.refuse_later(db_session(), audit.Pending(
                    actor=f"ip:{address}", action="session.sign_in", code="throttled", subject_type="user",
                    subject_id=data["username"][:64], detail={"retry_after": wait}))
                errors = {"password": [f"该账号登录失败次数过多，请 {math.ceil(wait / 60)} 分钟后再试。"]}
                return (render_template("accounts/login.html", form=form, errors=errors), 429,
                        {"Retry-After": str(wait)})
            user = authenticate(db_session(), data["username"], data["password"])
            if user is None:
                throttle.failed(data["username"], address)
                audit.refuse_later(db_session(), audit.Pending(  # written after the refusal's rollback
                    actor=f"ip:{address}", action="session.sign_in", code="bad_credentials", subject_type="user",
                    subject_id=data["username"][:64]))
            else:
                throttle.succeeded(data["username"], address)
            if user is not None:
                token = sessions.start(db_session(), user, max_hours=settings().session_max_hours,
                                       ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))
                login_user(user)
                flask_session[sessions.TOKEN_KEY] = token
                audit.record(db_session(), f"user:{user.username}", "session.sign_in", subject_type="user",
                             subject_id=user.username, detail={"ip": address})
                flash(f"欢迎，{user.display_name}。", "success")
                return redirect(_safe_next(data.get("next")))
            errors = {"password": ["用户名或密码错误。"]}
        status = 422 if errors else 200
        return render_template("accounts/login.html", form=form, errors=errors), status
    return render_template("accounts/login.html", form=form, errors=errors)


@bp.post("/logout")
def logout() -> Any:
    who = current_user.username if current_user.is_authenticated else None  # before its token goes
    if sessions.end(db_session(), flask_session.pop(sessions.TOKEN_KEY, None)) and who:  # the cookie is worthless now
        audit.record(db_session(), f"user:{who}", "session.sign_out", subject_type="user", subject_id=who)
    logout_user()
    flash("已退出登录。", "info")
    return redirect(url_for("web.home"))


@bp.get("/api/v1/me")
def me() -> Any:
    """The signed-in user."""
    return MeSchema().dump(require_user())


@bp.post("/api/v1/me/password")
def change_password() -> Any:
    """Change one's own password: every other session of the user ends."""
    user = require_user()
    cookie_csrf()
    try:
        data = PasswordChangeSchema().load(request.get_json(silent=True) or {})
    except ValidationError as exc:
        raise InvalidInput("请求有误", errors=flatten_messages(exc.messages)) from None
    # Guessing the current password here counts as failed sign-ins (the same throttle).
    wait = throttle.wait_seconds(db_session(), user.username, request.remote_addr)
    if wait:
        raise TooManyAttempts(f"该账号密码验证失败次数过多，请 {math.ceil(wait / 60)} 分钟后再试",
                              headers={"Retry-After": str(wait)})
    try:
        ended = change_own_password(db_session(), user, data["current_password"], data["new_password"],
                                    keep_session=flask_session.get(sessions.TOKEN_KEY))
    except InvalidInput as exc:
        if "current_password" in (exc.errors or {}):
            throttle.failed(user.username, request.remote_addr)
        raise
    audit.record(db_session(), f"user:{user.username}", "user.password_changed", subject_type="user",
                 subject_id=user.username, detail={"ended_sessions": ended})
    return {"changed": True, "ended_sessions": ended}


class TooManyAttempts(DomainError):
    status = 429
    code = "too_many_attempts"


@bp.get("/api/v1/me/sessions")
def my_sessions() -> Any:
    """The signed-in user's open sessions (``current``: this one)."""
    user = require_user()
    mine = sessions.find_token_id(db_session(), flask_session.get(sessions.TOKEN_KEY))
    rows = sessions.open_sessions(db_session(), user.id)
    return {"items": [SessionSchema().dump({**vars(r), "current": r.id == mine}) for r in rows]}


@bp.post("/api/v1/users/<string:username>/disable")
def disable_user(username: str) -> Any:
    """Operators: disable a user; their sessions end at once."""
    operator = require_user(Role.operator)
    cookie_csrf()
    user = get_user(db_session(), username)
    if user.id == operator.id:
        raise Conflict("不能停用自己的账号", code="cannot_disable_self")
    ended = set_active(db_session(), user, False)
    audit.record(db_session(), f"user:{operator.username}", "user.disabled", subject_type="user",
                 subject_id=user.username, detail={"ended_sessions": ended})
    return {"username": user.username, "active": False, "ended_sessions": ended}


@bp.post("/api/v1/users/<string:username>/enable")
def enable_user(username: str) -> Any:
    """Operators: enable a user again (they sign in anew)."""
    operator = require_user(Role.operator)
    cookie_csrf()
    user = get_user(db_session(), username)
    set_active(db_session(), user, True)
    audit.record(db_session(), f"user:{operator.username}", "user.enabled", subject_type="user",
                 subject_id=user.username)
    return {"username": user.username, "active": True}
