"""The audit log's page in the operator's console."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from app.audit import services
from app.audit.schemas import AuditEventArgs
from app.core.auth import signed_in
from app.core.extensions import db_session
from app.core.forms import load_form

bp = Blueprint("audit_web", __name__, template_folder="templates")  # its pages beside it


@bp.get("/console/audit")
def console_audit() -> tuple[str, int]:
    """The audit log, newest first, with the API's filters."""
    signed_in("operator")
    args, errors = load_form(AuditEventArgs(), {k: v for k, v in request.args.items() if v != ""})
    page = services.list_events(db_session(), **args) if args is not None else None
    return render_template("audit/audit.html", page=page, args=request.args, errors=errors), 422 if errors else 200
