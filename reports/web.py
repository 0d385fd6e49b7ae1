"""Report pages: the public verification page (``/verify/{report_no}``, also JSON) and the
firm's own reports (issue a self-report or the bidding edition, download JSON or PDF, the
yearly allowance both count against)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (
    Blueprint,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from app.accounts.auth import require_firm, require_user
from app.accounts.models import Role
from app.audit.services import refuse_later
from app.certificates.schemas import PublicCertificateSchema
from app.core import clock, verification
from app.core.errors import DomainError, Forbidden, InvalidInput
from app.core.extensions import ProblemSchema, db_session, settings, signing_keys, writes
from app.core.forms import page_no
from reports import services
from reports.describe import POLARITY_LABELS, describe
from reports.models import KIND_LABELS, SELF_ISSUED_KINDS, ReportKind
from reports.schemas import VerificationSchema

bp = Blueprint("reports_web", __name__, template_folder="templates")  # its pages beside it

# The public verification, a page that also answers JSON (``?format=json`` or ``Accept:
# application/json``), in the OpenAPI document (added by create_app).  One address for every
# signed document of the platform, told apart by its number's prefix: reports (PC…) here,
# screenings (PS…) and certificates (PCC…) through the kinds the roof registers
# (app.core.verification).
_HTML = {"text/html": {"schema": {"type": "string"}}}
_VERIFY_ARGS = [
    {"in": "query", "name": "digest", "schema": {"type": "string"},
     "description": "文书摘要（64 位十六进制 SHA-256，可带 sha256: 前缀，印在报告、筛查结果与证书上）：给出时核对是否一致"},
    {"in": "query", "name": "format", "schema": {"type": "string", "enum": ["json", "html"]},
     "description": "json：以 JSON 作答（亦可 Accept: application/json）"},
]
_PAGE_ERROR = {"description": "错误：HTML 页（以 JSON 作答时为 problem+json）",
               "content": {"application/problem+json": {"schema": ProblemSchema}, **_HTML}}
_KINDS_BY_PREFIX = ("信用报告（PC + 8 位日期 + 12 位字符）、投标人信用筛查结果（PS + 8 位日期 + 12 位字符）、"
                    "信用等级证书（PCC + 4 位年份 + 12 位字符）")
# The three answers, by the number's prefix.  The screening's schema is named, not imported
# (app.procurement sits above reports): marshmallow's class registry resolves it when the
# document is built, after every package is loaded.
_VERIFICATIONS = {"oneOf": [VerificationSchema, "ScreeningVerificationSchema", PublicCertificateSchema]}
OPENAPI_ROUTES: dict[str, dict[str, Any]] = {  # by endpoint
    "reports_web.verify_form": {"get": {
        "tags": ["reports"],
        "summary": "核验页：填写编号（信用报告 PC…、投标人信用筛查结果 PS…、信用等级证书 PCC…）后转到该编号的核验结果",
        "parameters": [{"in": "query", "name": "report_no", "schema": {"type": "string"},
                        "description": f"文书编号：{_KINDS_BY_PREFIX}"}, *_VERIFY_ARGS],
        "responses": {"200": {"description": "核验表单（HTML）", "content": _HTML},
                      "302": {"description": "转到 /verify/{编号}", "headers": {"Location": {"schema": {"type": "string"}}}},
                      "422": {"description": "编号为空（HTML）", "content": _HTML},
                      "default": _PAGE_ERROR}}},
    "reports_web.verify": {"get": {
        "tags": ["reports"],
        "summary": "公开核验：该编号的信用报告、投标人信用筛查结果或信用等级证书是否由本平台出具（颁发）、"
                   "何时出具给谁、摘要是否一致、签名是否有效（不含文书内容）",
        "description": ("按编号前缀区分三种文书，JSON 应答的形状各不相同（oneOf，以编号字段区分）：\n\n"
                        "- `PC…` 信用报告：`Verification`（`report_no`、版本、报告使用者）；\n"
                        "- `PS…` 投标人信用筛查结果：`ScreeningVerification`（`screening_no`、招标人、筛查投标人数；"
                        "不含投标人与结论）；\n"
                        "- `PCC…` 信用等级证书：`PublicCertificate`（`certificate_no`、企业、等级、有效期、"
                        "现在的状态及原因；公示中的评价结果亦可查）。\n\n"
                        "其他前缀为 422。"),
        "parameters": _VERIFY_ARGS,
        "responses": {
            "200": {"description": "核验结果（形状按编号前缀，见说明）",
                    "content": {"application/json": {"schema": _VERIFICATIONS}, **_HTML}},
            "404": {"description": "本平台没有出具（颁发）该编号的文书",
                    "content": {"application/problem+json": {"schema": ProblemSchema}, **_HTML}},
            "422": {"description": "编号或摘要格式不正确（编号的前缀不是 PC、PS、PCC 之一亦然）",
                    "content": {"application/problem+json": {"schema": ProblemSchema}, **_HTML}},
            "default": _PAGE_ERROR}}},
}


@bp.app_template_filter("iso_cn")
def iso_cn(value: str | None) -> str:
    """An ISO timestamp from a report document shown in Beijing time."""
    if not value:
        return "—"
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(clock.BEIJING).strftime("%Y-%m-%d %H:%M")


@bp.app_template_filter("describe_record")
def describe_record(record: dict[str, Any]) -> str:
    return describe(record)


@bp.app_template_filter("describe_record_obj")
def describe_record_obj(record: Any) -> str:
    """A stored record (ORM row) in one Chinese line."""
    return describe({"category": str(record.category), "payload": record.payload})


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {"POLARITY_LABELS": POLARITY_LABELS}


def _wants_json() -> bool:
    if request.args.get("format") == "json":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"], default="text/html")
    return best == "application/json"


REPORT_PREFIX = "PC"  # a report's number; the other kinds' are registered (PS…, PCC…)


def verifiable_kinds() -> list[tuple[str, str]]:
    """The documents ``/verify`` checks, as (prefix, label): reports, then each kind the roof
    registered — what the form and its errors name."""
    return [(REPORT_PREFIX, "信用报告"), *((k.prefix, k.label) for k in verification.kinds())]


def _kinds_in_words() -> str:
    return "、".join(f"{label}（{prefix} 开头）" for prefix, label in verifiable_kinds())


def _verify_page(status: int = 200, **context: Any) -> tuple[str, int]:
    context.setdefault("result", None)
    context.setdefault("error", None)
    context.setdefault("report_no", "")
    return render_template("reports/verify.html", kinds=verifiable_kinds(), **context), status


@bp.get("/verify")
def verify_form() -> Any:
    """Public: the verification form; a number typed in goes to its verification page."""
    report_no = (request.args.get("report_no") or "").strip().upper()
    if report_no:
        args: dict[str, Any] = {k: v for k, v in request.args.items() if k in ("digest", "format") and v}
        return redirect(url_for("reports_web.verify", report_no=report_no, **args))
    if "report_no" in request.args:  # the form sent empty
        return _verify_page(422, digest=request.args.get("digest"), error={
            "detail": f"请输入要核验的编号：{_kinds_in_words()}，印在封面、页脚或证书底部，扫描二维码即带上编号与摘要。"})
    return _verify_page(digest=request.args.get("digest"))


@bp.get("/verify/<string:report_no>")
def verify(report_no: str) -> Any:
    """Public: was a document with this number (and digest) issued, to whom and when — a
    report here, a screening or a certificate through the kind registered for its prefix."""
    digest = request.args.get("digest")
    report_no = report_no.strip().upper()
    session = db_session()
    other = verification.kind_of(report_no)  # a screening, a certificate: registered by the roof
    if other is not None:
        try:
            found = other.check(session, signing_keys(), report_no, digest)
        except DomainError as exc:
            if _wants_json():
                raise
            return render_template(other.template, result=None, number=report_no, digest=digest,
                                   error=exc), exc.status
        if _wants_json():
            return jsonify(found)
        return render_template(other.template, result=found, number=report_no, digest=digest, error=None)
    try:
        if not report_no.startswith(REPORT_PREFIX):
            raise InvalidInput("编号格式不正确", errors={"report_no": [
                f"不是本平台文书的编号：应为{_kinds_in_words()}。"]})
        result = services.public_verification(session, signing_keys(), report_no, digest)
    except DomainError as exc:
        if _wants_json():
            raise
        return _verify_page(exc.status, report_no=report_no, digest=digest, error=exc)
    if _wants_json():
        return jsonify(result)
    return _verify_page(result=result, report_no=report_no, digest=digest)


@bp.get("/me/reports")
def my_reports() -> str:
    user = require_firm()
    assert user.enterprise is not None
    session = db_session()
    page = services.list_reports(session, page=page_no(), per_page=20, enterprise_id=user.enterprise_id)
    left = services.allowance(session, user.enterprise, settings().free_self_reports)
    return render_template("reports/mine.html", page=page, allowance=left, enterprise=user.enterprise,
                           KIND_LABELS=KIND_LABELS)


@bp.post("/me/reports")
def issue_my_report() -> Any:
    """Issue a report of the chosen edition (``edition``: self, the default, or bidding)."""
    user = require_firm()
    assert user.enterprise is not None
    edition = request.form.get("edition", str(ReportKind.self_report))
    if edition not in {str(k) for k in SELF_ISSUED_KINDS}:
        raise InvalidInput("报告版本有误", errors={"edition": ["应为 self（自主查询版）或 bidding（招投标专用版）"]})
    kind = ReportKind(edition)
    session = db_session()
    try:
        report, left = services.issue_self_report(session, signing_keys(), user.enterprise, user,
                                                  settings().free_self_reports, actor=f"user:{user.username}",
                                                  request_id=g.get("request_id"), kind=kind)
    except DomainError as exc:
        session.rollback()
        if exc.audit is not None:
            refuse_later(session, exc.audit)
        flash(exc.detail, "error")
        return redirect(url_for("reports_web.my_reports"))
    label = "自主查询报告" if kind == ReportKind.self_report else f"信用报告（{KIND_LABELS[kind]}）"
    flash(f"已出具{label} {report.report_no}；本年度剩余免费次数 {left.remaining} 次。", "success")
    return redirect(url_for("reports_web.my_reports"))


# --- the bank's pulled reports -------------------------------------------------------------

def _officer() -> tuple[Any, int]:
    user = require_user(Role.bank)
    if user.institution_id is None:
        raise Forbidden("该账号未关联金融机构", code="not_an_institution")
    return user, user.institution_id


@bp.get("/bank/reports")
def bank_reports() -> str:
    """The reports the officer's institution has pulled (by its systems or its officers)."""
    _, institution_id = _officer()
    page = services.list_reports(db_session(), page=page_no(), per_page=20, institution_id=institution_id)
    return render_template("reports/bank_reports.html", page=page)


@bp.get("/bank/reports/<string:report_no>")
@writes
def bank_report(report_no: str) -> str:
    """One pulled report, shown as the document it is (reading it is audited, as the API's)."""
    user, institution_id = _officer()
    report = services.read_pulled(db_session(), report_no.strip().upper(),
                                  services.Reader(institution_id, f"user:{user.username}"), "html",
                                  g.get("request_id"))
    return render_template("reports/bank_report.html", stored=report, report=services.document(report))
