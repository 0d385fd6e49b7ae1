"""The oversight API: public lists and profiles; a firm's objections, repair requests,
commitments and notices; the operator's resolutions, decisions and list publication."""

from __future__ import annotations

import base64
from typing import Any

from flask import Response, g, request
from flask.views import MethodView
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import Schema

from app.accounts.auth import require_firm, require_user
from app.accounts.models import Role, User
from app.archive.services import get_enterprise
from app.core import clock
from app.core.errors import NotFound, json_object_body
from app.core.extensions import cookie_csrf, db_session, signing_keys, writes
from app.core.schemas_base import With
from app.oversight import commitments, disclosure, lists, notices, objections, repair, schemas
from app.oversight.models import (
    LIST_LABELS,
    EvidenceFile,
    ListEntry,
    ListName,
    Objection,
    RepairRequest,
)

blp = ApiBlueprint("oversight", __name__, url_prefix="/api/v1", description="信用监管：名单、异议、修复、承诺与公示")


def form_or_json(schema: Schema) -> tuple[dict[str, Any], list[objections.Upload]]:
    """A body as JSON, or as a multipart form with evidence files (field ``files``)."""
    if request.mimetype == "multipart/form-data":
        raw: Any = {k: v for k, v in request.form.items() if k != "csrf_token"}
        files = []
        for f in request.files.getlist("files"):
            try:
                if f.filename or f.content_length:
                    files.append(objections.Upload(f.filename or "evidence", f.mimetype or "", f.read()))
            finally:  # large parts are spooled to temporary files: closed as soon as read
                f.close()
    else:
        raw = json_object_body("请求体应为 JSON 对象或 multipart 表单")
        files = []
    return dict(schema.load(raw)), files


def evidence_response(ev: EvidenceFile) -> Response:
    resp = Response(ev.data, mimetype=ev.content_type)
    resp.headers["Content-Disposition"] = f'attachment; filename="evidence-{ev.id}"'
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Digest"] = f"sha-256=:{base64.b64encode(bytes.fromhex(ev.sha256)).decode()}:"  # RFC 9530
    return resp


def objection_out(session: Any, o: Objection, files: bool = True) -> With:
    return With(o, overdue=o.status == "open" and o.due_on < clock.today(),
                files=objections.files_of(session, o) if files else [])


def repair_out(session: Any, r: RepairRequest) -> With:
    return With(r, files=repair.files_of(session, r))


def entry_out(session: Any, entry: ListEntry) -> With:
    return With(entry, events=lists.events_of(session, entry), repair_from=repair.earliest_repair(entry))


# --- lists --------------------------------------------------------------------------------------


@blp.route("/lists/<string:name>")
class PublicList(MethodView):
    @blp.arguments(schemas.ListArgs, location="query")
    @blp.response(200, schemas.PublicListSchema)
    def get(self, args: dict[str, Any], name: str) -> dict[str, Any]:
        """红名单（red）、黑名单（black）、重点关注名单（watch）：已公示的在列企业（公开，分页，可按名称或代码查找）"""
        if name not in set(ListName):
            raise NotFound(f"没有名为 {name} 的名单（应为 red、black 或 watch）", code="list_not_found")
        page = lists.published(db_session(), name, args["page"], args["per_page"], args["q"])
        return page.body(list=name, label=LIST_LABELS[ListName(name)])


@blp.route("/list-changes")
class PendingChanges(MethodView):
    @blp.arguments(schemas.PendingArgs, location="query")
    @blp.response(200, schemas.EntryPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """待发布的名单变化（征信机构）"""
        require_user(Role.operator)
        page = lists.pending(db_session(), args["page"], args["per_page"], args["list"])
        return page.body()


@blp.route("/list-changes/publish")
class Publish(MethodView):
    @blp.arguments(schemas.PublishSchema)
    @blp.response(200, schemas.EntryPageSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """发布待发布的名单记录（征信机构；不指定则全部发布）：自今日起在列、公示，并重新评价相关企业"""
        user = require_user(Role.operator)
        cookie_csrf()
        done = lists.publish(db_session(), data["entry_ids"], actor=f"user:{user.username}")
        return {"items": done, "meta": {"page": 1, "per_page": max(1, len(done)), "total": len(done), "pages": 1}}


@blp.route("/lists/refresh")
class Refresh(MethodView):
    @blp.arguments(schemas.RefreshSchema)
    @blp.response(200, schemas.RefreshResultSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """按列入标准重新计算各名单（征信机构；幂等，记录每一项列入与移出）"""
        user = require_user(Role.operator)
        cookie_csrf()
        session = db_session()
        actor = f"user:{user.username}"
        result = lists.refresh(session, data["as_of"], actor=actor)
        published = len(lists.publish(session, None, actor=actor, on=result.as_of)) if data["publish"] else 0
        return {**result.__dict__, "published": published}


@blp.route("/list-entries/<int:entry_id>")
class Entry(MethodView):
    @blp.response(200, schemas.EntrySchema)
    def get(self, entry_id: int) -> Any:
        """一项名单记录的依据与变化（企业本身、征信机构）"""
        user = require_user()
        session = db_session()
        entry = lists.get_entry(session, entry_id)
        if user.role != Role.operator and (user.role != Role.firm or user.enterprise_id != entry.enterprise_id):
            raise lists.EntryNotFound(f"没有编号为 {entry_id} 的名单记录")
        return entry_out(session, entry)


@blp.route("/me/lists")
class MyLists(MethodView):
    @blp.response(200, schemas.EntrySchema(many=True))
    def get(self) -> Any:
        """本企业的名单记录（含历史、依据的记录、可申请修复的日期）"""
        user = require_firm()
        session = db_session()
        assert user.enterprise_id is not None
        return [entry_out(session, e) for e in lists.entries_of(session, user.enterprise_id)]


# --- objections --------------------------------------------------------------------------------


@blp.route("/objections")
class Objections(MethodView):
    @blp.arguments(schemas.ObjectionArgs, location="query")
    @blp.response(200, schemas.ObjectionPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """异议：企业看本企业的，征信机构看全部（未处理的按答复期限排序；overdue=true 只看逾期的）"""
        page = objections.list_objections(db_session(), require_user(Role.firm, Role.operator), args["status"],
                                          args["overdue"], args["page"], args["per_page"])
        session = db_session()
        return {**page.body(), "items": [objection_out(session, o, files=False) for o in page.items]}

    @blp.doc(requestBody={"content": {
        "application/json": {"schema": schemas.ObjectionInSchema},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "record_id": {"type": "integer"}, "reason": {"type": "string"},
            "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}})
    @blp.response(201, schemas.ObjectionOutSchema)
    def post(self) -> Any:
        """对本企业的一条记录提出异议（企业）：记录立即标注「异议中」；可附 PDF/PNG/JPEG 证明材料（至多 5 个，每个 ≤ 5 MB）"""
        user = require_firm()
        cookie_csrf()
        data, files = form_or_json(schemas.ObjectionInSchema())
        session = db_session()
        o = objections.file_objection(session, user, data["record_id"], data["reason"], files, g.get("request_id"))
        return objection_out(session, o)


@blp.route("/objections/<string:objection_no>")
class ObjectionDetail(MethodView):
    @blp.response(200, schemas.ObjectionOutSchema)
    def get(self, objection_no: str) -> Any:
        """一件异议（提出异议的企业、征信机构）"""
        session = db_session()
        o = objections.get_objection(session, require_user(Role.firm, Role.operator), objection_no)
        return objection_out(session, o)


@blp.route("/objections/<string:objection_no>/files/<int:file_id>")
class ObjectionFile(MethodView):
    def get(self, objection_no: str, file_id: int) -> Response:
        """下载异议的证明材料"""
        return evidence_response(objections.evidence(db_session(), require_user(Role.firm, Role.operator),
                                                     objection_no, file_id))


@blp.route("/objections/<string:objection_no>/resolve")
class Resolve(MethodView):
    @blp.arguments(schemas.ResolveSchema)
    @blp.response(200, schemas.ObjectionOutSchema)
    def post(self, data: dict[str, Any], objection_no: str) -> Any:
        """处理异议（征信机构）：corrected（附 corrected_payload，更正原记录并保留历史）、removed（删除记录）、
        upheld（维持，附说明）；告知企业并重新评价"""
        user = require_user(Role.operator, Role.firm)
        cookie_csrf()
        session = db_session()
        o = objections.resolve(session, user, objection_no, data["outcome"], data["explanation"],
                               data["corrected_payload"], g.get("request_id"))
        return objection_out(session, o)


# --- repair ------------------------------------------------------------------------------------


@blp.route("/repairs")
class Repairs(MethodView):
    @blp.arguments(schemas.RepairArgs, location="query")
    @blp.response(200, schemas.RepairPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """信用修复申请：企业看本企业的，征信机构看全部（待审核在前）"""
        page = repair.list_requests(db_session(), require_user(Role.firm, Role.operator), args["status"],
                                    args["page"], args["per_page"])
        return page.body()

    @blp.doc(requestBody={"content": {
        "application/json": {"schema": schemas.RepairInSchema},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "entry_id": {"type": "integer"}, "rectification": {"type": "string"},
            "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}})
    @blp.response(201, schemas.RepairOutSchema)
    def post(self) -> Any:
        """申请信用修复（企业，黑名单或重点关注名单在列；须满最短期限）：附整改说明与证明材料"""
        user = require_firm()
        cookie_csrf()
        data, files = form_or_json(schemas.RepairInSchema())
        session = db_session()
        r = repair.apply_for_repair(session, user, data["entry_id"], data["rectification"], files,
                                    g.get("request_id"))
        return repair_out(session, r)


@blp.route("/repairs/<string:request_no>")
class RepairDetail(MethodView):
    @blp.response(200, schemas.RepairOutSchema)
    def get(self, request_no: str) -> Any:
        """一件信用修复申请（申请企业、征信机构）"""
        session = db_session()
        r = repair.get_request(session, require_user(Role.firm, Role.operator), request_no)
        return repair_out(session, r)


@blp.route("/repairs/<string:request_no>/files/<int:file_id>")
class RepairFile(MethodView):
    def get(self, request_no: str, file_id: int) -> Response:
        """下载修复申请的证明材料"""
        return evidence_response(repair.evidence(db_session(), require_user(Role.firm, Role.operator),
                                                 request_no, file_id))


@blp.route("/repairs/<string:request_no>/decide")
class Decide(MethodView):
    @blp.arguments(schemas.DecideSchema)
    @blp.response(200, schemas.RepairOutSchema)
    def post(self, data: dict[str, Any], request_no: str) -> Any:
        """审核信用修复申请（征信机构）：批准即自今日起移出名单，相关处罚停止公示；告知企业"""
        user = require_user(Role.operator, Role.firm)
        cookie_csrf()
        session = db_session()
        r = repair.decide(session, user, request_no, data["approve"], data["reason"], g.get("request_id"))
        return repair_out(session, r)


# --- commitments -------------------------------------------------------------------------------


@blp.route("/commitment-texts")
class CommitmentTexts(MethodView):
    @blp.response(200, schemas.CommitmentTextSchema(many=True))
    @writes
    def get(self) -> Any:
        """现行信用承诺文本（公开）"""
        return commitments.current_texts(db_session())


@blp.route("/commitments")
class Commitments(MethodView):
    @blp.response(200, schemas.CommitmentOutSchema(many=True))
    def get(self) -> Any:
        """本企业签署的信用承诺（企业）"""
        user = require_firm()
        assert user.enterprise_id is not None
        return commitments.signed_by(db_session(), user.enterprise_id)

    @blp.arguments(schemas.SignSchema)
    @blp.response(201, schemas.CommitmentOutSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """签署信用承诺（企业管理员）：平台以 Ed25519 签名承诺声明，计入信用档案与守信意愿"""
        user = require_firm()
        cookie_csrf()
        return commitments.sign(db_session(), signing_keys(), user, data["text"], data["signatory"],
                                data["signatory_title"], g.get("request_id"))


@blp.route("/commitments/<string:commitment_no>")
class CommitmentDetail(MethodView):
    @blp.response(200, schemas.CommitmentOutSchema)
    def get(self, commitment_no: str) -> Any:
        """一份已签署的信用承诺及其签名声明（签署企业、征信机构）"""
        user: User = require_user(Role.firm, Role.operator)
        c = commitments.get_commitment(db_session(), commitment_no)
        if user.role != Role.operator and user.enterprise_id != c.enterprise_id:
            raise commitments.CommitmentNotFound(f"没有编号为 {commitment_no} 的信用承诺")
        return c


# --- notices and the public profile ------------------------------------------------------------


@blp.route("/me/notices")
class MyNotices(MethodView):
    @blp.arguments(schemas.PageArgs, location="query")
    @blp.response(200, schemas.NoticePageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """本企业收到的通知（异议处理结果、修复审核、名单变化）"""
        user = require_firm()
        session = db_session()
        assert user.enterprise_id is not None
        page = notices.notices_for(session, user.enterprise_id, args["page"], args["per_page"])
        return page.body(unread=notices.unread_count(session, user.enterprise_id))


@blp.route("/me/notices/read")
class ReadNotices(MethodView):
    @blp.response(200, schemas.UnreadSchema)
    def post(self) -> dict[str, Any]:
        """把通知标为已读"""
        user = require_firm()
        cookie_csrf()
        assert user.enterprise_id is not None
        notices.mark_read(db_session(), user.enterprise_id)
        return {"unread": 0}


@blp.route("/public/enterprises/<string:uscc>")
class PublicProfile(MethodView):
    @blp.response(200, schemas.PublicProfileSchema)
    def get(self, uscc: str) -> dict[str, Any]:
        """企业信用公示（公开，无需登录）：登记信息、当前信用等级、名单、双公示许可与处罚（公示期内）、信用承诺"""
        session = db_session()
        return disclosure.public_profile(session, get_enterprise(session, uscc.strip().upper()))

