"""Sign-in pages (session cookie, CSRF-protected form) and ``/api/v1/me``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_user, logout_user
from marshmallow import ValidationError

from app.accounts.auth import require_user
from app.accounts.schemas import LoginSchema, MeSchema
from app.accounts.services import authenticate
from app.core.errors import flatten_messages
from app.core.extensions import db_session, limiter

bp = Blueprint("accounts", __name__, template_folder="templates")  # its pages beside it


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
            user = authenticate(db_session(), data["username"], data["password"])
            if user is not None:
                login_user(user)
                flash(f"欢迎，{user.display_name}。", "success")
                return redirect(_safe_next(data.get("next")))
            errors = {"password": ["用户名或密码错误。"]}
        status = 422 if errors else 200
        return render_template("accounts/login.html", form=form, errors=errors), status
    return render_template("accounts/login.html", form=form, errors=errors)


@bp.post("/logout")
def logout() -> Any:
    logout_user()
    flash("已退出登录。", "info")
    return redirect(url_for("web.home"))


@bp.get("/api/v1/me")
def me() -> Any:
    """The signed-in user."""
    return MeSchema().dump(require_user())
