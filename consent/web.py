"""Consent pages: the consent screen of the authorization-code flow (``/oauth/authorize``)
and the firm's consent page (list, pause/resume/revoke, approve/reject pending requests,
grant one for a bank that asked offline, the query log); banks and operators see theirs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from authlib.oauth2 import OAuth2Error
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from marshmallow import ValidationError

from app.accounts.auth import explain_sign_in, require_user
from app.accounts.models import ROLE_LABELS, Institution, InstitutionKind, Role, User
from app.accounts.services import find_institution
from app.archive.models import Enterprise
from app.archive.services import get_enterprise
from app.audit.services import Pending, refuse_later
from app.core.errors import DomainError, flatten_messages
from app.core.extensions import db_session, signing_keys, writes
from app.core.forms import page_no
from app.oauth.scopes import REPORT_SECTIONS
from app.oauth.server import authorization
from consent import schemas, services
from consent.models import (
    FETCH_TYPE_LABELS,
    FETCH_TYPE_MEANINGS,
    PURPOSE_LABELS,
    STATUS_LABELS,
    UNIT_LABELS,
    Consent,
    ConsentStatus,
    FetchType,
    PeriodUnit,
    Purpose,
    counterpart_label,
    counterparts_label,
    licence_label,
    purposes_for,
    terms_for,
)

bp = Blueprint("consent_web", __name__, template_folder="templates")  # its pages beside it
T = TypeVar("T")


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {"PURPOSE_LABELS": {str(k): v for k, v in PURPOSE_LABELS.items()},
            "CONSENT_STATUS_LABELS": {str(k): v for k, v in STATUS_LABELS.items()},
            "UNIT_LABELS": {str(k): v for k, v in UNIT_LABELS.items()},
            "REPORT_SECTIONS": REPORT_SECTIONS,
            "counterpart_label": counterpart_label, "licence_label": licence_label}


def _refusal_page(status: int, title: str, detail: str, code: str, consent_id: str | None = None,
                  description: str | None = None, switch_account: bool = False) -> tuple[str, int]:
    refuse_later(db_session(), Pending(actor=f"user:{current_user.id}" if current_user.is_authenticated else
                                       f"ip:{request.remote_addr}", action="oauth.authorize", code=code,
                                       subject_type="consent" if consent_id else None, subject_id=consent_id,
                                       detail={"client_id": request.values.get("client_id"),
                                               "redirect_uri": request.values.get("redirect_uri"),
                                               **({"description": description} if description else {})},
                                       request_id=g.get("request_id")))
    problem = {"status": status, "title": title, "detail": detail, "code": code, "request_id": g.get("request_id")}
    return render_template("error.html", problem=problem,
                           switch_account=request.full_path if switch_account else None), status


def authorize_error_text(error: OAuth2Error) -> str:
    """What the person on the consent screen reads when the bank's link itself is wrong (in
    Chinese; authlib's English description stays in the audit log)."""
    description = error.description or ""
    if error.error == "invalid_client":
        text = "发起请求的金融机构客户端不存在或已停用。"
    elif "redirect" in description.lower():
        text = "请求中的回调地址（redirect_uri）未在该金融机构客户端登记，为安全起见不会跳转。"
    elif "code_challenge" in description:
        text = "请求未按要求使用 PKCE（code_challenge，方法 S256）。"
    elif error.error == "unsupported_response_type":
        text = "不支持该 response_type：只支持授权码（code）。"
    else:
        text = "授权请求的参数不完整或有误。"
    return f"{text}请联系发起请求的金融机构（错误代码 {error.error}）。"


@bp.route("/oauth/authorize", methods=["GET", "POST"])
@writes  # a refused request redirected to the client (302) is audited in the request's own transaction
def authorize() -> Any:
    """The consent screen: the firm's administrator reads what the bank asks for and
    approves or rejects it; the bank gets a code (PKCE S256) bound to the consent."""
    if not current_user.is_authenticated:
        # Said on the sign-in page, so that a firm sent here by a bank's link knows why it is
        # asked to sign in (the institution named from the client's registration, never the URL).
        # Named only for a link that names a consent this client asked for (and is waiting).
        asked = services.waiting_request(db_session(), request.args.get("client_id"), request.args.get("consent_id"))
        institution = asked.institution if asked is not None else None
        explain_sign_in(request.full_path, f"「{institution.name if institution else '一家机构'}」请求您的企业授权，"
                        "以查询本企业的信用信息。请以企业账号登录：登录后会列出申请查询的内容、数据范围与期限，"
                        "由您决定同意或拒绝。")
        return redirect(url_for("accounts.login", next=request.full_path))
    user: User = current_user._get_current_object()
    try:
        grant = authorization.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        if error.redirect_uri:  # the redirect URI was verified: tell the client there (RFC 6749 §4.1.2.1)
            refuse_later(db_session(), Pending(actor=f"user:{user.id}", action="oauth.authorize", code=error.error,
                                               detail={"description": error.description},
                                               request_id=g.get("request_id")))
            return authorization.handle_error_response(request, error)
        # Unknown client or a redirect URI not registered exactly: never redirect there.
        return _refusal_page(400, "授权请求无效", authorize_error_text(error), error.error,
                             description=error.description)
    consent = grant.request.pc_consent
    if user.role != Role.firm:
        # A bank officer or an operator opened the firm's link: say whose account it needs and
        # offer to sign out and in again (which firm is asked is not said).
        return _refusal_page(403, "须以企业账号处理", f"您当前以「{user.display_name}（{ROLE_LABELS[user.role]}）」登录。"
                             "授权请求须由被查询企业的账号处理：请退出后以企业账号登录。", "firm_account_required",
                             consent.consent_id, switch_account=True)
    if user.enterprise_id != consent.enterprise_id:
        # Not this firm's request: as if it did not exist (another party's consent is not disclosed).
        return _refusal_page(404, "授权请求不存在", "没有找到需要您处理的授权请求。", "tenancy_denied",
                             consent.consent_id)
    if consent.status != ConsentStatus.pending:
        return _refusal_page(409, "授权请求已处理", f"该授权请求当前为「{STATUS_LABELS[consent.status]}」。",
                             "consent_state_conflict", consent.consent_id)
    if request.method == "GET":
        return render_template("consent/screen.html", consent=consent, client=grant.client)
    session = db_session()
    decision = request.form.get("decision")
    if decision == "approve":
        services.grant_consent(session, signing_keys(), user, consent=consent, request_id=g.get("request_id"))
        return authorization.create_authorization_response(grant_user=user, grant=grant)
    if decision == "reject":
        services.reject_consent(session, consent, user, request.form.get("reason") or None, g.get("request_id"))
        return authorization.create_authorization_response(grant_user=None, grant=grant)
    return render_template("consent/screen.html", consent=consent, client=grant.client,
                           error="请选择“同意”或“拒绝”。"), 422


def _actor() -> services.Actor:
    return services.Actor(user=require_user())


@bp.get("/consents")
def consents() -> str:
    actor = _actor()
    session = db_session()
    status = request.args.get("status") or None
    if status not in {None, *[str(s) for s in ConsentStatus]}:
        status = None
    is_firm = actor.user is not None and actor.user.role == Role.firm
    page = services.list_consents(session, actor, status, page_no(), 20, waiting_first=is_firm)
    log = services.query_log(session, actor, 1, 20)
    return render_template("consent/list.html", page=page, log=log, status=status, statuses=list(ConsentStatus),
                           uses=services.recent_uses(session, [c.id for c in page.items]),
                           counterparts=counterparts_label(c.institution.kind for c in page.items),
                           is_firm=is_firm, is_bank=actor.user is not None and actor.user.role == Role.bank,
                           # a bank's, a group's or a tenderer's own: every row names it, so no column does
                           own_institution=(actor.user.institution if actor.user is not None
                                            and actor.user.role != Role.firm else None))


@bp.get("/consents/<string:consent_id>")
def consent_detail(consent_id: str) -> str:
    """One consent as its parties see it: every term (data range, validity, frequency, how
    long the institution may keep the data), the accesses made under it (a page of them:
    what was served, screening and report numbers included) and its history. Another
    party's is a 404."""
    actor = _actor()
    session = db_session()
    consent = services.get_consent(session, consent_id, actor)
    events = services.consent_events(session, consent)
    uses = services.query_log(session, actor, page_no(), 20, consent_pk=consent.id)
    return render_template("consent/detail.html", consent=consent, events=events, uses=uses,
                           actors=_event_actors(session, [e.actor for e in events]),
                           is_firm=actor.user is not None and actor.user.role == Role.firm)


def _event_actors(session: Any, actors: list[str]) -> dict[str, str]:
    """Consent events name users by id (``user:7``) and bank systems by client id."""
    ids = {int(a[5:]) for a in actors if a.startswith("user:") and a[5:].isdigit()}
    users = {u.id: u for u in session.scalars(sa.select(User).where(User.id.in_(ids)))} if ids else {}
    out = {}
    for a in actors:
        user = users.get(int(a[5:])) if a.startswith("user:") and a[5:].isdigit() else None
        out[a] = (f"{user.display_name}（{ROLE_LABELS[user.role]}）" if user is not None
                  else "机构系统（接口）" if a.startswith("client:") else "平台")
    return out


@bp.post("/consents/<string:consent_id>/<string:action>")
def consent_action(consent_id: str, action: str) -> Any:
    user = require_user(Role.firm)
    session = db_session()
    if action not in {"approve", "reject", *services.FIRM_TRANSITIONS}:
        flash("不支持的操作。", "error")
        return redirect(url_for("consent_web.consents"))
    reason = (request.form.get("reason") or "").strip()[:500] or None
    back = (url_for("consent_web.consent_detail", consent_id=consent_id) if request.form.get("back") == "detail"
            else url_for("consent_web.consents"))
    try:
        consent = services.get_consent(session, consent_id, services.Actor(user=user))
        services.firm_decides(session, signing_keys(), user, consent, action, reason, g.get("request_id"))
    except DomainError as exc:
        session.rollback()
        refuse_later(session, Pending(actor=f"user:{user.id}", action=f"consent.{action}", code=exc.code,
                                      subject_type="consent", subject_id=consent_id, request_id=g.get("request_id")))
        flash(exc.detail, "error")
        return redirect(back)
    flash(f"已{services.ACTION_LABELS[action]}对「{consent.institution.name}」的授权。", "success")
    return redirect(back)


def _terms_form_to_body(form: dict[str, Any], party: str) -> dict[str, Any]:
    """A terms form (the firm's grant, the officer's request) as the API's JSON body;
    ``party`` is the other side's field (``institution`` or ``uscc``)."""
    # A field left empty is missing (缺少必填字段：…, naming it), not a malformed value.
    def given(**values: Any) -> dict[str, Any]:
        return {k: v for k, v in values.items() if v not in (None, "")}

    body: dict[str, Any] = {
        party: form.get(party, ""), **given(purpose=form.get("purpose")),
        "scopes": request.form.getlist("scopes"),
        "data_range": given(**{"from": form.get("data_from"), "to": form.get("data_to")}),
        **given(valid_until=form.get("valid_until"), fetch_type=form.get("fetch_type")),
        "data_life": given(unit=form.get("data_life_unit"), value=form.get("data_life_value")),
    }
    if form.get("fetch_type") == FetchType.periodic:
        body["frequency"] = given(unit=form.get("frequency_unit"), value=form.get("frequency_value"))
    return body


_FORM_DEFAULTS = {"data_life_unit": "year", "data_life_value": "1", "purpose": "loan_application"}


def _attempt(action: Callable[[], T], audit_as: str, actor: User) -> tuple[T | None, dict[str, list[str]]]:
    """Run a form's action; bad input and refusals become the errors shown under the fields,
    and a refusal is audited (``audit_as``) after the request's rollback, as the API's are."""
    try:
        return action(), {}
    except ValidationError as exc:
        return None, flatten_messages(exc.messages)
    except DomainError as exc:
        refuse_later(db_session(), Pending(actor=f"user:{actor.id}", action=audit_as, code=exc.code,
                                           subject_type="enterprise" if "uscc" in request.form else "institution",
                                           subject_id=request.form.get("uscc") or request.form.get("institution"),
                                           request_id=g.get("request_id")))
        return None, dict(exc.errors or {"_schema": [exc.detail]})


def _terms_page(template: str, form: dict[str, Any], errors: dict[str, list[str]],
                purposes: Sequence[Purpose], **context: Any) -> Any:
    """A terms form again, the errors under their fields (422) or new (200); ``purposes``
    are those the institution on the other side may hold (``purposes_for`` its kind).  A new
    form offers the sections those purposes may cover, ticks those the chosen purpose reads
    and fetches as it is used (``terms_for``), and says why."""
    errors = {k.replace("data_range.from", "data_from").replace("data_range.to", "data_to")
              .replace("frequency.", "frequency_").replace("data_life.", "data_life_"): v for k, v in errors.items()}
    if form.get("purpose") not in purposes and not errors:
        form["purpose"] = str(purposes[0])
    if request.method == "POST":
        chosen = set(request.form.getlist("scopes"))
    else:
        usual = terms_for(form["purpose"])
        chosen = set(usual.needed)
        form.setdefault("fetch_type", str(usual.fetch_type))
        if usual.frequency is not None:
            form.setdefault("frequency_unit", str(usual.frequency[0]))
            form.setdefault("frequency_value", str(usual.frequency[1]))
    offered = {s for p in purposes for s in terms_for(p).offered}
    return render_template(template, form=form, errors=errors, purposes=list(purposes), units=list(PeriodUnit),
                           chosen=chosen, sections=[(k, v) for k, v in REPORT_SECTIONS.items() if k in offered],
                           guide={"sections": _guide(purposes, "why"), "fetch": _guide(purposes, "fetch_why")},
                           fetch_types=[(str(t), FETCH_TYPE_LABELS[t], FETCH_TYPE_MEANINGS[t])
                                                                for t in FetchType],
                           **context), 422 if errors else 200


def _guide(purposes: Sequence[Purpose], attr: str) -> list[tuple[str, str]]:
    """What the form says per purpose (``attr`` of its ``terms_for``: ``why`` of the
    sections, ``fetch_why`` of the fetching): purposes saying the same share one line, named
    together — unnamed when all of them say it."""
    lines: dict[str, list[Purpose]] = {}
    for p in purposes:
        lines.setdefault(getattr(terms_for(p), attr), []).append(p)
    return [("、".join(PURPOSE_LABELS[p] for p in alike) if len(lines) > 1 else "", text)
            for text, alike in lines.items()]


def _by_counterpart(institutions: list[Institution]) -> list[tuple[str, list[Institution]]]:
    """Institutions grouped by what the firm calls them (金融机构, 电力集团, 招标采购单位), in
    that order, for the grant page's choice."""
    groups: dict[str, list[Institution]] = {}
    for inst in sorted(institutions, key=lambda i: (i.kind in (InstitutionKind.group, InstitutionKind.procurement),
                                                    i.kind == InstitutionKind.procurement)):
        groups.setdefault(counterpart_label(inst.kind), []).append(inst)
    return list(groups.items())


@bp.route("/consents/grant", methods=["GET", "POST"])
def grant() -> Any:
    """The firm grants a consent itself, for an institution that asked offline (same schema
    and service as the API).  First the institution (``?institution=``), then the terms
    with only the purposes an institution of its kind may hold; the service refuses any
    other (a 422 under 用途)."""
    user = require_user(Role.firm)
    session = db_session()
    assert user.enterprise_id is not None  # a firm's administrator
    institutions = services.grantable_institutions(session, user.enterprise_id)
    form: dict[str, Any] = request.form.to_dict() if request.method == "POST" else {
        **_FORM_DEFAULTS, "institution": request.args.get("institution", "")[:64]}
    chosen = next((i for i in institutions if i.licence_no == form.get("institution")), None)
    # A power group the firm is not in is not offered; named all the same, the service
    # refuses it as the API does (a 422 under 授权对象, audited).
    other = find_institution(session, form["institution"]) if chosen is None and form.get("institution") else None
    foreign_group = other if other is not None and other.active and other.kind == InstitutionKind.group else None
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        def grant_it() -> tuple[Consent, Institution]:
            data = schemas.FirmGrantSchema().load(_terms_form_to_body(form, "institution"))
            target = chosen or foreign_group
            if target is None:
                raise ValidationError({"institution": ["请选择授权对象（金融机构、电力集团或招标采购单位）。"]})
            return services.grant_consent(session, signing_keys(), user, institution=target, terms=data["terms"],
                                          via="firm", request_id=g.get("request_id"), offered_only=True), target

        done, errors = _attempt(grant_it, "consent.grant", user)
        if done is not None:
            flash(f"已授权「{done[1].name}」，授权编号 {done[0].consent_id}。", "success")
            return redirect(url_for("consent_web.consents"))
    elif form["institution"] and chosen is None:
        errors = {"institution": [
            f"本企业不是「{foreign_group.name}」的子公司：集团信用管理只能授予本企业所属的电力集团。请重新选择。"
            if foreign_group is not None else "没有该机构，或该机构已停用：请重新选择。"]}
    return _terms_page("consent/grant.html", form, errors, purposes_for(chosen.kind) if chosen else list(Purpose),
                       institutions=_by_counterpart(institutions), institution=chosen)


@bp.route("/consents/request", methods=["GET", "POST"])
def request_consent() -> Any:
    """A bank officer asks a firm for a consent (same schema and service as the bank
    system's ``POST /api/v1/consents``): the firm is notified and approves or rejects it on
    its consents page.  A power group's credit manager asks its subsidiaries so, for
    集团信用管理."""
    user = require_user(Role.bank, Role.group)
    session = db_session()
    form: dict[str, Any] = request.form.to_dict() if request.method == "POST" else {
        **_FORM_DEFAULTS, "uscc": request.args.get("uscc", "")[:18]}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        def request_it() -> tuple[Consent, Enterprise]:
            data = schemas.ConsentRequestSchema().load(_terms_form_to_body(form, "uscc"))
            try:
                ent = get_enterprise(session, data["uscc"])
            except DomainError as exc:
                raise ValidationError({"uscc": [exc.detail]}) from exc
            return services.request_consent(session, user, ent, data["terms"], g.get("request_id"),
                                            offered_only=True), ent

        done, errors = _attempt(request_it, "consent.request", user)
        if done is not None:
            flash(f"已向「{done[1].name}」发出授权申请（授权编号 {done[0].consent_id}），企业同意后即可查询。", "success")
            return redirect(url_for("consent_web.consents", status="PENDING"))
    assert user.institution is not None  # a bank officer or a group's credit manager
    return _terms_page("consent/request.html", form, errors, purposes_for(user.institution.kind),
                       institution=user.institution)
