"""信易贷 pages: the public product pool and statistics; a firm's matches, its application
screen (which states the consent applying grants), its applications and offers; a bank's
products (create, edit, publish, pause), the applications it received (reviewed with a
report pulled under the application's consent), its 主动授信 list and the offers it sent.

Forms are parsed with the same marshmallow schemas as the API and call the same services;
errors are shown next to their field with what the user typed kept."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from app.accounts.auth import require_firm, require_user
from app.accounts.models import Role, User
from app.accounts.services import actor_labels
from app.archive.models import SEGMENT_LABELS, Segment
from app.archive.regions import PROVINCES
from app.core import clock
from app.core.errors import DomainError
from app.core.extensions import db_session, settings, signing_keys, writes
from app.core.forms import Errors, domain_errors, filled, load_form, page_no
from app.oauth.scopes import REPORT_SECTIONS
from app.scoring.scorecard import GRADES
from consent.models import PURPOSE_LABELS, UNIT_LABELS
from marketplace import applications, offers, schemas, services, stats
from marketplace.models import (
    APPLICATION_STATUS_LABELS,
    COLLATERAL_LABELS,
    OFFER_STATUS_LABELS,
    PRODUCT_STATUS_LABELS,
    PRODUCT_TRANSITIONS,
    PRODUCT_TYPE_LABELS,
    REPAYMENT_LABELS,
    ApplicationStatus,
    Collateral,
    OfferStatus,
    Product,
    ProductStatus,
    ProductType,
    Repayment,
)
from marketplace.rules import TAX_GRADE_ORDER
from reports import services as report_services

bp = Blueprint("marketplace_web", __name__, template_folder="templates")  # its pages beside it

PRODUCT_LISTS = ("repayment_methods", "segments", "provinces")
PRODUCT_FIELDS = ("name", "type", "description", "min_grade", "amount_min", "amount_max", "rate_min", "rate_max",
                  "term_min", "term_max", "min_years_in_business", "collateral", "deadline")
TERM_KEYS = ("rate_discount", "deposit_ratio")
STATUS_ACTIONS = {ProductStatus.live: "上架", ProductStatus.paused: "暂停", ProductStatus.closed: "下架"}


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {
        "PRODUCT_TYPE_LABELS": {str(k): v for k, v in PRODUCT_TYPE_LABELS.items()},
        "PRODUCT_STATUS_LABELS": {str(k): v for k, v in PRODUCT_STATUS_LABELS.items()},
        "REPAYMENT_LABELS": {str(k): v for k, v in REPAYMENT_LABELS.items()},
        "COLLATERAL_LABELS": {str(k): v for k, v in COLLATERAL_LABELS.items()},
        "APPLICATION_STATUS_LABELS": {str(k): v for k, v in APPLICATION_STATUS_LABELS.items()},
        "OFFER_STATUS_LABELS": {str(k): v for k, v in OFFER_STATUS_LABELS.items()},
    }


# --- form plumbing -----------------------------------------------------------------------------

def _form() -> dict[str, Any]:
    """What the user typed: single fields as strings, repeated ones (checkboxes) as lists."""
    form: MultiDict[str, str] = request.form
    out: dict[str, Any] = {k: v.strip() for k, v in form.items() if k != "csrf_token"}
    for key in PRODUCT_LISTS:
        out[key] = form.getlist(key)
    return out


def _viewer() -> User | None:
    return current_user._get_current_object() if current_user.is_authenticated else None  # type: ignore[no-any-return]


def _cap() -> Any:
    s = settings()
    return services.rate_cap(s.lpr_1y, s.rate_cap_multiple)


# --- the public product pool ---------------------------------------------------------------------

@bp.get("/products")
def products() -> Any:
    args, errors = load_form(schemas.ProductListArgs(), {k: v for k, v in request.args.items() if v != "" and k != "mine"})
    page = services.list_products(db_session(), args) if args is not None else None
    return render_template("marketplace/products.html", page=page, args=request.args, errors=errors,
                           types=list(ProductType), segments=list(Segment), grades=GRADES), 422 if errors else 200


@bp.get("/products/<string:product_no>")
def product(product_no: str) -> str:
    session = db_session()
    viewer = _viewer()
    item = services.get_product(session, product_no, viewer)
    assessment = None
    if viewer is not None and viewer.role == Role.firm and viewer.enterprise is not None:
        assessment = services.assess_for_firm(session, viewer.enterprise, item)
    own = viewer is not None and viewer.role == Role.bank and viewer.institution_id == item.institution_id
    return render_template("marketplace/product.html", product=item, assessment=assessment, own=own,
                           transitions=_transitions(item) if own else [])


# --- the firm's side ------------------------------------------------------------------------------

@bp.get("/me/marketplace")
def my_marketplace() -> str:
    user = require_firm()
    assert user.enterprise is not None
    session = db_session()
    facts, matches, near = services.products_for_firm(session, user.enterprise)
    return render_template("marketplace/mine.html", facts=facts, matches=matches, near=near,
                           discoverable=services.is_discoverable(session, user.enterprise.id),
                           open_apps=applications.open_applications(session, user.enterprise.id))


@bp.post("/me/marketplace/discoverable")
def set_discoverable() -> Any:
    user = require_firm()
    on = request.form.get("discoverable") == "true"
    services.set_discoverable(db_session(), user, on)
    flash("已开启：金融机构可在主动授信名单中看到本企业。" if on else "已关闭：金融机构的主动授信名单中不再出现本企业。",
          "success")
    return redirect(url_for("marketplace_web.my_marketplace"))


def _consent_notice(item: Product) -> dict[str, Any]:
    """What applying grants the bank, in the words the application screen shows."""
    terms = applications.consent_terms(clock.now())
    return {"institution": item.institution.name, "purpose": PURPOSE_LABELS[terms.purpose],
            "sections": [REPORT_SECTIONS[s] for s in terms.scopes], "days": applications.CONSENT_DAYS,
            "valid_until": terms.valid_until.astimezone(clock.BEIJING).date(),
            "frequency": f"每{UNIT_LABELS[terms.frequency_unit]}最多 {terms.frequency_value} 次"
            if terms.frequency_unit else "一次",
            "data_range": (terms.data_from, terms.data_to),
            "data_life": f"{terms.data_life_value} {UNIT_LABELS[terms.data_life_unit]}"}


@bp.route("/products/<string:product_no>/apply", methods=["GET", "POST"])
def apply(product_no: str) -> Any:
    user = require_firm()
    assert user.enterprise is not None
    session = db_session()
    item = services.get_product(session, product_no, user)
    form: dict[str, Any] = _form() if request.method == "POST" else {"term_months": str(min(12, item.term_max))}
    errors: Errors = {}
    status = 200
    if request.method == "POST":
        status = 422
        if form.get("agree") != "yes":
            errors["agree"] = ["请阅读并勾选同意上述授权后再提交。"]
        data, field_errors = load_form(schemas.ApplicationInSchema(),
                                   {"product_no": product_no, **filled(form, ("amount", "term_months", "purpose"))})
        errors.update(field_errors)
        if data is not None and not errors:
            try:
                app = applications.apply(session, signing_keys(), user, product_no, data["amount"],
                                         data["term_months"], data["purpose"], g.get("request_id"))
            except DomainError as exc:
                errors, status = domain_errors(exc), exc.status
            else:
                flash(f"已提交申请 {app.application_no}；已授权「{item.institution.name}」在 "
                      f"{applications.CONSENT_DAYS} 日内查询本企业信用报告（授权编号 {app.consent.consent_id}）。",
                      "success")
                return redirect(url_for("marketplace_web.application", application_no=app.application_no))
        item = services.get_product(session, product_no, user)  # after a rollback
    assessment = services.assess_for_firm(session, user.enterprise, item)
    return render_template("marketplace/apply.html", product=item, assessment=assessment, form=form,
                           errors=errors, notice=_consent_notice(item),
                           open_application=applications.open_applications(session, user.enterprise.id).get(item.id)
                           ), status


# --- applications (both sides) ---------------------------------------------------------------------

@bp.get("/applications")
def application_list() -> str:
    user = require_user()
    status = request.args.get("status") or None
    if status not in {None, *map(str, ApplicationStatus)}:
        status = None
    page = applications.list_applications(db_session(), user, status, page_no(), 20)
    return render_template("marketplace/applications.html", page=page, status=status,
                           statuses=list(ApplicationStatus))


def _render_application(no: str, errors: Errors | None = None, form: dict[str, Any] | None = None,
                        status: int = 200) -> tuple[str, int]:
    session = db_session()
    user = require_user()
    app = applications.get_application(session, user, no)
    steps = [(action, step) for action, step in applications.STEPS.items()
             if step.party == user.role and app.status in step.sources]
    pulled = applications.reports_for(session, user, app)
    shown = None
    if pulled and status < 400:
        latest = pulled[0]
        report_services.read_pulled(session, latest.report_no,
                                    report_services.Reader(app.institution_id, f"user:{user.username}"), "html",
                                    g.get("request_id"))
        shown = report_services.document(latest)
    can_pull = user.role == Role.bank and app.status not in applications.CLOSED
    defaults = {"offered_amount": str(app.amount), "offered_rate": str(app.product.rate_min),
                "offered_term_months": str(app.term_months),
                "disbursed_amount": str(app.offered_amount or ""), "disbursed_on": clock.today().isoformat()}
    events = applications.timeline(session, app)
    return render_template("marketplace/application.html", app=app, events=events,
                           actors=actor_labels(session, (e.actor for e in events)),
                           steps=steps, pulled=pulled, report=shown, can_pull=can_pull,
                           errors=errors or {}, form={**defaults, **(form or {})},
                           consent=app.consent), status


@bp.get("/applications/<string:application_no>")
@writes
def application(application_no: str) -> Any:
    return _render_application(application_no)


STEP_FIELDS = {"approve": ("offered_amount", "offered_rate", "offered_term_months"), "reject": ("reason",),
               "decline": ("reason",), "withdraw": ("reason",), "disburse": ("disbursed_amount", "disbursed_on")}
STEP_DONE = {"review": "已开始审核", "approve": "已批准", "reject": "已拒绝", "accept": "已接受批准条件",
             "decline": "已放弃", "disburse": "已登记放款", "withdraw": "已撤回申请"}


@bp.post("/applications/<string:application_no>/step/<string:action>")
def application_step(application_no: str, action: str) -> Any:
    user = require_user()
    form = _form()
    data, errors = load_form(schemas.StepSchema(), filled(form, STEP_FIELDS.get(action, ())))
    status = 422
    if data is not None:
        try:
            applications.take_step(db_session(), user, application_no, action, data, g.get("request_id"))
        except DomainError as exc:
            if exc.status == 404:
                raise
            errors, status = domain_errors(exc), exc.status
        else:
            flash(f"申请 {application_no} {STEP_DONE.get(action, '已更新')}。", "success")
            return redirect(url_for("marketplace_web.application", application_no=application_no))
    errors = {k if k == "_schema" else f"{action}.{k}": v for k, v in errors.items()}
    return _render_application(application_no, errors, {f"{action}.{k}": v for k, v in form.items()}, status)


@bp.post("/applications/<string:application_no>/report")
def application_report(application_no: str) -> Any:
    user = require_user(Role.bank)
    session = db_session()
    try:
        report = applications.pull_report_for(session, signing_keys(), user, application_no, g.get("request_id"))
    except DomainError as exc:
        if exc.status == 404:
            raise
        flash(f"未能获取报告：{exc.detail}", "error")
        domain_errors(exc)
    else:
        flash(f"已按授权获取信用报告 {report.report_no}（已计入授权使用次数并写入企业可见的查询记录）。", "success")
    return redirect(url_for("marketplace_web.application", application_no=application_no) + "#report")


# --- offers (both sides) ----------------------------------------------------------------------------

@bp.get("/offers")
@writes
def offer_list() -> str:
    user = require_user()
    status = request.args.get("status") or None
    if status not in {None, *map(str, OfferStatus)}:
        status = None
    page = offers.list_offers(db_session(), user, status, page_no(), 20)
    return render_template("marketplace/offers.html", page=page, status=status, statuses=list(OfferStatus))


def _render_offer(no: str, errors: Errors | None = None, form: dict[str, Any] | None = None,
                  status: int = 200) -> tuple[str, int]:
    user = require_user()
    offer = offers.get_offer(db_session(), user, no)
    return render_template("marketplace/offer.html", offer=offer, errors=errors or {}, form=form or {},
                           notice=_consent_notice(offer.product) if user.role == Role.firm else None), status


@bp.get("/offers/<string:offer_no>")
@writes
def offer(offer_no: str) -> Any:
    return _render_offer(offer_no)


@bp.post("/offers/<string:offer_no>/<string:action>")
def offer_reply(offer_no: str, action: str) -> Any:
    user = require_user()
    form = _form()
    if action == "accept" and form.get("agree") != "yes":
        return _render_offer(offer_no, {"agree": ["请阅读并勾选同意上述授权后再接受。"]}, form, 422)
    data, errors = load_form(schemas.OfferReplySchema(), filled(form, ("purpose",)) if action == "accept" else {})
    status = 422
    if data is not None:
        try:
            _, app = offers.respond(db_session(), signing_keys(), user, offer_no, action, data.get("purpose"),
                                    g.get("request_id"))
        except DomainError as exc:
            if exc.status == 404:
                raise
            errors, status = domain_errors(exc), exc.status
        else:
            if app is not None:
                flash(f"已接受邀约，申请 {app.application_no} 已按邀约条件批准。", "success")
                return redirect(url_for("marketplace_web.application", application_no=app.application_no))
            flash({"decline": "已谢绝该邀约。", "withdraw": "已撤回该邀约。"}.get(action, "已处理。"), "success")
            return redirect(url_for("marketplace_web.offer", offer_no=offer_no))
    return _render_offer(offer_no, errors, form, status)


# --- the bank's products -------------------------------------------------------------------------

def _transitions(item: Product) -> list[tuple[str, str]]:
    return [(str(t), STATUS_ACTIONS[t]) for t in (ProductStatus.live, ProductStatus.paused, ProductStatus.closed)
            if t in PRODUCT_TRANSITIONS[item.status]]


@bp.get("/bank/products")
def bank_products() -> str:
    user = require_user(Role.bank)
    page = services.list_products(db_session(), {"mine": True, "page": page_no(), "per_page": 20}, user)
    return render_template("marketplace/bank_products.html", page=page, transitions=_transitions)


def _product_body(form: dict[str, Any]) -> dict[str, Any]:
    """The product form as the API's JSON body."""
    body = filled(form, PRODUCT_FIELDS)
    for key in PRODUCT_LISTS:
        body[key] = form.get(key, [])
    requirements: dict[str, Any] = {}
    if form.get("requirements.min_tax_grade"):
        requirements["min_tax_grade"] = form["requirements.min_tax_grade"]
    if form.get("requirements.no_dishonest") == "yes":
        requirements["no_dishonest"] = True
    if form.get("requirements.max_queries_3m", "") != "":
        requirements["max_queries_3m"] = form["requirements.max_queries_3m"]
    body["requirements"] = requirements
    terms = {}
    for grade in GRADES:
        given = {k: form[f"grade_terms.{grade}.{k}"] for k in TERM_KEYS if form.get(f"grade_terms.{grade}.{k}")}
        if given:
            terms[grade] = given
    body["grade_terms"] = terms
    return body


def _product_form(item: Product) -> dict[str, Any]:
    """A stored product as the form's fields."""
    form: dict[str, Any] = {k: "" if getattr(item, k) is None else str(getattr(item, k)) for k in PRODUCT_FIELDS}
    for key in PRODUCT_LISTS:
        form[key] = list(getattr(item, key) or [])
    req = item.requirements or {}
    form["requirements.min_tax_grade"] = req.get("min_tax_grade", "")
    form["requirements.no_dishonest"] = "yes" if req.get("no_dishonest") else ""
    form["requirements.max_queries_3m"] = "" if req.get("max_queries_3m") is None else str(req["max_queries_3m"])
    for grade, terms in (item.grade_terms or {}).items():
        for key in TERM_KEYS:
            if terms.get(key) is not None:
                form[f"grade_terms.{grade}.{key}"] = str(terms[key])
    return form


def _product_page(form: dict[str, Any], errors: Errors, item: Product | None) -> tuple[str, int]:
    return render_template(
        "marketplace/product_form.html", form=form, errors=errors, product=item, types=list(ProductType),
        grades=GRADES, repayments=list(Repayment), segments=list(Segment), provinces=PROVINCES,
        collaterals=list(Collateral), tax_grades=TAX_GRADE_ORDER, term_keys=TERM_KEYS, cap=_cap(),
        cap_multiple=settings().rate_cap_multiple,
        segment_labels=SEGMENT_LABELS), 422 if errors else 200


@bp.route("/bank/products/new", methods=["GET", "POST"])
def product_new() -> Any:
    user = require_user(Role.bank)
    if request.method == "GET":
        return _product_page({"min_grade": "AA", "collateral": "none", "type": "credit_loan",
                              "repayment_methods": [], "segments": [], "provinces": []}, {}, None)
    form = _form()
    data, errors = load_form(schemas.ProductInSchema(), _product_body(form))
    if data is not None:
        try:
            item = services.create_product(db_session(), user, data, _cap())
        except DomainError as exc:
            errors = domain_errors(exc)
        else:
            flash(f"已保存产品草稿「{item.name}」（{item.product_no}）；上架后企业即可看到并申请。", "success")
            return redirect(url_for("marketplace_web.product", product_no=item.product_no))
    return _product_page(form, errors, None)


@bp.route("/bank/products/<string:product_no>/edit", methods=["GET", "POST"])
def product_edit(product_no: str) -> Any:
    user = require_user(Role.bank)
    session = db_session()
    item = services.own_product(session, user, product_no)
    if request.method == "GET":
        return _product_page(_product_form(item), {}, item)
    form = _form()
    data, errors = load_form(schemas.ProductInSchema(), _product_body(form))
    if data is not None:
        try:
            services.update_product(session, user, product_no, data, _cap())
        except DomainError as exc:
            errors = domain_errors(exc)
            item = services.own_product(session, user, product_no)
        else:
            flash("已保存产品修改。", "success")
            return redirect(url_for("marketplace_web.product", product_no=product_no))
    return _product_page(form, errors, item)


@bp.post("/bank/products/<string:product_no>/status")
def product_status(product_no: str) -> Any:
    user = require_user(Role.bank)
    data, errors = load_form(schemas.ProductStatusSchema(), filled(_form(), ("status",)))
    if data is None:
        flash("；".join(m for msgs in errors.values() for m in msgs), "error")
    else:
        try:
            item = services.change_status(db_session(), user, product_no, data["status"])
        except DomainError as exc:
            if exc.status in (403, 404):  # not this bank's product: refused, not a message
                raise
            flash(exc.detail, "error")
            domain_errors(exc)
        else:
            flash(f"产品「{item.name}」现为「{PRODUCT_STATUS_LABELS[item.status]}」。", "success")
    nxt = request.form.get("next", "")
    local = nxt.startswith(("/bank/", "/products/")) and "//" not in nxt and "\\" not in nxt
    return redirect(nxt if local else url_for("marketplace_web.bank_products"))


@bp.get("/bank/products/<string:product_no>/firms")
def eligible_firms(product_no: str) -> str:
    user = require_user(Role.bank)
    session = db_session()
    item = services.own_product(session, user, product_no)
    page = services.firms_for_product(session, user, product_no, page_no(), 20)
    return render_template("marketplace/eligible_firms.html", product=item, page=page,
                           offer_grades=offers.OFFER_GRADES)


def _offer_body(form: dict[str, Any], product_no: str) -> dict[str, Any]:
    body = {"product_no": product_no, **filled(form, ("uscc", "credit_limit", "rate", "term_months"))}
    day = form.get("valid_until", "")
    if day:  # a date on the form: valid to the end of that day, Beijing time
        body["valid_until"] = f"{day}T23:59:59+08:00" if len(day) == 10 else day
    return body


@bp.route("/bank/products/<string:product_no>/offer", methods=["GET", "POST"])
def offer_new(product_no: str) -> Any:
    user = require_user(Role.bank)
    session = db_session()
    item = services.own_product(session, user, product_no)
    errors: Errors = {}
    if request.method == "GET":
        form: dict[str, Any] = {"uscc": request.args.get("uscc", ""), "rate": str(item.rate_min),
                                "term_months": str(min(12, item.term_max)),
                                "valid_until": (clock.today() + dt.timedelta(days=30)).isoformat()}
    else:
        form = _form()
        data, errors = load_form(schemas.OfferInSchema(), _offer_body(form, product_no))
        if data is not None:
            try:
                sent = offers.send_offer(session, user, data)
            except DomainError as exc:
                errors = domain_errors(exc)
                item = services.own_product(session, user, product_no)
            else:
                flash(f"已向「{sent.enterprise.name}」发出授信邀约 {sent.offer_no}。", "success")
                return redirect(url_for("marketplace_web.offer", offer_no=sent.offer_no))
    firm = services.discoverable_firm(session, form.get("uscc", ""))
    return render_template("marketplace/offer_form.html", product=item, form=form, errors=errors,
                           firm=firm), 422 if errors else 200


# --- statistics ------------------------------------------------------------------------------------

@bp.get("/marketplace/stats")
def stats_page() -> Any:
    args, errors = load_form(schemas.StatsArgs(), {k: v for k, v in request.args.items() if v != ""})
    out = stats.marketplace_stats(db_session(), args["by"] or "bank", args["month_from"], args["month_to"]) \
        if args is not None else None
    return render_template("marketplace/stats.html", stats=out, args=request.args, errors=errors,
                           dimensions=stats.DIMENSION_LABELS), 422 if errors else 200
