"""Group API: a group's subsidiaries (every level) and its dashboard's numbers, for the
group's credit managers and for operators.  Anything beyond a subsidiary's public facts goes
through the consent gate (``app.groups.services.disclose``)."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint

from app.accounts.auth import require_user
from app.core.extensions import db_session, writes
from app.core.schemas_base import PageArgs
from app.groups import schemas, services

blp = Blueprint("groups", __name__, url_prefix="/api/v1", description="电力集团：子公司、等级分布与横向对标")


@blp.route("/groups/<string:uscc>/subsidiaries")
class Subsidiaries(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, schemas.SubsidiaryPageSchema)
    @writes  # each subsidiary seen beyond its public facts is a gated, logged access
    def get(self, args: dict[str, Any], uscc: str) -> dict[str, Any]:
        """集团的各级子公司（本集团的信用管理人员、征信机构；分页）

        等级、上次等级与变化为公开信息；得分、三个维度与百分位仅对给予本集团「集团信用管理」授权
        （含信用评价部分）的子公司显示，每次查看记入该子公司的查询记录。其他集团或企业一律 403。
        """
        session = db_session()
        user = require_user()
        group = services.group_of(session, user, uscc)
        rows, total = services.list_subsidiaries(session, user, group, page=args["page"], per_page=args["per_page"],
                                                 resource=request.path, request_id=g.get("request_id"))
        return {"items": rows, "meta": {"page": args["page"], "per_page": args["per_page"], "total": total,
                                        "pages": max(1, -(-total // args["per_page"]))}}


@blp.route("/groups/<string:uscc>/subsidiaries/<string:subsidiary>")
class SubsidiaryDetail(MethodView):
    @blp.response(200, schemas.SubsidiaryOutSchema)
    @writes
    def get(self, uscc: str, subsidiary: str) -> Any:
        """集团的一家子公司（本集团的信用管理人员、征信机构）；不是其子公司的企业为 403"""
        session = db_session()
        user = require_user()
        group = services.group_of(session, user, uscc)
        return services.subsidiary(session, user, group, subsidiary, resource=request.path,
                                   request_id=g.get("request_id"))


@blp.route("/groups/<string:uscc>/benchmark")
class GroupBenchmark(MethodView):
    @blp.response(200, schemas.BenchmarkSchema)
    @writes
    def get(self, uscc: str) -> Any:
        """集团看板的数据：等级分布、二级公司 AAA 占比与 50% 目标、等级变化、横向对标（经授权的子公司）"""
        session = db_session()
        user = require_user()
        group = services.group_of(session, user, uscc)
        return services.benchmark(session, user, group, resource=request.path, request_id=g.get("request_id"))
