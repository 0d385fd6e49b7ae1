"""Oversight pages: the public lists, profile and 信用电力指数; a firm's objections, list
entries and repair requests, commitments and notices; the operator console (objections by
due date, repair requests, list changes awaiting publication, providers and institutions).
Forms use the API's schemas and services; errors show next to their field."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from marshmallow import fields, validate

from app.accounts.auth import require_firm, require_user
from app.accounts.models import Role
from app.accounts.services import list_institutions
from app.archive import services as archive_services
from app.archive.models import CreditRecord, DataProvider, IngestionRun, segment_label
from app.archive.schemas import RunArgs
from app.core import clock
from app.core.db import Page
from app.core.errors import DomainError, NotFound
from app.core.extensions import db_session, signing_keys, writes
from app.core.forms import Errors, domain_errors, filled, load_form, page_no, query_args
from app.core.schemas_base import INT64_MAX, Int, PageArgs, one_of
from app.oauth.services import clients_of_institution, clients_of_provider
from app.oversight import commitments, lists, notices, objections, repair, schemas
from app.oversight.models import (
    EXIT_LABELS,
    LIST_LABELS,
    OUTCOME_LABELS,
    REPAIR_STATUS_LABELS,
    ListName,
    ObjectionOutcome,
)
from app.oversight.objections import DISPUTABLE, Upload
from app.scoring import services as scoring
from app.scoring.index import INDEX_DEFINITION, index_base_month, published_index
from app.scoring.scorecard import GRADES, NOT_RATED

bp = Blueprint("oversight_web", __name__, template_folder="templates")  # its pages beside it


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {"LIST_LABELS": {str(k): v for k, v in LIST_LABELS.items()},
            "EXIT_LABELS": {str(k): v for k, v in EXIT_LABELS.items()},
            "OUTCOME_LABELS": {str(k): v for k, v in OUTCOME_LABELS.items()},
            "REPAIR_STATUS_LABELS": {str(k): v for k, v in REPAIR_STATUS_LABELS.items()},
            "ENTRY_STATUS_LABELS": {"pending": "待发布", "active": "在列", "exited": "已移出", "cancelled": "已撤销"}}


def _uploads() -> list[Upload]:
    out = []
    for f in request.files.getlist("files"):
        try:
            if f.filename:
                out.append(Upload(f.filename, f.mimetype or "", f.read()))
        finally:
            f.close()
    return out


def _form() -> dict[str, Any]:
    return {k: v.strip() for k, v in request.form.items() if k != "csrf_token"}


# --- public ------------------------------------------------------------------------------------

@bp.get("/lists")
def lists_home() -> str:
    session = db_session()
    counts = {str(n): lists.published(session, str(n), 1, 1).total for n in ListName}
    return render_template("oversight/lists_home.html", counts=counts)


@bp.get("/lists/<string:name>")
def public_list(name: str) -> str:
    if name not in set(ListName):
        raise NotFound(f"没有名为 {name} 的名单")
    q = (request.args.get("q") or "").strip()[:50] or None
    page = lists.published(db_session(), name, page_no(), 20, q)
    return render_template("oversight/public_list.html", name=name, page=page, q=q or "")


@bp.get("/credit-index")
def credit_index() -> str:
    session = db_session()
    base_month = index_base_month(session)
    rows = published_index(session, base_month=base_month)
    by_segment = published_index(session, by="segment", base_month=base_month)
    distribution = scoring.grade_distribution(session)
    latest = rows[-1]["month"] if rows else None
    months = [r["month"] for r in rows]
    per_segment: dict[str, dict[str, float]] = {}
    for r in by_segment:
        per_segment.setdefault(r["group"], {})[r["month"]] = r["index"]
    series = [(segment_label(seg), [values.get(m) for m in months]) for seg, values in sorted(per_segment.items())]
    return render_template("oversight/credit_index.html", rows=rows, definition=INDEX_DEFINITION,
                           distribution=[(g, distribution.get(g, 0)) for g in GRADES]
                           + [("NR 信息不足", distribution.get(NOT_RATED, 0))],
                           segments=[r for r in by_segment if r["month"] == latest], months=months,
                           segment_series=series, by_segment=by_segment, base_month=base_month,
                           tail_series=[("B 级及以下", [r["tail_share"] * 100 for r in rows]),
                                        ("不予评级", [r["nr_share"] * 100 for r in rows])])


# --- the firm's objections ------------------------------------------------------------------------

@bp.get("/me/objections")
def my_objections() -> str:
    user = require_firm()
    page = objections.list_objections(db_session(), user, None, False, page_no(), 20)
    return render_template("oversight/objections.html", page=page, console=False, today=clock.today())


def _disputable(enterprise_id: int) -> list[CreditRecord]:
    return list(db_session().scalars(
        sa.select(CreditRecord).where(CreditRecord.enterprise_id == enterprise_id,
                                      CreditRecord.status.in_(list(DISPUTABLE)))
        .order_by(CreditRecord.occurred_on.desc(), CreditRecord.id.desc()).limit(300)))


@bp.route("/me/objections/new", methods=["GET", "POST"])
def new_objection() -> Any:
    user = require_firm()
    assert user.enterprise_id is not None
    form: dict[str, Any] = _form() if request.method == "POST" else {"record_id": request.args.get("record_id", "")}
    errors: Errors = {}
    status = 200
    if request.method == "POST":
        data, errors = load_form(schemas.ObjectionInSchema(), filled(form, ("record_id", "reason")))
        status = 422
        if data is not None:
            try:
                o = objections.file_objection(db_session(), user, data["record_id"], data["reason"], _uploads(),
                                              g.get("request_id"))
            except DomainError as exc:
                errors, status = domain_errors(exc), exc.status
            else:
                flash(f"已受理异议 {o.objection_no}；该记录已标注「异议中」，我们将于 {o.due_on:%Y-%m-%d} 前答复。",
                      "success")
                return redirect(url_for("oversight_web.my_objection", objection_no=o.objection_no))
    return render_template("oversight/objection_new.html", form=form, errors=errors,
                           records=_disputable(user.enterprise_id), max_files=objections.MAX_FILES), status


@bp.get("/me/objections/<string:objection_no>")
def my_objection(objection_no: str) -> str:
    user = require_firm()
    session = db_session()
    o = objections.get_objection(session, user, objection_no)
    return render_template("oversight/objection.html", o=o, files=objections.files_of(session, o), console=False,
                           errors={}, form={}, today=clock.today())


# --- the firm's lists and repair -------------------------------------------------------------------

@bp.get("/me/lists")
def my_lists() -> str:
    user = require_firm()
    assert user.enterprise_id is not None
    session = db_session()
    entries = [(e, repair.earliest_repair(e)) for e in lists.entries_of(session, user.enterprise_id)]
    requests = repair.list_requests(session, user, None, 1, 50)
    return render_template("oversight/my_lists.html", entries=entries, requests=requests, today=clock.today())


@bp.route("/me/repairs/new", methods=["GET", "POST"])
def new_repair() -> Any:
    user = require_firm()
    session = db_session()
    form: dict[str, Any] = _form() if request.method == "POST" else {"entry_id": request.args.get("entry_id", "")}
    errors: Errors = {}
    status = 200
    if request.method == "POST":
        data, errors = load_form(schemas.RepairInSchema(), filled(form, ("entry_id", "rectification")))
        status = 422
        if data is not None:
            try:
                r = repair.apply_for_repair(session, user, data["entry_id"], data["rectification"], _uploads(),
                                            g.get("request_id"))
            except DomainError as exc:
                errors, status = domain_errors(exc), exc.status
            else:
                flash(f"已提交信用修复申请 {r.request_no}，请等待征信机构审核。", "success")
                return redirect(url_for("oversight_web.my_repair", request_no=r.request_no))
    assert user.enterprise_id is not None
    choices = repair.repairable_entries(session, user.enterprise_id)
    entry, earliest = next(((e, first) for e, first, _ in choices if str(e.id) == str(form.get("entry_id", ""))),
                           (None, None))
    if entry is None and form.get("entry_id") and "entry_id" not in errors:
        errors = {**errors, "entry_id": ["本企业没有该项可修复的名单记录（红名单不适用信用修复），请在下方选择。"]}
    return render_template("oversight/repair_new.html", form=form, errors=errors, entry=entry, choices=choices,
                           today=clock.today(), earliest=earliest), status


@bp.get("/me/repairs/<string:request_no>")
def my_repair(request_no: str) -> str:
    user = require_firm()
    session = db_session()
    r = repair.get_request(session, user, request_no)
    return render_template("oversight/repair.html", r=r, files=repair.files_of(session, r), console=False,
                           errors={}, form={})


# --- the firm's commitments and notices ------------------------------------------------------------

@bp.route("/me/commitments", methods=["GET", "POST"])
@writes  # the first reader of an empty text table writes the texts (commitments.current_texts)
def my_commitments() -> Any:
    user = require_firm()
    assert user.enterprise_id is not None
    session = db_session()
    form: dict[str, Any] = _form() if request.method == "POST" else {}
    errors: Errors = {}
    status = 200
    if request.method == "POST":
        data, errors = load_form(schemas.SignSchema(), filled(form, ("text", "signatory", "signatory_title")))
        status = 422
        if data is not None:
            try:
                c = commitments.sign(session, signing_keys(), user, data["text"], data["signatory"],
                                     data["signatory_title"], g.get("request_id"))
            except DomainError as exc:
                errors, status = domain_errors(exc), exc.status
            else:
                flash(f"已签署《{c.text.title}》{c.text.version} 版（{c.commitment_no}），已计入本企业信用档案。", "success")
                return redirect(url_for("oversight_web.my_commitments"))
    signed = commitments.signed_by(session, user.enterprise_id)
    done = {c.text_id for c in signed}
    return render_template("oversight/commitments.html", texts=commitments.current_texts(session), signed=signed,
                           done=done, form=form, errors=errors), status


@bp.get("/me/commitments/<string:commitment_no>.jws")
def commitment_statement(commitment_no: str) -> Response:
    user = require_user(Role.firm, Role.operator)
    c = commitments.get_commitment(db_session(), commitment_no)
    if user.role != Role.operator and user.enterprise_id != c.enterprise_id:
        raise commitments.CommitmentNotFound(f"没有编号为 {commitment_no} 的信用承诺")
    resp = Response(c.statement, mimetype="application/jose")
    resp.headers["Content-Disposition"] = f'attachment; filename="{c.commitment_no}.jws"'
    return resp


@bp.get("/me/notices")
@writes
def my_notices() -> str:
    user = require_firm()
    assert user.enterprise_id is not None
    session = db_session()
    page = notices.notices_for(session, user.enterprise_id, page_no(), 20)
    unread = notices.unread_count(session, user.enterprise_id)
    html = render_template("oversight/notices.html", page=page, unread=unread,
                           subjects=notices.subject_states(session, page.items))
    notices.mark_read(session, user.enterprise_id)  # shown, so read
    return html


# --- the operator console ----------------------------------------------------------------------------

@bp.get("/console/objections")
def console_objections() -> str:
    user = require_user(Role.operator)
    status = request.args.get("status") if request.args.get("status") in ("open", "resolved") else None
    overdue = request.args.get("overdue") == "true"
    page = objections.list_objections(db_session(), user, status, overdue, page_no(), 20)
    return render_template("oversight/objections.html", page=page, console=True, today=clock.today(),
                           status=status, overdue=overdue)


def _render_objection(no: str, errors: Errors | None = None, form: dict[str, Any] | None = None,
                      status: int = 200) -> tuple[str, int]:
    user = require_user(Role.operator)
    session = db_session()
    o = objections.get_objection(session, user, no)
    defaults = {"corrected_payload": json.dumps(o.record.payload, ensure_ascii=False, indent=2)}
    return render_template("oversight/objection.html", o=o, files=objections.files_of(session, o), console=True,
                           errors=errors or {}, form={**defaults, **(form or {})}, today=clock.today(),
                           outcomes=list(ObjectionOutcome)), status


@bp.get("/console/objections/<string:objection_no>")
def console_objection(objection_no: str) -> Any:
    return _render_objection(objection_no)


@bp.post("/console/objections/<string:objection_no>/resolve")
def console_resolve(objection_no: str) -> Any:
    user = require_user(Role.operator)
    form = _form()
    body: dict[str, Any] = filled(form, ("outcome", "explanation"))
    errors: Errors = {}
    if form.get("outcome") == "corrected":
        try:
            body["corrected_payload"] = json.loads(form.get("corrected_payload") or "null")
        except ValueError as exc:
            errors["corrected_payload"] = [f"不是有效的 JSON：第 {getattr(exc, 'lineno', '?')} 行第 "
                                           f"{getattr(exc, 'colno', '?')} 列附近有误（键名与字符串须用英文双引号）。"]
    data, schema_errors = load_form(schemas.ResolveSchema(), body)
    errors.update(schema_errors)
    status = 422
    if data is not None and not errors:
        try:
            objections.resolve(db_session(), user, objection_no, data["outcome"], data["explanation"],
                               data["corrected_payload"], g.get("request_id"))
        except DomainError as exc:
            if exc.status == 404:
                raise
            errors, status = domain_errors(exc), exc.status
        else:
            flash(f"异议 {objection_no} 已处理并告知企业。", "success")
            return redirect(url_for("oversight_web.console_objections"))
    return _render_objection(objection_no, errors, form, status)


@bp.get("/console/repairs")
def console_repairs() -> str:
    user = require_user(Role.operator)
    status = request.args.get("status") if request.args.get("status") in ("submitted", "approved", "rejected") else None
    page = repair.list_requests(db_session(), user, status, page_no(), 20)
    return render_template("oversight/repairs.html", page=page, status=status)


def _render_repair(no: str, errors: Errors | None = None, form: dict[str, Any] | None = None,
                   status: int = 200) -> tuple[str, int]:
    user = require_user(Role.operator)
    session = db_session()
    r = repair.get_request(session, user, no)
    return render_template("oversight/repair.html", r=r, files=repair.files_of(session, r), console=True,
                           errors=errors or {}, form=form or {}), status


@bp.get("/console/repairs/<string:request_no>")
def console_repair(request_no: str) -> Any:
    return _render_repair(request_no)


@bp.post("/console/repairs/<string:request_no>/decide")
def console_decide(request_no: str) -> Any:
    user = require_user(Role.operator)
    form = _form()
    body: dict[str, Any] = filled(form, ("reason",))
    if form.get("decision") in ("approve", "reject"):
        body["approve"] = form["decision"] == "approve"
    data, errors = load_form(schemas.DecideSchema(), body)
    status = 422
    if data is not None:
        try:
            repair.decide(db_session(), user, request_no, data["approve"], data["reason"], g.get("request_id"))
        except DomainError as exc:
            if exc.status == 404:
                raise
            errors, status = domain_errors(exc), exc.status
        else:
            flash(f"修复申请 {request_no} 已{'批准' if data['approve'] else '驳回'}并告知企业。", "success")
            return redirect(url_for("oversight_web.console_repairs"))
    if "approve" in errors:
        errors["decision"] = ["请选择批准或驳回。"]
    return _render_repair(request_no, errors, form, status)


@bp.get("/console/lists")
def console_lists() -> str:
    require_user(Role.operator)
    name = request.args.get("list") if request.args.get("list") in set(ListName) else None
    session = db_session()
    page = lists.pending(session, page_no(), 50, name)
    shown = lists.pending_ids(session, name)  # what "publish all" on this page means
    return render_template("oversight/console_lists.html", page=page, name=name, counts=lists.counts(session),
                           upto=shown[-1] if shown else None, expected=len(shown), shown=_ids_digest(shown))


def _ids_digest(ids: list[int]) -> str:
    return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:32]


@bp.post("/console/lists/publish")
def console_publish() -> Any:
    user = require_user(Role.operator)
    session = db_session()
    name = request.form.get("list") if request.form.get("list") in set(ListName) else None
    back = url_for("oversight_web.console_lists", list=name) if name else url_for("oversight_web.console_lists")
    if request.form.get("all") == "yes":
        # Every pending entry of the list as the page showed it (all lists when none was
        # chosen): entries a refresh added since are not published unseen, and when entries
        # were published or withdrawn meanwhile the operator looks again first.
        upto, expected = request.form.get("upto", ""), request.form.get("expected", "")
        if not (upto.isascii() and expected.isascii() and upto.isdigit() and expected.isdigit()
                and len(upto) < 19 and len(expected) < 19):
            flash("请求不完整：请刷新页面后再发布。", "error")
            return redirect(back)
        ids = lists.pending_ids(session, name, int(upto))
        # The same entries, not just as many: an entry committed late with a lower id, or one
        # published while another became pending, changes the set though not the count.
        if len(ids) != int(expected) or _ids_digest(ids) != request.form.get("shown", ""):
            flash(f"待发布的名单记录在您查看后已有变化（页面显示 {int(expected)} 项，现为 {len(ids)} 项），"
                  "未发布任何记录：请核对后再发布。", "error")
            return redirect(back)
    else:
        ids = [int(v) for v in request.form.getlist("entry_ids") if v.isascii() and v.isdigit() and len(v) < 12]
    if not ids:
        flash("请选择要发布的名单记录。" if request.form.get("all") != "yes" else "没有待发布的名单记录。", "error")
        return redirect(back)
    try:
        done = lists.publish(session, ids, actor=f"user:{user.username}")
    except DomainError as exc:
        flash(exc.errors and "；".join(m for ms in exc.errors.values() for m in ms) or exc.detail, "error")
        domain_errors(exc)
        return redirect(back)
    flash(f"已发布 {len(done)} 项名单记录，相关企业已重新评价并收到通知。", "success")
    return redirect(back)


@bp.post("/console/lists/refresh")
def console_refresh() -> Any:
    user = require_user(Role.operator)
    result = lists.refresh(db_session(), actor=f"user:{user.username}")
    flash(f"已按列入标准重新计算：新列入 {sum(result.entered.values())} 项（待发布），移出 {sum(result.exited.values())} 项，"
          f"撤销 {sum(result.cancelled.values())} 项。", "success")
    return redirect(url_for("oversight_web.console_lists"))



@bp.get("/console/providers")
def console_providers() -> str:
    require_user(Role.operator)
    session = db_session()
    providers = list(session.scalars(sa.select(DataProvider).order_by(DataProvider.code)))
    counts = dict(session.execute(sa.select(CreditRecord.provider_id, sa.func.count())
                                  .group_by(CreditRecord.provider_id)).all())
    return render_template("oversight/providers.html", providers=[
        (p, counts.get(p.id, 0), clients_of_provider(session, p.id)) for p in providers])


@bp.get("/console/institutions")
def console_institutions() -> str:
    require_user(Role.operator)
    session = db_session()
    return render_template("oversight/institutions.html", institutions=[
        (i, clients_of_institution(session, i.id)) for i in list_institutions(session)])


class _RunListArgs(RunArgs):
    """The batches page's filters: the API's, and by size (``single``: one row, ``multi``: more)
    and by a range of batch numbers (a collapsed line's batches, ``first``–``last``); ``each``
    lists one-row batches one by one."""

    size = fields.String(load_default=None, validate=one_of(["single", "multi"]))
    first = Int(load_default=None, validate=validate.Range(min=1, max=INT64_MAX, error="批次编号应为正整数。"))
    last = Int(load_default=None, validate=validate.Range(min=1, max=INT64_MAX, error="批次编号应为正整数。"))
    each = fields.Boolean(load_default=False)


@dataclass
class _RunLine:
    """A line of the batches page: one batch (``run``), or a run of consecutive one-row
    batches of one provider collapsed (``count`` of them, numbers ``first``–``last``)."""

    provider: DataProvider
    count: int
    first: int
    last: int
    started_from: Any
    started_to: Any
    total: int
    accepted: int
    corrected: int
    unchanged: int
    refused: int
    committed: int
    run: IngestionRun | None = None


def _run_lines(session: Any, args: dict[str, Any], collapse: bool) -> Page[_RunLine]:
    """The batches newest first, filtered; consecutive one-row batches of the same provider
    (in that order) collapsed into one line when ``collapse``: each such run of batches is an
    island of equal ``row_number() - row_number() over (provider, one-row)``."""
    order = (IngestionRun.started_at.desc(), IngestionRun.id.desc())
    single = sa.case((IngestionRun.total == 1, 1), else_=0)
    stmt = sa.select(IngestionRun.id, IngestionRun.provider_id, IngestionRun.started_at, IngestionRun.total,
                     IngestionRun.accepted, IngestionRun.corrected, IngestionRun.unchanged, IngestionRun.refused,
                     sa.case((IngestionRun.committed.is_(True), 1), else_=0).label("committed"),
                     single.label("single"), sa.func.row_number().over(order_by=order).label("n"),
                     sa.func.row_number().over(partition_by=(IngestionRun.provider_id, single), order_by=order)
                     .label("m"))
    if args["provider"]:
        stmt = stmt.join(DataProvider, DataProvider.id == IngestionRun.provider_id).where(
            DataProvider.code == args["provider"])
    if args["refused_only"]:
        stmt = stmt.where(sa.or_(IngestionRun.refused > 0, IngestionRun.committed.is_(False)))
    if args["size"]:
        stmt = stmt.where(IngestionRun.total == 1 if args["size"] == "single" else IngestionRun.total != 1)
    if args["first"]:
        stmt = stmt.where(IngestionRun.id >= args["first"])
    if args["last"]:
        stmt = stmt.where(IngestionRun.id <= args["last"])
    runs = stmt.subquery()
    line = sa.case((runs.c.single == 1, runs.c.n - runs.c.m), else_=-runs.c.n) if collapse else runs.c.n
    lines = (sa.select(runs.c.provider_id, sa.func.count().label("count"), sa.func.min(runs.c.id).label("first"),
                       sa.func.max(runs.c.id).label("last"), sa.func.min(runs.c.started_at).label("started_from"),
                       sa.func.max(runs.c.started_at).label("started_to"),
                       *(sa.func.sum(getattr(runs.c, c)).label(c) for c in
                         ("total", "accepted", "corrected", "unchanged", "refused", "committed")))
             .group_by(runs.c.provider_id, runs.c.single, line).order_by(sa.func.min(runs.c.n)))
    total = session.scalar(sa.select(sa.func.count()).select_from(lines.order_by(None).subquery()))
    page, per_page = args["page"], args["per_page"]
    rows = session.execute(lines.limit(per_page).offset((page - 1) * per_page)).all()
    providers = {p.id: p for p in session.scalars(sa.select(DataProvider).where(
        DataProvider.id.in_({r.provider_id for r in rows})))} if rows else {}
    singles = [r.first for r in rows if r.count == 1]
    runs_by_id = {r.id: r for r in session.scalars(sa.select(IngestionRun).where(IngestionRun.id.in_(singles)))} \
        if singles else {}
    items = [_RunLine(providers[r.provider_id], r.count, r.first, r.last, r.started_from, r.started_to,
                      total=int(r.total or 0), accepted=int(r.accepted or 0), corrected=int(r.corrected or 0),
                      unchanged=int(r.unchanged or 0), refused=int(r.refused or 0), committed=int(r.committed or 0),
                      run=runs_by_id.get(r.first) if r.count == 1 else None) for r in rows]
    return Page(items, page, per_page, int(total or 0))


@bp.get("/console/ingestion")
def console_ingestion() -> str:
    """Data batches, newest first.  Online signing writes a batch of one row per signature: a
    run of those from one provider shows as one line, with a link to its batches."""
    require_user(Role.operator)
    args = query_args(_RunListArgs())
    session = db_session()
    collapse = not (args["each"] or args["size"] == "single" or args["first"] or args["last"])
    page = _run_lines(session, args, collapse)
    providers = [tuple(r) for r in session.execute(sa.select(DataProvider.code, DataProvider.name)
                                                   .order_by(DataProvider.code))]
    return render_template("oversight/ingestion_runs.html", lines=page.items, page=page, args=args,
                           providers=providers, collapse=collapse)


@bp.get("/console/ingestion/<int:run_id>")
def console_ingestion_run(run_id: int) -> str:
    require_user(Role.operator)
    args = query_args(PageArgs())
    session = db_session()
    run = archive_services.get_run(session, run_id)
    rows = archive_services.run_rows(session, run, args["page"], args["per_page"])
    return render_template("oversight/ingestion_run.html", run=run, rows=rows)


@bp.get("/console/evaluations")
def console_evaluations() -> str:
    require_user(Role.operator)
    args = query_args(PageArgs())
    page = scoring.list_runs(db_session(), args["page"], args["per_page"])
    return render_template("oversight/evaluation_runs.html", page=page)
