"""信用等级证书 API: a firm's application and its certificates, the operators' review, public
verification of a certificate by its number."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, g
from flask.views import MethodView
from flask_smorest import Blueprint as ApiBlueprint
from sqlalchemy.orm import Session

from app.accounts.auth import require_firm, require_user
from app.accounts.models import Role
from app.archive.services import get_enterprise
from app.certificates import schemas, services
from app.certificates.models import (
    CERTIFICATE_STATUS_LABELS,
    Certificate,
    CertificateObjection,
    CertificateStatus,
)
from app.certificates.pdf import render_pdf
from app.certificates.rules import current as current_rules
from app.core import clock
from app.core.extensions import cookie_csrf, created, db_session, signing_keys
from app.core.schemas_base import With
from app.oauth.server import issuer

blp = ApiBlueprint("certificates", __name__, url_prefix="/api/v1",
                   description="信用等级证书：申报、评价、公示与异议、发证、年度复核、暂停与撤销、公开核验")

PDF_DOC = {"responses": {"200": {"description": "证书 PDF（一页，含核验二维码）",
                                 "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}}}


def verify_url(cert: Certificate) -> str | None:
    return f"{issuer()}{services.verify_path(cert)}" if cert.digest else None


def as_it_stands(cert: Certificate, today: dt.date, **extra: Any) -> With:
    """The certificate with its status as of today (one past its validity is expired, with
    that as its reason, before the daily job marks it)."""
    now = services.standing(cert, today)
    return With(cert, status=now.status, status_reason=now.reason, status_changed_at=now.changed_at,
                next_review_on=services.next_review(cert, today), **extra)


def certificate_out(session: Session, cert: Certificate, *, detail: bool = False) -> With:
    extra: dict[str, Any] = {"open_objections": services.open_objection_count(session, cert),
                             "verify_url": verify_url(cert)}
    if detail:
        events = services.events_of(session, cert)
        actors = services.actor_labels(session, (e.actor for e in events))
        extra["events"] = [With(e, actor_label=actors[e.actor]) for e in events]
        extra["objections"] = [objection_out(o, cert) for o in services.objections_of(session, cert)]
    return as_it_stands(cert, clock.today(), **extra)


def objection_out(o: CertificateObjection, cert: Certificate) -> With:
    """An objection with the result it concerns and what became of that result (the objector
    reads the outcome here, as on the result's page)."""
    now = services.standing(cert)
    return With(o, certificate_no=cert.certificate_no, certificate_status=now.status, certificate_status_label=now.label)


def pdf_response(cert: Certificate) -> Response:
    doc = services.frozen(cert)
    status = services.effective_status(cert)
    assert cert.digest is not None and cert.kid is not None
    body = render_pdf(doc, digest=cert.digest, kid=cert.kid, verify_url=verify_url(cert) or "",
                      status_label=None if status == CertificateStatus.issued else CERTIFICATE_STATUS_LABELS[status])
    resp = Response(body, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f'attachment; filename="{cert.certificate_no}.pdf"'
    resp.headers["X-Certificate-Digest"] = cert.digest
    return resp


# --- the firm --------------------------------------------------------------------------------------


@blp.route("/me/certificates")
class MyCertificates(MethodView):
    @blp.arguments(schemas.CertificateListArgs, location="query")
    @blp.response(200, schemas.CertificatePageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """本企业的证书与申报（企业）：全部状态，最近变化的在前"""
        user = require_firm()
        session = db_session()
        page = services.list_certificates(session, page=args["page"], per_page=args["per_page"], status=args["status"],
                                          q=args["q"], enterprise_id=user.enterprise_id)
        return {**page.body(), "items": [certificate_out(session, c) for c in page.items]}

    @blp.arguments(schemas.CertificateApplySchema)
    @blp.response(201, schemas.CertificateDetailSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """申报信用等级证书（企业管理员）：须作出申报承诺；同一时间只能有一件申报；黑名单企业、未评价、不予评级（NR）
        或等级低于获证最低等级的企业不予受理（422 naming grade）"""
        user = require_firm()
        cookie_csrf()
        session = db_session()
        cert = services.apply(session, user, request_id=g.get("request_id"))
        return created(certificate_out(session, cert, detail=True), "certificates.MyCertificate",
                       certificate_no=cert.certificate_no)


@blp.route("/me/certificates/<string:certificate_no>")
class MyCertificate(MethodView):
    @blp.response(200, schemas.CertificateDetailSchema)
    def get(self, certificate_no: str) -> Any:
        """本企业的一份证书或申报：状态历史与公示期内的异议（不显示异议人）"""
        user = require_firm()
        session = db_session()
        return certificate_out(session, services.certificate_for(session, user, certificate_no), detail=True)


@blp.route("/me/certificates/<string:certificate_no>/withdraw")
class Withdraw(MethodView):
    @blp.arguments(schemas.CertificateWithdrawSchema)
    @blp.response(200, schemas.CertificateDetailSchema)
    def post(self, data: dict[str, Any], certificate_no: str) -> Any:
        """撤回申报（企业，发证前）：公示中的评价结果随之撤下，未处理的异议终结"""
        user = require_firm()
        cookie_csrf()
        session = db_session()
        cert = services.withdraw(session, user, certificate_no, data["reason"], request_id=g.get("request_id"))
        return certificate_out(session, cert, detail=True)


# --- public ----------------------------------------------------------------------------------------


@blp.route("/certificates/<string:certificate_no>")
class PublicCertificate(MethodView):
    @blp.arguments(schemas.CertificateVerifyArgs, location="query")
    @blp.response(200, schemas.PublicCertificateSchema)
    def get(self, args: dict[str, Any], certificate_no: str) -> dict[str, Any]:
        """证书公开核验（公开，无需登录）：是否由本平台颁发、企业、等级、有效期、现在的状态及原因、摘要是否一致、签名是否有效；
        公示中的评价结果亦可查。未颁发的编号 404，格式不正确 422（certificate_no、digest）"""
        return services.verification(db_session(), signing_keys(), certificate_no, args["digest"])


@blp.route("/certificates/<string:certificate_no>/pdf")
class CertificatePdf(MethodView):
    @blp.doc(**PDF_DOC)
    def get(self, certificate_no: str) -> Response:
        """证书 PDF（持证企业、征信机构）：一页，含核验二维码（编号与摘要）；已暂停、撤销或过期的证书标明状态"""
        user = require_user()
        return pdf_response(services.certificate_for(db_session(), user, certificate_no))


@blp.route("/certificates/<string:certificate_no>/objections")
class Objections(MethodView):
    @blp.arguments(schemas.CertificateObjectionInSchema)
    @blp.response(201, schemas.CertificateObjectionFullSchema)
    def post(self, data: dict[str, Any], certificate_no: str) -> Any:
        """对公示中的评价结果提出异议（任何登录用户，被评价企业本身除外；仅在公示期内）"""
        user = require_user()
        cookie_csrf()
        session = db_session()
        o = services.object_to(session, user, certificate_no, data["text"], request_id=g.get("request_id"))
        cert = services.certificate_of(session, o)
        return created(objection_out(o, cert), "certificates.ObjectionDetail", objection_no=o.objection_no)


@blp.route("/public/certificate-notices")
class Notices(MethodView):
    @blp.arguments(schemas.CertificateNoticeArgs, location="query")
    @blp.response(200, schemas.CertificateNoticePageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """公示中的评价结果（公开）：企业、等级、公示期；公示期最先结束的在前"""
        page = services.in_notice(db_session(), page=args["page"], per_page=args["per_page"], q=args["q"])
        return page.body(rules=current_rules().describe())


@blp.route("/public/enterprises/<string:uscc>/certificates")
class ProfileCertificates(MethodView):
    @blp.response(200, schemas.ProfileCertificateSchema(many=True))
    def get(self, uscc: str) -> Any:
        """企业的信用等级证书（公开）：有效、暂停、撤销、过期的证书与公示中的评价结果"""
        session = db_session()
        ent = get_enterprise(session, uscc.strip().upper())
        today = clock.today()
        return [as_it_stands(c, today) for c in services.public_certificates(session, ent.id)]


# --- operators -------------------------------------------------------------------------------------


@blp.route("/certificates")
class Certificates(MethodView):
    @blp.arguments(schemas.CertificateListArgs, location="query")
    @blp.response(200, schemas.CertificatePageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """证书与申报（征信机构）：按状态筛选（applied 待评价，按申报先后；publicized 公示中，按公示结束先后）"""
        require_user(Role.operator)
        session = db_session()
        page = services.list_certificates(session, page=args["page"], per_page=args["per_page"], status=args["status"],
                                          q=args["q"])
        return {**page.body(), "items": [certificate_out(session, c) for c in page.items]}


@blp.route("/certificates/<string:certificate_no>/history")
class History(MethodView):
    @blp.response(200, schemas.CertificateDetailSchema)
    def get(self, certificate_no: str) -> Any:
        """一份证书或申报的全部信息、状态历史与异议（持证企业、征信机构）"""
        user = require_user()
        session = db_session()
        return certificate_out(session, services.certificate_for(session, user, certificate_no), detail=True)


def _operator_action(certificate_no: str, act: Any) -> Any:
    user = require_user(Role.operator)
    cookie_csrf()
    session = db_session()
    cert = act(session, user)
    return certificate_out(session, cert, detail=True)


@blp.route("/certificates/<string:certificate_no>/evaluate")
class Evaluate(MethodView):
    @blp.arguments(schemas.CertificateNoteSchema)
    @blp.response(200, schemas.CertificateDetailSchema)
    def post(self, data: dict[str, Any], certificate_no: str) -> Any:
        """评价申报（征信机构）：取企业当前的信用评价；符合条件的公示（公示期自今日起），否则不予通过并说明原因"""
        return _operator_action(certificate_no, lambda s, u: services.evaluate(
            s, certificate_no, services.actor_of(u), note=data["note"], request_id=g.get("request_id")))


@blp.route("/certificates/<string:certificate_no>/issue")
class Issue(MethodView):
    @blp.arguments(schemas.CertificateNoteSchema)
    @blp.response(200, schemas.CertificateDetailSchema)
    def post(self, data: dict[str, Any], certificate_no: str) -> Any:
        """发证（征信机构；每日任务亦自动发证）：公示期满且无待处理异议；发证前复核黑名单与当前等级，不符则不予通过"""
        return _operator_action(certificate_no, lambda s, u: services.issue(
            s, signing_keys(), certificate_no, services.actor_of(u), note=data["note"],
            request_id=g.get("request_id")))


@blp.route("/certificates/<string:certificate_no>/suspend")
class Suspend(MethodView):
    @blp.arguments(schemas.CertificateReasonSchema)
    @blp.response(200, schemas.CertificateDetailSchema)
    def post(self, data: dict[str, Any], certificate_no: str) -> Any:
        """暂停有效的证书（征信机构，须说明原因；只能由征信机构恢复）"""
        return _operator_action(certificate_no, lambda s, u: services.suspend(
            s, u, certificate_no, data["reason"], request_id=g.get("request_id")))


@blp.route("/certificates/<string:certificate_no>/revoke")
class Revoke(MethodView):
    @blp.arguments(schemas.CertificateReasonSchema)
    @blp.response(200, schemas.CertificateDetailSchema)
    def post(self, data: dict[str, Any], certificate_no: str) -> Any:
        """撤销有效或暂停的证书（征信机构，须说明原因；撤销不可恢复）"""
        return _operator_action(certificate_no, lambda s, u: services.revoke(
            s, u, certificate_no, data["reason"], request_id=g.get("request_id")))


@blp.route("/certificates/<string:certificate_no>/restore")
class Restore(MethodView):
    @blp.arguments(schemas.CertificateReasonSchema)
    @blp.response(200, schemas.CertificateDetailSchema)
    def post(self, data: dict[str, Any], certificate_no: str) -> Any:
        """恢复暂停的证书（征信机构）：企业不在黑名单且当前等级符合规则时方可恢复"""
        return _operator_action(certificate_no, lambda s, u: services.restore(
            s, u, certificate_no, data["reason"], request_id=g.get("request_id")))


# --- objections ------------------------------------------------------------------------------------


@blp.route("/certificate-objections")
class ObjectionList(MethodView):
    @blp.arguments(schemas.CertificateObjectionArgs, location="query")
    @blp.response(200, schemas.CertificateObjectionPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """证书异议：征信机构看全部（待处理的在前），其他登录用户看本人提出的"""
        user = require_user()
        session = db_session()
        page = services.list_objections(session, user, status=args["status"], page=args["page"],
                                        per_page=args["per_page"])
        return {**page.body(), "items": [objection_out(o, services.certificate_of(session, o)) for o in page.items]}


@blp.route("/certificate-objections/<string:objection_no>")
class ObjectionDetail(MethodView):
    @blp.response(200, schemas.CertificateObjectionFullSchema)
    def get(self, objection_no: str) -> Any:
        """一件证书异议（异议人本人、征信机构）"""
        user = require_user()
        session = db_session()
        o = services.objection_for(session, user, objection_no)
        return objection_out(o, services.certificate_of(session, o))


@blp.route("/certificate-objections/<string:objection_no>/resolve")
class ResolveObjection(MethodView):
    @blp.arguments(schemas.CertificateResolveSchema)
    @blp.response(200, schemas.CertificateObjectionFullSchema)
    def post(self, data: dict[str, Any], objection_no: str) -> Any:
        """处理证书异议（征信机构）：upheld 异议成立（公示中的评价结果不予发证）；dismissed 异议不成立"""
        user = require_user()
        cookie_csrf()
        session = db_session()
        o = services.resolve_objection(session, user, objection_no, data["outcome"], data["resolution"],
                                       request_id=g.get("request_id"))
        return objection_out(o, services.certificate_of(session, o))
