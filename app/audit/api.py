"""The audit log's API: its events, for operators (``powercredit audit verify`` checks the chain)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from app.audit import schemas, services
from app.core.auth import signed_in
from app.core.extensions import db_session

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="审计日志")


@blp.route("/audit-events")
class AuditEvents(MethodView):
    @blp.arguments(schemas.AuditEventArgs, location="query")
    @blp.response(200, schemas.AuditEventPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """审计日志（运营人员）：每次授权变更、查询、报告出具与读取、拒绝，按时间倒序，可按操作、操作者、对象、结果、请求编号筛选；
        哈希链用 powercredit audit verify 核验"""
        signed_in("operator")
        return services.list_events(db_session(), **args).body()
