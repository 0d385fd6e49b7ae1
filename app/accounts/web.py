"""Sign-in pages (session cookie, CSRF-protected form) and ``/api/v1/me``."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, g, make_response, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_login import current_user, login_user, logout_user
from marshmallow import ValidationError, fields, validate

from app.accounts import sessions, throttle
from app.accounts.agents import describe_agent
from app.accounts.auth import ENDED_KEY, REASON_KEY, require_user, sign_in_reason
from app.accounts.models import Role, User
from app.accounts.schemas import LoginSchema, MeSchema, PasswordChangeSchema, SessionSchema
from app.accounts.services import (
    AccountDisabled,
    actor_names,
    add_user,
    authenticate,
    binding_errors,
    change_own_password,
    end_user_session,
    end_user_sessions,
    get_user,
    list_institutions,
    list_users,
    open_session_counts,
    password_faults,
    reset_password,
    set_active,
)
from app.audit import services as audit
from app.core.errors import Conflict, DomainError, InvalidInput, flatten_messages
from app.core.extensions import cookie_csrf, db_session, limiter, settings
from app.core.forms import Errors, domain_errors, filled, load_form, query_args
from app.core.schemas_base import PageArgs, StrictSchema, one_of

bp = Blueprint("accounts", __name__, template_folder="templates")  # its pages beside it
bp.add_app_template_filter(describe_agent, "agent")  # a session's browser in a few words

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
                return (_login_page(form, errors), 429,
                        {"Retry-After": str(wait)})
            try:
                user = authenticate(db_session(), data["username"], data["password"])
            except AccountDisabled:
                audit.refuse_later(db_session(), audit.Pending(
                    actor=f"ip:{address}", action="session.sign_in", code="account_disabled", subject_type="user",
                    subject_id=data["username"][:64]))
                errors = {"password": ["该账号已被停用，无法登录。如有疑问，请联系平台运营人员。"]}
                return _login_page(form, errors), 403
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
                flask_session.pop(REASON_KEY, None)
                audit.record(db_session(), f"user:{user.username}", "session.sign_in", subject_type="user",
                             subject_id=user.username, detail={"ip": address})
                flash(f"欢迎，{user.display_name}。", "success")
                return redirect(_safe_next(data.get("next")))
            errors = {"password": ["用户名或密码错误。"]}
        status = 422 if errors else 200
        return _login_page(form, errors), status
    return _login_page(form, errors)


def _login_page(form: dict[str, Any], errors: dict[str, list[str]]) -> str:
    """The sign-in page; it says why the browser is here when a page said so (a bank's
    authorization link) and, once, why its last session ended."""
    return render_template("accounts/login.html", form=form, errors=errors,
                           reason=sign_in_reason(form.get("next")), ended=flask_session.pop(ENDED_KEY, None))


@bp.post("/logout")
def logout() -> Any:
    who = current_user.username if current_user.is_authenticated else None  # before its token goes
    if sessions.end(db_session(), flask_session.pop(sessions.TOKEN_KEY, None)) and who:  # the cookie is worthless now
        audit.record(db_session(), f"user:{who}", "session.sign_out", subject_type="user", subject_id=who)
    logout_user()
    flash("已退出登录。", "info")
    nxt = request.form.get("next")
    if nxt and _safe_next(nxt) == nxt:  # sign in again for a page (another account for a firm's link)
        return redirect(url_for("accounts.login", next=nxt))
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
    ended = _change_own_password(user, data["current_password"], data["new_password"])
    return {"changed": True, "ended_sessions": ended}


class TooManyAttempts(DomainError):
    status = 429
    code = "too_many_attempts"


def _change_own_password(user: User, current: str, new: str) -> int:
    """The API's and the page's change of one's own password: guessing the current password
    counts as failed sign-ins (the same throttle, :class:`TooManyAttempts` while it holds);
    the other sessions end (how many is returned); audited."""
    wait = throttle.wait_seconds(db_session(), user.username, request.remote_addr)
    if wait:
        raise TooManyAttempts(f"该账号密码验证失败次数过多，请 {math.ceil(wait / 60)} 分钟后再试",
                              headers={"Retry-After": str(wait)})
    try:
        ended = change_own_password(db_session(), user, current, new, keep_session=flask_session.get(sessions.TOKEN_KEY))
    except InvalidInput as exc:
        if "current_password" in (exc.errors or {}):
            throttle.failed(user.username, request.remote_addr)
        raise
    audit.record(db_session(), f"user:{user.username}", "user.password_changed", subject_type="user",
                 subject_id=user.username, request_id=g.get("request_id"), detail={"ended_sessions": ended})
    return ended


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


# --- the operator's users page ------------------------------------------------------------------

_USERNAME = r"\A[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z"


class _UserListArgs(PageArgs):
    q = fields.String(load_default=None, validate=validate.Length(max=64, error="至多 64 个字符。"))
    role = fields.String(load_default=None, validate=one_of(list(Role)))
    status = fields.String(load_default=None, validate=one_of(["active", "disabled"]))


class _NewUserForm(StrictSchema):
    """The console's form for a new user: what ``powercredit users add`` asks, bar the password
    (a one-time one is made); the bindings by role are the service's rules."""

    username = fields.String(required=True, validate=[
        validate.Regexp(_USERNAME, error="用户名为 1–64 个字母、数字或 . _ @ -，以字母或数字开头。"),
        validate.Regexp(r"\D", error="用户名不能全为数字（审计日志中会与用户编号混淆）。")])
    display_name = fields.String(load_default=None, validate=validate.Length(max=100, error="至多 100 个字符。"))
    role = fields.String(required=True, validate=one_of(list(Role)))
    enterprise = fields.String(load_default=None, validate=validate.Length(max=18, error="统一社会信用代码为 18 位。"))
    institution = fields.String(load_default=None, validate=validate.Length(max=64, error="至多 64 个字符。"))


def _operator() -> User:
    return require_user(Role.operator)


def _one_time(template: str, **context: Any) -> Any:
    """A page that shows a one-time password: never kept by a cache or the browser's history."""
    resp = make_response(render_template(template, **context))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/console/users")
def console_users() -> str:
    """Every user: role, enterprise or institution, status, last sign-in, open sessions."""
    _operator()
    args = query_args(_UserListArgs())
    session = db_session()
    active = {"active": True, "disabled": False}.get(args["status"] or "")
    page = list_users(session, q=args["q"], role=args["role"], active=active, page=args["page"],
                      per_page=args["per_page"])
    return render_template("accounts/users.html", page=page, args=args,
                           open_sessions=open_session_counts(session, (u.id for u in page.items)))


@bp.route("/console/users/new", methods=["GET", "POST"])
def console_new_user() -> Any:
    """A new user, bound by role as the CLI binds one; its one-time password shown once."""
    operator = _operator()
    form: dict[str, Any] = {"role": request.args.get("role", "")}
    errors: Errors = {}
    if request.method == "POST":
        form = {k: v.strip() for k, v in request.form.items() if k != "csrf_token"}
        data, errors = load_form(_NewUserForm(), filled(form, ("username", "display_name", "role", "enterprise",
                                                                "institution")))
        if data is None:  # the form's own faults, and the bindings' with them: all at once
            for field, messages in binding_errors(db_session(), form.get("role", ""),
                                                  (form.get("enterprise") or "").upper()[:18] or None,
                                                  form.get("institution") or None).items():
                errors.setdefault(field, messages)
        if data is not None:
            try:
                user, password = add_user(db_session(), username=data["username"], role=data["role"],
                                          display_name=data["display_name"],
                                          enterprise_uscc=(data["enterprise"] or "").upper() or None,
                                          institution_licence=data["institution"])
            except DomainError as exc:
                errors = domain_errors(exc)
            else:
                audit.record(db_session(), f"user:{operator.username}", "user.created", subject_type="user",
                             subject_id=user.username, request_id=g.get("request_id"), detail={
                                 "role": str(user.role), "enterprise": user.enterprise.uscc if user.enterprise else None,
                                 "institution": user.institution.licence_no if user.institution else None})
                return _one_time("accounts/one_time_password.html", user=user, password=password, created=True)
    return render_template("accounts/user_new.html", form=form, errors=errors, roles=list(Role),
                           institutions=list_institutions(db_session(), active_only=True)), 422 if errors else 200


@bp.get("/console/users/<string:username>")
def console_user(username: str) -> str:
    """One user: who they are, their open sessions, and what an operator may do."""
    operator = _operator()
    session = db_session()
    user = get_user(session, username)
    mine = sessions.find_token_id(session, flask_session.get(sessions.TOKEN_KEY))
    return render_template("accounts/user.html", user=user, open=sessions.open_sessions(session, user.id),
                           mine=mine, is_self=user.id == operator.id)


def _back(user: User) -> Any:
    return redirect(url_for("accounts.console_user", username=user.username))


@bp.post("/console/users/<string:username>/disable")
def console_disable_user(username: str) -> Any:
    operator = _operator()
    session = db_session()
    user = get_user(session, username)
    if user.id == operator.id:
        flash("不能停用自己的账号。", "error")
        return _back(user)
    ended = set_active(session, user, False)
    audit.record(session, f"user:{operator.username}", "user.disabled", subject_type="user", subject_id=user.username,
                 request_id=g.get("request_id"), detail={"ended_sessions": ended})
    flash(f"已停用 {user.display_name}（{user.username}）；结束登录会话 {ended} 个。", "success")
    return _back(user)


@bp.post("/console/users/<string:username>/enable")
def console_enable_user(username: str) -> Any:
    operator = _operator()
    session = db_session()
    user = get_user(session, username)
    set_active(session, user, True)
    audit.record(session, f"user:{operator.username}", "user.enabled", subject_type="user", subject_id=user.username,
                 request_id=g.get("request_id"))
    flash(f"已启用 {user.display_name}（{user.username}），其须重新登录。", "success")
    return _back(user)


@bp.post("/console/users/<string:username>/password")
def console_reset_password(username: str) -> Any:
    """A new one-time password, shown once; every session of the user ends."""
    operator = _operator()
    session = db_session()
    user = get_user(session, username)
    if user.id == operator.id:
        flash("不能在此重置自己的密码：请以本人账号修改密码。", "error")
        return _back(user)
    password, ended = reset_password(session, user)
    audit.record(session, f"user:{operator.username}", "user.password_reset", subject_type="user",
                 subject_id=user.username, request_id=g.get("request_id"), detail={"ended_sessions": ended})
    return _one_time("accounts/one_time_password.html", user=user, password=password, created=False, ended=ended)


@bp.post("/console/users/<string:username>/sessions/<int:session_id>/end")
def console_end_session(username: str, session_id: int) -> Any:
    operator = _operator()
    session = db_session()
    user = get_user(session, username)
    if session_id == sessions.find_token_id(session, flask_session.get(sessions.TOKEN_KEY)):
        flash("这是您本次的会话：请用「退出」结束。", "error")
        return _back(user)
    if end_user_session(session, user, session_id):
        audit.record(session, f"user:{operator.username}", "session.revoked", subject_type="user",
                     subject_id=user.username, request_id=g.get("request_id"), detail={"session_id": session_id})
        flash("已结束该会话。", "success")
    else:
        flash("该会话已结束或不属于此用户。", "error")
    return _back(user)


@bp.post("/console/users/<string:username>/sessions/end")
def console_end_sessions(username: str) -> Any:
    """End all of the user's sessions (an operator ending their own keeps this one)."""
    operator = _operator()
    session = db_session()
    user = get_user(session, username)
    ended = end_user_sessions(session, user, keep=flask_session.get(sessions.TOKEN_KEY) if user.id == operator.id
                              else None)
    if ended:
        audit.record(session, f"user:{operator.username}", "session.revoked", subject_type="user",
                     subject_id=user.username, request_id=g.get("request_id"), detail={"ended_sessions": ended})
    flash(f"已结束 {ended} 个会话。" if ended else "没有可结束的会话。", "success" if ended else "info")
    return _back(user)


# --- one's own password (a one-time password is changed here after signing in with it) -----------

class _PasswordForm(StrictSchema):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=200, error="请输入当前密码。"))
    new_password = fields.String(required=True, validate=validate.Length(min=1, max=200, error="请输入新密码。"))
    confirm_password = fields.String(required=True, validate=validate.Length(min=1, max=200, error="请再输入一次新密码。"))


@bp.route("/account/password", methods=["GET", "POST"])
def password_page() -> Any:
    """Any signed-in user changes their own password (the API's rules and throttle); their
    other sessions end."""
    user = require_user()
    errors: Errors = {}
    if request.method == "POST":
        form = {k: v for k, v in request.form.items() if k != "csrf_token"}
        data, errors = load_form(_PasswordForm(), filled(form, ("current_password", "new_password",
                                                                "confirm_password")))
        faults = password_faults(data["new_password"]) if data is not None else []
        if data is not None and (faults or data["new_password"] != data["confirm_password"]):
            errors = {"new_password": faults} if faults else {}  # both at once: too short, not the same twice
            if data["new_password"] != data["confirm_password"]:
                errors["confirm_password"] = ["两次输入的新密码不一致。"]
        elif data is not None:
            try:
                ended = _change_own_password(user, data["current_password"], data["new_password"])
            except TooManyAttempts as exc:
                errors = {"current_password": [f"{exc.detail}。"]}
                return render_template("accounts/password.html", errors=errors, user=user,
                                       next=request.form.get("next")), 429, exc.headers
            except InvalidInput as exc:
                errors = domain_errors(exc)
            else:
                flash("密码已修改" + (f"；您在其他浏览器或设备上的 {ended} 个登录已结束。" if ended else "。"), "success")
                return redirect(_safe_next(request.form.get("next") or request.args.get("next")))
    return render_template("accounts/password.html", errors=errors, user=user,
                           next=request.form.get("next") or request.args.get("next")), 422 if errors else 200
