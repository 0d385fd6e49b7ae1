"""Evaluation API: a firm's current evaluation and timeline, and the grade distribution."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint

from app.accounts.auth import require_user
from app.accounts.models import Role
from app.archive.services import get_enterprise
from app.core.auth import caller_first
from app.core.errors import InvalidInput
from app.core.extensions import db_session
from app.core.schemas_base import PageArgs
from app.scoring import schemas, services
from app.scoring.index import INDEX_DEFINITION, index_base_month, published_index
from app.scoring.models import Evaluation
from app.scoring.scorecard import SUPERVISION_CLASSES
from app.scoring.validation import validate_scorecard

blp = Blueprint("scoring", __name__, url_prefix="/api/v1", description="信用评价：等级、三维度与分布")


PUBLIC_ATTRIBUTES = (
    "grade", "score", "reason", "coverage", "supervision_class", "willingness", "capability", "performance",
    "scorecard_id", "scorecard_version", "as_of", "evaluated_at", "inputs_digest",
)
# Only for those who see the explanation: the grade before a hard cap would tell anyone that
# a cap applies (a tax grade D, say, which banks see only under a report:tax consent).
EXPLAINED_ATTRIBUTES = ("uncapped_grade", "explanation")


def _may_see_explanation(enterprise_id: int) -> bool:
    if not current_user.is_authenticated:
        return False
    return bool(current_user.role == Role.operator
                or (current_user.role == Role.firm and current_user.enterprise_id == enterprise_id))


@blp.route("/enterprises/<string:uscc>/evaluation")
class CurrentEvaluation(MethodView):
    @blp.response(200, schemas.ExplainedEvaluationSchema)
    def get(self, uscc: str) -> Any:
        """当前信用评价：等级、分数与三维度公开；逐项解释与封顶前等级仅企业本身与运营人员可见"""
        session = db_session()
        ent = get_enterprise(session, uscc)
        evaluation = services.current_evaluation(session, ent)
        # Dumped by the response schema; ``explanation`` left out unless the reader may see it.
        data = {name: getattr(evaluation, name) for name in PUBLIC_ATTRIBUTES}
        if _may_see_explanation(ent.id):
            data.update({name: getattr(evaluation, name) for name in EXPLAINED_ATTRIBUTES})
        return data


@blp.route("/enterprises/<string:uscc>/evaluations")
class EvaluationTimeline(MethodView):
    @blp.response(200, schemas.TimelineSchema)
    def get(self, uscc: str) -> dict[str, list[Evaluation]]:
        """评价历史（等级时间线），按评价时间先后"""
        session = db_session()
        return {"items": services.timeline(session, get_enterprise(session, uscc))}


@blp.route("/grades/distribution")
class GradeDistribution(MethodView):
    @blp.arguments(schemas.DistributionArgs, location="query")
    @blp.response(200, schemas.DistributionSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """当前信用等级分布：合计与按业态"""
        session = db_session()
        grades = services.grade_distribution(session, args["segment"])
        segments = services.segment_distribution(session)
        if args["segment"]:
            segments = {args["segment"]: segments.get(args["segment"], grades)}
        return {"total": sum(grades.values()), "grades": grades, "segments": segments}


@blp.route("/supervision/<string:supervision_class>")
class SupervisionClass(MethodView):
    @blp.arguments(schemas.ClassArgs, location="query")
    @blp.response(200, schemas.ClassPageSchema)
    def get(self, args: dict[str, Any], supervision_class: str) -> dict[str, Any]:
        """信用分类监管：某一监管类别（A 绿色通道、B 常规、C 加强、D 重点监管）的企业，分数低者在前（运营人员）"""
        require_user(Role.operator)
        if supervision_class not in SUPERVISION_CLASSES:
            raise InvalidInput("监管类别不存在", errors={"supervision_class": ["应为 A、B、C、D 之一。"]})
        page = services.firms_in_class(db_session(), supervision_class, **args)
        return page.body(supervision_class=supervision_class)




@blp.route("/index")
class CreditPowerIndex(MethodView):
    @blp.arguments(schemas.IndexArgs, location="query")
    @blp.response(200, schemas.IndexSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """信用电力指数：按月，可按业态、省份筛选或分组，含三维度分指数、定基指数（基期 = 100）、离散度（标准差、四分位距）与尾部（B 级及以下、不予评级占比）"""
        region, session = args["region"], db_session()
        base = args["base"] or index_base_month(session)
        rows = published_index(session, segment=args["segment"], province=region[:2] if region else None,
                               first=args["from_"], last=args["to"], by=args["by"], base_month=base)
        return {"definition": INDEX_DEFINITION, "base_month": base, "items": rows}


@blp.route("/evaluation-runs")
class EvaluationRuns(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, schemas.EvaluationRunPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """信用评价批次（征信机构）：最新在前，每批评价的企业数、产生新评价的与结果不变的"""
        require_user(Role.operator)
        page = services.list_runs(db_session(), args["page"], args["per_page"])
        return page.body()


@blp.route("/scorecards")
class Scorecards(MethodView):
    @blp.response(200, schemas.ScorecardListSchema)
    def get(self) -> dict[str, Any]:
        """公开评分卡（无需登录）：各版本及当前评价所用的版本"""
        return {"items": services.published_scorecards()}


@blp.route("/scorecards/<string:version>")
class PublishedScorecard(MethodView):
    @blp.response(200, schemas.PublishedScorecardSchema)
    def get(self, version: str) -> dict[str, Any]:
        """公开评分卡的全部内容（无需登录）：维度与因子的权重、度量、分段分值、等级线、监管分类与封顶规则"""
        return services.published_scorecard(version)


@blp.route("/scorecards/<string:version>/validation")
class ScorecardValidation(MethodView):
    decorators = [caller_first()]

    @blp.arguments(schemas.ValidationArgs, location="query")
    @blp.response(200, schemas.ValidationReportSchema)
    def get(self, args: dict[str, Any], version: str) -> dict[str, Any]:
        """评分卡回测（运营人员）：D 日各企业最新评价与其后观察期内违约（逾期 90 天及以上或核销）的对照——各等级违约率与单调性、AUC/Gini/KS、校准表与 Brier 分数、等级分布的人群稳定性（PSI）"""
        require_user(Role.operator)
        return validate_scorecard(db_session(), version, args["as_of"], args["horizon_months"], args["compare_as_of"])
