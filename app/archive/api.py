"""Archive API: enterprise search and profile (public), records (operator / the firm),
registration (operator) and the providers' batch ingestion endpoint (OAuth2)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.wsgi import LimitedStream

from app.archive import ingestion, relations, schemas, services
from app.archive.errors import BatchTooLarge
from app.archive.ingestion_results import JsonLine
from app.archive.services import require_archive_access
from app.core.auth import bearer_token, signed_in
from app.core.errors import (
    DomainError,
    InvalidInput,
    MalformedJson,
    PayloadTooLarge,
    UnsupportedMediaType,
    json_error_text,
)
from app.core.extensions import after_rollback, cipher, csrf, db_session, settings, writes
from app.core.refusals import Pending, record_now
from app.core.schemas_base import PageArgs, With

blp = Blueprint("archive", __name__, url_prefix="/api/v1", description="信用档案：企业与信用记录")

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


@blp.route("/enterprises")
class Enterprises(MethodView):
    @blp.arguments(schemas.EnterpriseSearchArgs, location="query")
    @blp.response(200, schemas.EnterprisePageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """按名称或统一社会信用代码检索企业（公开信息，分页）"""
        page = services.search_enterprises(db_session(), **args)
        return page.body()

    @blp.arguments(schemas.EnterpriseInSchema)
    @blp.response(201, schemas.EnterpriseDetailSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """登记新企业（运营人员；严格校验统一社会信用代码）"""
        signed_in("operator")
        ent, _ = services.register_enterprise(db_session(), cipher(), data)
        return services.enterprise_detail(cipher(), ent)


@blp.route("/enterprises/<string:uscc>")
class EnterpriseProfile(MethodView):
    @blp.response(200, schemas.EnterprisePublicSchema)
    def get(self, uscc: str) -> Any:
        """企业公开登记信息"""
        return services.get_enterprise(db_session(), uscc)


@blp.route("/enterprises/<string:uscc>/profile")
class EnterprisePrivateProfile(MethodView):
    @blp.response(200, schemas.EnterpriseDetailSchema)
    @writes  # an operator's read is audited
    def get(self, uscc: str) -> Any:
        """企业完整登记信息，含法定代表人与联系方式（运营人员或企业本身）"""
        user = signed_in()
        ent = services.get_enterprise(db_session(), uscc)
        require_archive_access(user, ent)
        audit_operator_read(user, ent, "profile")
        return services.enterprise_detail(cipher(), ent)


@blp.route("/enterprises/<string:uscc>/records")
class EnterpriseRecords(MethodView):
    @blp.arguments(schemas.RecordFilterArgs, location="query")
    @blp.response(200, schemas.RecordPageSchema)
    @writes  # an operator's read is audited
    def get(self, args: dict[str, Any], uscc: str) -> dict[str, Any]:
        """企业的信用记录（运营人员或企业本身；可按类别、性质、状态、日期筛选）"""
        user = signed_in()
        session = db_session()
        ent = services.get_enterprise(session, uscc)
        require_archive_access(user, ent)
        audit_operator_read(user, ent, "records")
        page = services.list_records(session, ent, **args)
        return page.body()


def audit_operator_read(user: Any, ent: Any, what: str) -> None:
    """An operator reading a firm's archive is an access to its data: in the audit log under
    the firm's code, so the firm sees it and can get its inclusion proof."""
    if str(user.role) != "operator":
        return  # the firm reading its own
    record_now(db_session(), Pending(actor=f"user:{user.username}", action="archive.read", code=None, outcome="ok",
                                     subject_type="enterprise", subject_id=ent.uscc,
                                     detail={"uscc": ent.uscc, "what": what}), g.get("request_id"))


_READ_PIECE = 64 * 1024


def _read_body(limit: int) -> bytes:
    """The whole request body, or a 413 when it is longer than ``limit`` bytes, however it is
    framed.  A declared ``Content-Length`` over the limit is refused before reading; a
    chunked body (no length: the server de-chunks it, ``wsgi.input_terminated``) is read to
    one byte past the limit, and refused if that byte comes — never cut short at the limit
    and taken for the whole (werkzeug's stream stops there silently)."""
    declared = request.content_length
    mib = f"（{limit // 2**20} MiB）" if limit % 2**20 == 0 else ""
    too_large = PayloadTooLarge(f"请求体超过 {limit} 字节{mib}的上限：整批未写入，请拆分后重试",
                                code="request_entity_too_large",  # as every other 413 of the service
                                errors={"_batch": [f"请求体超过 {limit} 字节的上限。"]})
    if declared is not None and declared > limit:
        _drain(declared, limit)
        raise too_large
    request.max_content_length = limit + 1  # the stream may give the one byte that tells
    pieces: list[bytes] = []
    size = 0
    try:
        stream = request.stream
        while piece := stream.read(min(_READ_PIECE, limit + 1 - size)):
            size += len(piece)
            if size > limit:
                _drain(None, limit)
                raise too_large
            pieces.append(piece)
    except RequestEntityTooLarge as exc:
        raise too_large from exc
    except ClientDisconnected as exc:
        raise MalformedJson("请求体没有收全（连接中断）", code="incomplete_body",
                            errors={"_batch": [f"收到 {size} 字节后连接中断。"]}) from exc
    return b"".join(pieces)


def _drain(declared: int | None, limit: int) -> None:
    """Read and drop what is left of a body refused as too large, so that a client still
    sending it reads the 413 instead of a connection reset (a server that closes a socket with
    unread data resets it) — for a body up to twice the limit; a larger one is left unread,
    and its client may see the reset, as from any server."""
    if declared is not None:
        if declared > 2 * limit:
            return
        stream: Any = LimitedStream(request.input_stream, declared)
        left = declared
    elif "wsgi.input_terminated" in request.environ:  # chunked: what the server de-chunks next
        stream, left = request.input_stream, limit
    else:
        return
    try:
        while left > 0 and (piece := stream.read(min(_READ_PIECE, left))):
            left -= len(piece)
    except (OSError, ValueError, ClientDisconnected):  # the client gave up: nothing to wait for
        return


def _split_lines(body: str) -> list[str]:
    """NDJSON lines: split at ``\n`` (a ``\r`` before it dropped) and nowhere else — not at the
    U+2028, U+0085 or form feed that ``str.splitlines`` also breaks at, which a JSON string may
    hold unescaped."""
    return [line[:-1] if line.endswith("\r") else line for line in body.split("\n")]


def _parse_batch_body() -> list[Any]:
    mimetype = request.mimetype
    if mimetype not in ("application/json", *NDJSON_TYPES):
        raise UnsupportedMediaType(
            f"不支持的内容类型 {mimetype or '（未指定）'}：请使用 application/json（JSON 数组）"
            " 或 application/x-ndjson（每行一个 JSON 对象）"
        )
    raw = _read_body(settings().max_batch_bytes)
    try:
        body = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise MalformedJson("请求体不是合法的 UTF-8 文本", errors={"_batch": [json_error_text(exc)]}) from exc
    del raw
    if mimetype == "application/json":
        try:
            rows = json.loads(body, parse_float=Decimal)
        except (ValueError, RecursionError) as exc:
            raise MalformedJson("请求体不是合法的 JSON", errors={"_batch": [json_error_text(exc)]}) from exc
        if not isinstance(rows, list):
            raise InvalidInput("请求体应为 JSON 数组", errors={"_batch": ["应为记录的 JSON 数组。"]})
        return rows
    return [JsonLine(n, line).parse() for n, line in enumerate(_split_lines(body), start=1) if line.strip()]


@blp.route("/records/batch")
class RecordBatch(MethodView):
    decorators = [csrf.exempt]

    @blp.arguments(schemas.BatchArgs, location="query")
    @blp.response(200, schemas.BatchResultSchema)
    @blp.doc(
        security=[{"oauth2": ["records:write"]}],
        requestBody={
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "array", "items": schemas.RecordInSchema}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        },
    )
    def post(self, args: dict[str, Any]) -> Any:
        """数据源批量报送信用记录（OAuth2 客户端凭证，scope records:write）

        逐行校验；合格行在同一事务中写入，不合格行按行号、字段与原因返回。
        mode=all_or_nothing 时只要有一行不合格，整批不写入（422）。
        请求体（JSON 数组或 NDJSON，定长或分块传输）超过上限时整批拒收（413），不写入任何记录。
        每一批都留下报送批次记录：整批被拒的（413、400、415、422）也有，committed 为 false，
        整批被拒的原因记在行号 -1 的 _batch 下。
        """
        token = bearer_token("records:write")
        session = db_session()
        client = token.client
        if client.provider_id is None:
            raise InvalidInput("该客户端不属于任何数据源", code="not_a_provider")
        provider = session.get_one(services.DataProvider, client.provider_id)
        # Whatever refuses the batch from here on, the request's transaction is rolled back
        # and this records the batch's run in a transaction of its own (a success drops it).
        refused = ingestion.RefusedBatch(provider.id, "api", args["mode"], reason={"_batch": [
            f"处理本批时出错，整批未写入（请求编号 {g.get('request_id', '-')}）。"]})
        after_rollback(session, refused.record)
        try:
            rows = _parse_batch_body()
            refused.total = len(rows)
            limit = settings().max_batch_rows
            if not rows:
                raise InvalidInput("批次为空", errors={"_batch": ["至少一条记录。"]})
            if len(rows) > limit:
                raise BatchTooLarge(f"一批最多 {limit} 条记录，本批 {len(rows)} 条，请拆分后重试",
                                    errors={"_batch": [f"超过每批 {limit} 条的上限。"]})
            result = ingestion.submit_batch(session, provider, rows, source="api", mode=args["mode"])
        except DomainError as exc:
            refused.because(exc.detail, exc.errors)
            raise
        if not result.committed:
            refused.result, refused.reason = result, None  # its refused rows say why
            errors = {
                f"rows[{r.index}].{field}": msgs
                for r in result.refusals for field, msgs in (r.errors or {}).items()
            }
            raise InvalidInput(
                f"整批模式下有 {result.refused} 行未通过校验，整批未写入", code="batch_refused", errors=errors
            )
        return result


@blp.route("/ingestion-runs")
class IngestionRuns(MethodView):
    @blp.arguments(schemas.RunArgs, location="query")
    @blp.response(200, schemas.RunPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """报送批次（征信机构）：最新在前；provider 按数据源代码筛选，refused_only 只看有被拒行的批次"""
        signed_in("operator")
        page = services.list_runs(db_session(), args["page"], args["per_page"], args["provider"],
                                  args["refused_only"])
        return page.body()


@blp.route("/ingestion-runs/<int:run_id>")
class IngestionRunDetail(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, schemas.RunDetailSchema)
    def get(self, args: dict[str, Any], run_id: int) -> Any:
        """一个报送批次的逐行结果（征信机构）：被拒行（行号、字段、原因）与写入的记录（新增、更正；分页）"""
        signed_in("operator")
        session = db_session()
        run = services.get_run(session, run_id)
        rows = services.run_rows(session, run, args["page"], args["per_page"])
        return With(run, refusals=run.refusals, rows=rows.items, rows_meta=rows.meta)


# --- enterprise relations (集团与子公司) ------------------------------------------------------

@blp.route("/enterprise-relations/batches")
class RelationBatches(MethodView):
    decorators = [csrf.exempt]

    @blp.response(200, schemas.RelationBatchResultSchema)
    @blp.doc(
        security=[{"oauth2": ["records:write"]}],
        requestBody={
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "array", "items": schemas.RelationInSchema}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        },
    )
    def post(self) -> Any:
        """数据源批量报送企业关系（集团与子公司；OAuth2 客户端凭证，scope records:write）

        每行：parent_uscc、child_uscc、kind（wholly_owned 全资、controlling 控股、minority 参股）、
        share（持股比例，百分数）、valid_from，可选 valid_to（关系结束之日）与 provider_ref。
        与现有关系相同的行不作改动；类型或比例变化时，旧关系于 valid_from 结束并新增一行；历史不删改。
        整批写入或整批拒收（422，按 rows[行号].字段 说明原因）：企业不存在、持有自身、循环持股、比例越界等。
        """
        token = bearer_token("records:write")
        session = db_session()
        client = token.client
        if client.provider_id is None:
            raise InvalidInput("该客户端不属于任何数据源", code="not_a_provider")
        provider = session.get_one(services.DataProvider, client.provider_id)
        rows = _parse_batch_body()
        return relations.file_relations(session, relations.Filer(provider=provider), rows)


@blp.route("/enterprise-relations")
class Relations(MethodView):
    @blp.arguments(schemas.RelationListArgs, location="query")
    @blp.response(200, schemas.RelationPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """企业关系（征信机构）：默认只列现行关系；uscc 只看某企业作为母公司或子公司的关系"""
        signed_in("operator")
        page = relations.list_relations(db_session(), **args)
        return page.body()
