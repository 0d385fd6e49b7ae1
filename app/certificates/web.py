"""Certificate pages: a firm's application and status, the operators' review, the results in
their notice period (with the objection form for people signed in) and the public check (the
result of ``/verify/{no}`` is rendered from this package's template, registered by the roof).
Forms use the API's schemas and services; errors show next to their field."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from app.accounts.auth import require_firm, require_user
from app.accounts.models import Role
from app.certificates import schemas, services
from app.certificates.models import CERTIFICATE_STATUS_LABELS, Certificate, CertificateStatus
from app.certificates.rules import current as current_rules
from app.core import clock, jobs
from app.core.errors import DomainError
from app.core.extensions import db_session, settings, signing_keys
from app.core.forms import Errors, domain_errors, filled, load_form, page_no

bp = Blueprint("certificates_web", __name__, template_folder="templates")

DAILY_JOB = "certificates.advance"
QUEUE = ("applied", "publicized", "issued", "suspended", "revoked", "rejected", "expired", "withdrawn")
ACTIONS = {"evaluate": "评价", "issue": "发证", "suspend": "暂停", "revoke": "撤销", "restore": "恢复"}


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {"CERTIFICATE_STATUS_LABELS": {str(k): v for k, v in CERTIFICATE_STATUS_LABELS.items()},
            "OBJECTION_STATUS_LABELS": schemas.OBJECTION_STATUS_LABELS,
            "certificate_standing": services.standing}  # a row's status as of today, as every page shows it


def _daily_run() -> str | None:
    """When the daily work runs, as an operator reads it (``PC_JOB_SCHEDULE`` may move it or
    turn it off): 「每天 00:15（北京时间）」; ``None`` when it is off."""
    cron = " ".join(settings().job_schedule.get(DAILY_JOB, jobs.DEFAULT_SCHEDULE[DAILY_JOB]).split())
    if not cron:
        return None
    daily = re.fullmatch(r"(\d{1,2}) (\d{1,2}) \* \* \*", cron)
    if daily and int(daily[1]) < 60 and int(daily[2]) < 24:
        return f"每天 {int(daily[2]):02d}:{int(daily[1]):02d}（北京时间）"
    return "按运维设定的时间"


def _form() -> dict[str, Any]:
    return {k: v.strip() for k, v in request.form.items() if k != "csrf_token"}


def _view(cert: Certificate) -> dict[str, Any]:
    """What a certificate's page shows beside the row itself."""
    session = db_session()
    now = services.standing(cert)
    events = services.events_of(session, cert)
    return {"cert": cert, "status": now.status, "standing": now, "events": events,
            "actors": services.actor_labels(session, (e.actor for e in events)),
            "objections": services.objections_of(session, cert),
            "open_objections": services.open_objection_count(session, cert),
            "notice_open": services.notice_open(cert), "next_review": services.next_review(cert),
            "now": clock.now(), "today": clock.today()}


# --- public: results in their notice period, objections, the check form ------------------------------

@bp.get("/certificates/publicity")
def notices() -> str:
    q = (request.args.get("q") or "").strip()[:50] or None
    page = services.in_notice(db_session(), page=page_no(), per_page=20, q=q)
    return render_template("certificates/notices.html", page=page, q=q or "", rules=current_rules().describe(),
                           now=clock.now())


def _render_notice(number: str, form: dict[str, Any] | None = None, errors: Errors | None = None,
                   status: int = 200) -> tuple[str, int]:
    session = db_session()
    user = current_user if current_user.is_authenticated else None
    cert = services.notice_for(session, user, number)
    mine = [o for o in services.objections_of(session, cert) if o.user_id == user.id] if user else []
    own = user is not None and user.role == Role.firm and user.enterprise_id == cert.enterprise_id
    return render_template("certificates/notice.html", cert=cert, mine=mine, own=own, form=form or {},
                           errors=errors or {}, notice_open=services.notice_open(cert), now=clock.now(),
                           standing=services.standing(cert), public=cert.status in services.PUBLIC,
                           full=user is not None and services.may_see(user, cert)), status


@bp.get("/certificates/publicity/<string:certificate_no>")
def notice(certificate_no: str) -> Any:
    return _render_notice(certificate_no)


@bp.post("/certificates/publicity/<string:certificate_no>/objections")
def object_to(certificate_no: str) -> Any:
    user = require_user()
    form = _form()
    data, errors = load_form(schemas.CertificateObjectionInSchema(), filled(form, ("text",)))
    status = 422
    if data is not None:
        try:
            o = services.object_to(db_session(), user, certificate_no, data["text"], request_id=g.get("request_id"))
        except DomainError as exc:
            if exc.status == 404:
                raise
            errors, status = domain_errors(exc), exc.status
        else:
            flash(f"已受理您的异议 {o.objection_no}；征信机构核查处理前不予发证，处理结果将在本页显示。", "success")
            return redirect(url_for("certificates_web.notice", certificate_no=certificate_no))
    return _render_notice(certificate_no, form, errors, status)


@bp.get("/certificates/verify")
def verify_form() -> str:
    """The check form (a number typed in goes to ``/verify/{no}``)."""
    return render_template("certificates/verify.html", result=None, number="", digest=None, error=None)


# --- the firm --------------------------------------------------------------------------------------

def _render_mine(errors: Errors | None = None, status: int = 200) -> tuple[str, int]:
    user = require_firm()
    session = db_session()
    assert user.enterprise_id is not None
    page = services.list_certificates(session, page=page_no(), per_page=20, enterprise_id=user.enterprise_id)
    today = clock.today()
    ev = services.evaluation_in_force(session, user.enterprise_id, today)
    held = services.current_certificate(session, user.enterprise_id, today)
    renew_from = held.valid_until - dt.timedelta(days=services.RENEWAL_DAYS) \
        if held is not None and held.status == CertificateStatus.issued and held.valid_until else None
    under_way = services.list_certificates(session, page=1, per_page=1, enterprise_id=user.enterprise_id,
                                           status=CertificateStatus.applied).items \
        or services.list_certificates(session, page=1, per_page=1, enterprise_id=user.enterprise_id,
                                      status=CertificateStatus.publicized).items
    return render_template("certificates/mine.html", page=page, errors=errors or {}, evaluation=ev,
                           rules=current_rules().describe(), today=today, held=held, renew_from=renew_from,
                           under_way=under_way[0] if under_way else None), status


@bp.get("/me/certificates")
def my_certificates() -> Any:
    return _render_mine()


@bp.post("/me/certificates")
def apply() -> Any:
    user = require_firm()
    form = _form()
    data, errors = load_form(schemas.CertificateApplySchema(), {"declaration": form.get("declaration") == "yes"})
    status = 422
    if data is not None:
        try:
            cert = services.apply(db_session(), user, request_id=g.get("request_id"))
        except DomainError as exc:
            errors, status = domain_errors(exc), exc.status
        else:
            flash(f"已受理申报 {cert.certificate_no}；征信机构评价后，符合条件的将公示 {current_rules().notice_days} 天。",
                  "success")
            return redirect(url_for("certificates_web.my_certificate", certificate_no=cert.certificate_no))
    return _render_mine(errors, status)


def _render_my_certificate(number: str, errors: Errors | None = None, status: int = 200) -> tuple[str, int]:
    user = require_firm()
    cert = services.certificate_for(db_session(), user, number)
    return render_template("certificates/certificate.html", console=False, errors=errors or {}, form={},
                           **_view(cert)), status


@bp.get("/me/certificates/<string:certificate_no>")
def my_certificate(certificate_no: str) -> Any:
    return _render_my_certificate(certificate_no)


@bp.post("/me/certificates/<string:certificate_no>/withdraw")
def withdraw(certificate_no: str) -> Any:
    user = require_firm()
    form = _form()
    data, errors = load_form(schemas.CertificateWithdrawSchema(), filled(form, ("reason",)))
    status = 422
    if data is not None:
        try:
            services.withdraw(db_session(), user, certificate_no, data["reason"], request_id=g.get("request_id"))
        except DomainError as exc:
            if exc.status == 404:
                raise
            errors, status = domain_errors(exc), exc.status
        else:
            flash(f"已撤回申报 {certificate_no}。", "success")
            return redirect(url_for("certificates_web.my_certificate", certificate_no=certificate_no))
    return _render_my_certificate(certificate_no, errors, status)


# --- operators ---------------------------------------------------------------------------------------

@bp.get("/console/certificates")
def console() -> str:
    require_user(Role.operator)
    session = db_session()
    status = request.args.get("status") if request.args.get("status") in QUEUE else None
    q = (request.args.get("q") or "").strip()[:50] or None
    if status is None and q is None:
        status = "applied"  # the queue starts with the applications waiting for their evaluation
    page = services.list_certificates(session, page=page_no(), per_page=20, status=status, q=q)
    objections = services.list_objections(session, require_user(Role.operator), status="open", page=1, per_page=50)
    return render_template("certificates/console.html", page=page, status=status,
                           q=q or "", counts=services.counts_by_status(session), queue=QUEUE,
                           objections=[(o, services.certificate_of(session, o)) for o in objections.items],
                           open_total=objections.total, now=clock.now(), rules=current_rules().describe(),
                           daily_run=_daily_run())


def _render_console_certificate(number: str, errors: Errors | None = None, form: dict[str, Any] | None = None,
                                status: int = 200) -> tuple[str, int]:
    require_user(Role.operator)
    cert = services.get_certificate(db_session(), number)
    return render_template("certificates/certificate.html", console=True, errors=errors or {}, form=form or {},
                           actions=ACTIONS, **_view(cert)), status


@bp.get("/console/certificates/<string:certificate_no>")
def console_certificate(certificate_no: str) -> Any:
    return _render_console_certificate(certificate_no)


@bp.post("/console/certificates/<string:certificate_no>/<string:action>")
def console_action(certificate_no: str, action: str) -> Any:
    user = require_user(Role.operator)
    if action not in ACTIONS:
        raise services.CertificateNotFound(f"没有名为 {action} 的证书操作")
    form = _form()
    schema: Any = schemas.CertificateReasonSchema() if action in ("suspend", "revoke", "restore") \
        else schemas.CertificateNoteSchema()
    data, errors = load_form(schema, filled(form, ("reason",) if action in ("suspend", "revoke", "restore") else ("note",)))
    status = 422
    if data is not None:
        session = db_session()
        rid = g.get("request_id")
        try:
            if action == "evaluate":
                cert = services.evaluate(session, certificate_no, services.actor_of(user), note=data["note"],
                                         request_id=rid)
            elif action == "issue":
                cert = services.issue(session, signing_keys(), certificate_no, services.actor_of(user),
                                      note=data["note"], request_id=rid)
            else:
                act = {"suspend": services.suspend, "revoke": services.revoke, "restore": services.restore}[action]
                cert = act(session, user, certificate_no, data["reason"], request_id=rid)
        except DomainError as exc:
            if exc.status == 404:
                raise
            errors, status = domain_errors(exc), exc.status
        else:
            flash(f"证书 {certificate_no}：{ACTIONS[action]}完成，当前状态「{CERTIFICATE_STATUS_LABELS[cert.status]}」"
                  + (f"（{cert.status_reason}）" if cert.status_reason and cert.status in ("rejected",) else "") + "。",
                  "success")
            return redirect(url_for("certificates_web.console_certificate", certificate_no=certificate_no))
    return _render_console_certificate(certificate_no, {f"{action}.{k}": v for k, v in errors.items()},
                                       {f"{action}.{k}": v for k, v in form.items()}, status)


@bp.post("/console/certificate-objections/<string:objection_no>/resolve")
def console_resolve(objection_no: str) -> Any:
    user = require_user(Role.operator)
    session = db_session()
    objection = services.get_objection(session, objection_no)
    number = services.certificate_of(session, objection).certificate_no
    form = _form()
    data, errors = load_form(schemas.CertificateResolveSchema(), filled(form, ("outcome", "resolution")))
    status = 422
    if data is not None:
        try:
            services.resolve_objection(session, user, objection_no, data["outcome"], data["resolution"],
                                       request_id=g.get("request_id"))
        except DomainError as exc:
            if exc.status == 404:
                raise
            errors, status = domain_errors(exc), exc.status
        else:
            flash(f"异议 {objection_no} 已处理：{schemas.OBJECTION_STATUS_LABELS[data['outcome']]}。", "success")
            return redirect(url_for("certificates_web.console_certificate", certificate_no=number))
    return _render_console_certificate(number, {f"{objection_no}.{k}": v for k, v in errors.items()},
                                       {f"{objection_no}.{k}": v for k, v in form.items()}, status)
