"""The audit log's API: its events for operators; the events about a firm for that firm; the
Merkle tree's signed heads (public) and proofs (RFC 9162): inclusion for the firm an event is
about (and operators), consistency for anyone.  ``powercredit audit verify`` checks it all."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask.views import MethodView
from flask_smorest import Blueprint

from app.audit import schemas, services
from app.core.auth import TenancyDenied, signed_in
from app.core.extensions import created, db_session, settings, signing_keys
from app.core.schemas_base import PageArgs

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="审计日志：事件、签名树头与默克尔证明")


def _firm_uscc(user: Any) -> str | None:
    """The caller's firm (None for an operator, who sees every firm's events)."""
    return None if str(user.role) == "operator" else str(user.enterprise.uscc)


@blp.route("/audit-events")
class AuditEvents(MethodView):
    @blp.arguments(schemas.AuditEventArgs, location="query")
    @blp.response(200, schemas.AuditEventPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """审计日志（运营人员）：每次授权变更、查询、报告出具与读取、拒绝，按时间倒序，可按操作、操作者、对象、结果、请求编号筛选；
        哈希链与默克尔树用 powercredit audit verify 核验"""
        signed_in("operator")
        return services.list_events(db_session(), **args).body()


@blp.route("/enterprises/<string:uscc>/audit-events")
class FirmAuditEvents(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, schemas.FirmEventPageSchema)
    def get(self, args: dict[str, Any], uscc: str) -> dict[str, Any]:
        """与一家企业有关的审计事件（企业本身、运营人员）：每次对其数据的访问（报告查询、数据调取、报告重读，被拒绝的也在内），
        按时间倒序，各带其在默克尔树中的位置；据事件编号可取包含证明"""
        own = _firm_uscc(signed_in("firm", "operator"))
        if own is not None and own != uscc:
            raise TenancyDenied("企业用户只能查看与本企业有关的审计事件")
        return services.firm_events(db_session(), uscc, **args).body()


@blp.route("/audit/tree-head")
class LatestTreeHead(MethodView):
    @blp.response(200, schemas.TreeHeadSchema)
    def get(self) -> Any:
        """最新的签名树头（公开）：审计日志默克尔树的大小与根哈希，以平台 Ed25519 密钥签名（公钥见 /.well-known/jwks.json）"""
        return services.latest_head(db_session())


@blp.route("/audit/tree-heads")
class TreeHeads(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, schemas.TreeHeadPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """历次签名树头（公开），按时间倒序"""
        return services.list_heads(db_session(), **args).body()

    @blp.response(201, schemas.TreeHeadSchema)
    def post(self) -> Any:
        """立即签名树头（运营人员）：把新事件纳入默克尔树并签名，存入数据库，并追加到实例目录下的库外文件"""
        signed_in("operator")
        session = db_session()
        head = services.sign_head(session, signing_keys())
        document, folder = services.head_document(head), services.heads_folder(settings().instance_path)
        # Outside the database only once the head is committed in it (as the job does): a
        # request that fails (a busy database, say) leaves no head in the files alone.
        sa.event.listen(session, "after_commit", lambda _s: services.publish_head(folder, document), once=True)
        return created(head, "audit.TreeHead", head_id=head.id)


@blp.route("/audit/tree-heads/<int:head_id>")
class TreeHead(MethodView):
    @blp.response(200, schemas.TreeHeadSchema)
    def get(self, head_id: int) -> Any:
        """一个签名树头（公开）"""
        return services.get_head(db_session(), head_id)


@blp.route("/audit/proofs/inclusion")
class InclusionProof(MethodView):
    @blp.arguments(schemas.InclusionArgs, location="query")
    @blp.response(200, schemas.InclusionProofSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """包含证明（RFC 9162 §2.1.3）：某审计事件在大小为 tree_size 的树中（企业：仅限与本企业有关的事件；运营人员：任一事件）"""
        uscc = _firm_uscc(signed_in("firm", "operator"))
        return services.inclusion_proof(db_session(), args["event"], args["tree_size"], uscc=uscc)


@blp.route("/audit/proofs/consistency")
class ConsistencyProof(MethodView):
    @blp.arguments(schemas.ConsistencyArgs, location="query")
    @blp.response(200, schemas.ConsistencyProofSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """一致性证明（RFC 9162 §2.1.4，公开）：大小为 second 的树是大小为 first 的树的延续"""
        return services.consistency_proof(db_session(), args["first"], args["second"])
