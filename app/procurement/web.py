"""Screening pages: upload (CSV or a list of codes) and results with their downloads."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from marshmallow import ValidationError, fields, validate

from app.accounts.auth import require_user
from app.accounts.models import Role
from app.core.db import Page
from app.core.errors import DomainError, InvalidInput, flatten_messages
from app.core.extensions import db_session, signing_keys
from app.core.forms import Errors, domain_errors, filled, load_form, page_no
from app.core.schemas_base import StrictSchema
from app.procurement import downloads, schemas, services
from app.procurement.rules import NR_POLICIES, OUTCOME_LABELS
from app.scoring.scorecard import GRADES

bp = Blueprint("procurement_web", __name__, template_folder="templates")

PER_PAGE = 100
CODE_SEPARATORS = re.compile(r"[\s,;，；、]+")
OUTCOME_FILTERS = {"fail": "不通过", "pass": "通过", "none": "未查到、代码无效或重复"}
DATE_WORDS = {"grade_as_of": "评价", "filed_on": "立案", "decided_on": "决定", "accident_on": "事故",
              "entered_on": "列入", "published_on": "公布", "publish_until": "公示至", "ends_on": "期限至",
              "valid_until": "有效期至"}  # in the order a record's dates are told
NR_LABELS = {"": "默认（设了最低等级时不通过，否则通过）", "fail": "不通过", "pass": "通过"}


class DetailArgs(StrictSchema):
    outcome = fields.String(load_default=None, validate=validate.OneOf(
        list(OUTCOME_FILTERS), error="只能按「" + "」「".join(OUTCOME_FILTERS.values()) + "」筛选。"))
    page = fields.String(load_default="1")


QUERY_LABELS = {"outcome": "按结论筛选", "page": "页码"}  # the results page's query, as its errors name it


def _detail_args() -> tuple[dict[str, Any], list[str]]:
    """The results page's filter and its errors in words (a bad filter shows every row, with
    the error, as a 422)."""
    try:
        return dict(DetailArgs().load(request.args.to_dict())), []
    except ValidationError as exc:
        problems = [f"{QUERY_LABELS.get(name, f'网址参数「{name}」')}：{''.join(messages)}"
                    for name, messages in flatten_messages(exc.messages).items()]
        return {"outcome": None}, problems


def dated(dates: dict[str, str | None]) -> str:
    """A fact's dates in words, in the order they happened (the document keeps them by key):
    ``列入 2026-10-07，公布 2026-10-09，期限至 2029-10-09``."""
    order = list(DATE_WORDS)
    known = sorted((k for k in dates if k in DATE_WORDS), key=order.index)
    return "，".join(f"{DATE_WORDS.get(k, k)} {dates[k]}" for k in [*known, *(k for k in dates if k not in DATE_WORDS)]
                    if dates[k])


def _tenderer() -> services.Tenderer:
    return services.tenderer_of_user(db_session(), require_user(Role.tenderer))


@bp.get("/procurement/screenings")
def screenings() -> str:
    """The tenderer's home: its institution's screenings, newest first, and a new one."""
    who = _tenderer()
    page = services.list_screenings(db_session(), who.institution.id, page_no(), 20)
    return render_template("procurement/list.html", page=page, institution=who.institution)


def _form() -> dict[str, Any]:
    return {k: v.strip() for k, v in request.form.items() if k != "csrf_token"}


def _request_body(form: dict[str, Any]) -> tuple[dict[str, Any], Errors]:
    """The API's body from the form: the rules, and the codes pasted or in the uploaded file."""
    errors: Errors = {}
    rules: dict[str, Any] = {"barred_lists": ["black", "watch"] if form.get("bar_watch") else ["black"],
                             "certificate_required": bool(form.get("certificate_required"))}
    for key in ("min_grade", "nr_policy", "max_open_dishonest", "serious_penalty_years", "max_serious_penalties"):
        if form.get(f"rules.{key}"):
            rules[key] = form[f"rules.{key}"]
    pasted = [c for c in CODE_SEPARATORS.split(form.get("codes", "")) if c]
    upload = request.files.get("file")
    codes: list[str] = pasted
    if upload is not None and upload.filename:
        try:
            data = upload.read()
        finally:
            upload.close()
        if pasted:
            errors["file"] = ["已粘贴代码又上传了文件：请只用一种方式提交。"]
        else:
            try:
                codes = services.codes_from_csv(data)
            except InvalidInput as exc:
                errors.update(exc.errors or {"file": [exc.detail]})
    elif not pasted:
        errors["codes"] = ["请粘贴投标人的统一社会信用代码（每行一个），或上传 CSV 文件。"]
    body = {**filled(form, ("tender_name", "tender_no")), "rules": rules, "codes": codes}
    return body, errors


@bp.route("/procurement/screenings/new", methods=["GET", "POST"])
def new_screening() -> Any:
    who = _tenderer()
    form: dict[str, Any] = _form() if request.method == "POST" else {}
    errors: Errors = {}
    status = 200
    if request.method == "POST":
        body, errors = _request_body(form)
        status = 422
        data, schema_errors = load_form(schemas.ScreeningRequestSchema(), body)
        if "file" in errors:  # the codes were to come from the file: the empty text box is not at fault
            schema_errors = {k: v for k, v in schema_errors.items() if k != "codes" and not k.startswith("codes[")}
        errors = {**schema_errors, **errors}
        if data is not None and not errors:
            try:
                s = services.screen(db_session(), signing_keys(), who, data["codes"], data["rules"],
                                    tender_name=data["tender_name"], tender_no=data["tender_no"],
                                    request_id=g.get("request_id"))
            except DomainError as exc:
                errors, status = domain_errors(exc), exc.status
            else:
                flash(f"已完成筛查 {s.screening_no}：共 {s.total} 家投标人，通过 {s.passed} 家，不通过 {s.failed} 家，"
                      f"未查到或代码无效 {s.not_found} 家。", "success")
                return redirect(url_for("procurement_web.screening", screening_no=s.screening_no))
    return render_template("procurement/new.html", form=form, errors=errors, grades=GRADES,
                           nr_labels=NR_LABELS, nr_policies=NR_POLICIES, max_codes=services.MAX_CODES,
                           institution=who.institution), status


@bp.get("/procurement/screenings/<string:screening_no>")
def screening(screening_no: str) -> tuple[str, int]:
    """One screening: the counts, the table (filtered by outcome, a page at a time), downloads
    and the verification link."""
    who = _tenderer()
    found = services.own_screening(db_session(), screening_no, who.institution.id)
    args, problems = _detail_args()
    doc = services.document(found)
    rows = services.rows_of(doc, args["outcome"])
    number = page_no()
    page: Page[dict[str, Any]] = Page(rows[(number - 1) * PER_PAGE: number * PER_PAGE], number, PER_PAGE, len(rows))
    return render_template("procurement/detail.html", s=found, doc=doc, page=page, outcome=args["outcome"],
                           filters=OUTCOME_FILTERS, outcome_labels=OUTCOME_LABELS, dated=dated,
                           verify_url=downloads.verify_url(found), problems=problems), 422 if problems else 200
