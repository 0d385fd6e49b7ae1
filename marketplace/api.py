"""The marketplace API: loan products (public list and detail; a bank officer creates,
edits and publishes its own) and a firm's matching products."""

from __future__ import annotations

from typing import Any

from flask import Response, g, url_for
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint

from app.accounts.auth import require_firm, require_user
from app.accounts.models import Role, User
from app.core.extensions import cookie_csrf, created, db_session, settings, signing_keys, writes
from app.core.schemas_base import PageArgs
from marketplace import applications, offers, repayments, schemas, services, stats
from reports.responses import json_response, report_doc
from reports.schemas import ReportSummarySchema

blp = ApiBlueprint("marketplace", __name__, url_prefix="/api/v1", description="信易贷：金融产品与匹配")


def _viewer() -> User | None:
    return current_user._get_current_object() if current_user.is_authenticated else None  # type: ignore[no-any-return]


def _cap() -> Any:
    s = settings()
    return services.rate_cap(s.lpr_1y, s.rate_cap_multiple)


@blp.route("/products")
class Products(MethodView):
    @blp.arguments(schemas.ProductListArgs, location="query")
    @blp.response(200, schemas.ProductPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """在售的信易贷产品（公开；可按类型、适用等级、领域、地区、金额、机构筛选）；mine=true 为本机构全部产品"""
        user = require_user(Role.bank) if args.get("mine") else None
        page = services.list_products(db_session(), args, user)
        return page.body()

    @blp.arguments(schemas.ProductInSchema)
    @blp.response(201, schemas.ProductOutSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """发布新产品（金融机构工作人员；创建为草稿，上架后公开）"""
        cookie_csrf()
        product = services.create_product(db_session(), require_user(Role.bank), data, _cap())
        return created(product, "marketplace.ProductDetail", product_no=product.product_no)


@blp.route("/products/<string:product_no>")
class ProductDetail(MethodView):
    @blp.response(200, schemas.ProductOutSchema)
    def get(self, product_no: str) -> Any:
        """产品详情（公开；草稿仅本机构可见）"""
        return services.get_product(db_session(), product_no, _viewer())

    @blp.arguments(schemas.ProductPatchSchema(partial=True))
    @blp.response(200, schemas.ProductOutSchema)
    def patch(self, data: dict[str, Any], product_no: str) -> Any:
        """修改本机构的产品"""
        cookie_csrf()
        return services.update_product(db_session(), require_user(Role.bank), product_no, data, _cap())


@blp.route("/products/<string:product_no>/status")
class ProductStatusView(MethodView):
    @blp.arguments(schemas.ProductStatusSchema)
    @blp.response(200, schemas.ProductOutSchema)
    def post(self, data: dict[str, Any], product_no: str) -> Any:
        """上架（live）、暂停（paused）、下架（closed）本机构的产品；不允许的状态变化返回 409"""
        cookie_csrf()
        return services.change_status(db_session(), require_user(Role.bank), product_no, data["status"])


@blp.route("/me/products")
class MyProducts(MethodView):
    @blp.response(200, schemas.MatchesSchema)
    def get(self) -> dict[str, Any]:
        """本企业可申请的产品（附符合的条件）与差一项即可申请的产品（附不满足的条件，如「要求 AA，当前 A」）"""
        user = require_firm()
        assert user.enterprise is not None
        facts, matches, near = services.products_for_firm(db_session(), user.enterprise)
        return {"grade": facts.grade, "eligible": matches, "near_misses": near}


@blp.route("/me/marketplace-profile")
class MyProfile(MethodView):
    @blp.response(200, schemas.ProfileSchema)
    def get(self) -> dict[str, Any]:
        """本企业的信易贷设置（是否允许金融机构主动授信时看到本企业）"""
        user = require_user(Role.firm)
        assert user.enterprise_id is not None
        return {"discoverable": services.is_discoverable(db_session(), user.enterprise_id)}

    @blp.arguments(schemas.ProfileSchema)
    @blp.response(200, schemas.ProfileSchema)
    def put(self, data: dict[str, Any]) -> dict[str, Any]:
        """开启或关闭「允许金融机构主动授信时看到本企业」"""
        cookie_csrf()
        profile = services.set_discoverable(db_session(), require_user(Role.firm), data["discoverable"])
        return {"discoverable": profile.discoverable}


@blp.route("/products/<string:product_no>/eligible-firms")
class EligibleFirms(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, schemas.CandidatePageSchema)
    def get(self, args: dict[str, Any], product_no: str) -> dict[str, Any]:
        """主动授信名单：允许被发现、且满足本机构该产品条件的企业，按等级、得分排序（本机构工作人员）"""
        page = services.firms_for_product(db_session(), require_user(Role.bank), product_no, args["page"],
                                          args["per_page"])
        return page.body()


@blp.route("/applications")
class Applications(MethodView):
    @blp.arguments(schemas.ApplicationListArgs, location="query")
    @blp.response(200, schemas.ApplicationPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """申请列表：企业看本企业的，金融机构看本机构收到的"""
        page = applications.list_applications(db_session(), require_user(), args["status"], args["page"],
                                              args["per_page"])
        return page.body()

    @blp.arguments(schemas.ApplicationInSchema)
    @blp.response(201, schemas.ApplicationOutSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """申请贷款（企业）。提交即授权该金融机构以「贷款申请审查」用途、在 30 日内查询本企业信用报告的以下部分：
        身份与登记信息、信用评价、记录概要、纳税、合同履约、电费、信贷、司法、行政许可与处罚、名单、异议、查询记录。"""
        cookie_csrf()
        app = applications.apply(db_session(), signing_keys(), require_user(Role.firm), data["product_no"],
                                 data["amount"], data["term_months"], data["purpose"], g.get("request_id"))
        return created(applications.with_timeline(db_session(), app), "marketplace.ApplicationDetail",
                       application_no=app.application_no)


@blp.route("/applications/<string:application_no>")
class ApplicationDetail(MethodView):
    @blp.response(200, schemas.ApplicationOutSchema)
    def get(self, application_no: str) -> Any:
        """一份申请及其时间线（申请企业与受理机构可见）"""
        app = applications.get_application(db_session(), require_user(), application_no)
        return applications.with_timeline(db_session(), app)


@blp.route("/applications/<string:application_no>/<string:action>")
class ApplicationStep(MethodView):
    @blp.arguments(schemas.StepSchema)
    @blp.response(200, schemas.ApplicationOutSchema)
    def post(self, data: dict[str, Any], application_no: str, action: str) -> Any:
        """推进申请：review / approve / reject（金融机构）；accept / decline / withdraw（企业）；disburse（金融机构）。
        不允许的状态变化返回 409，非对应一方返回 403"""
        cookie_csrf()
        app = applications.take_step(db_session(), require_user(), application_no, action, data,
                                     g.get("request_id"))
        return applications.with_timeline(db_session(), app)


@blp.route("/applications/<string:application_no>/repayments")
class ApplicationRepayments(MethodView):
    @blp.response(200, schemas.RepaymentListSchema)
    def get(self, application_no: str) -> dict[str, Any]:
        """已放款贷款的还款情况（申请企业与放款机构可见），按应还日期排列"""
        return repayments.repayment_list(db_session(), require_user(), application_no)

    @blp.arguments(schemas.RepaymentInSchema)
    @blp.response(201, schemas.RepaymentListSchema)
    @blp.alt_response(200, schema=schemas.RepaymentListSchema, description="已有的一期被更正（或原样重报）")
    def post(self, data: dict[str, Any], application_no: str) -> Any:
        """报送一期还款（仅放款的金融机构）：应还日期与金额、实还日期与金额（未还为 null）、逾期天数（可不填，按日期计算）。
        同一应还日期再次报送即更正该期，更正前的内容留在审计日志中；未放款的申请 409，非放款机构 403"""
        cookie_csrf()
        session = db_session()
        _, new = repayments.record_repayment(session, require_user(Role.bank), application_no, data,
                                            g.get("request_id"))
        body = repayments.repayment_list(session, require_user(), application_no)
        if not new:  # an instalment corrected (or resent as it stands)
            return body, 200
        return body, 201, {"Location": url_for("marketplace.ApplicationRepayments", application_no=application_no)}


@blp.route("/applications/<string:application_no>/report")
class ApplicationReport(MethodView):
    @blp.doc(**report_doc(201, "以申请的授权出具的报告文件", pdf=False, location=True, refusals=(401, 403, 404, 409)))
    def post(self, application_no: str) -> Response:
        """审查申请：以申请时企业授予的授权获取其信用报告（受理机构的信贷人员；经授权闸门计次并写入企业可见的查询记录；
        申请已拒绝、放弃或撤回后不再提供）"""
        cookie_csrf()
        report = applications.pull_report_for(db_session(), signing_keys(), require_user(Role.bank), application_no,
                                              g.get("request_id"))
        resp = json_response(report, 201)
        resp.headers["Location"] = url_for("reports.InstitutionReport", report_no=report.report_no)
        return resp


@blp.route("/applications/<string:application_no>/reports")
class ApplicationReports(MethodView):
    @blp.response(200, ReportSummarySchema(many=True))
    def get(self, application_no: str) -> Any:
        """以该申请的授权获取过的报告（受理机构）"""
        user = require_user(Role.bank)
        session = db_session()
        return applications.reports_for(session, user, applications.get_application(session, user, application_no))


@blp.route("/offers")
class Offers(MethodView):
    @blp.arguments(schemas.OfferListArgs, location="query")
    @blp.response(200, schemas.OfferPageSchema)
    @writes
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """授信邀约：企业看收到的，金融机构看发出的（过期的自动标记为已过期）"""
        page = offers.list_offers(db_session(), require_user(), args["status"], args["page"], args["per_page"])
        return page.body()

    @blp.arguments(schemas.OfferInSchema)
    @blp.response(201, schemas.OfferOutSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """向允许主动授信的 AA 级及以上企业发出预授信邀约（金融机构工作人员；须满足所选产品的条件）"""
        cookie_csrf()
        offer = offers.send_offer(db_session(), require_user(Role.bank), data)
        return created(offer, "marketplace.OfferDetail", offer_no=offer.offer_no)


@blp.route("/offers/<string:offer_no>")
class OfferDetail(MethodView):
    @blp.response(200, schemas.OfferOutSchema)
    @writes
    def get(self, offer_no: str) -> Any:
        """一份授信邀约（受邀企业与发出机构可见）"""
        return offers.get_offer(db_session(), require_user(), offer_no)


@blp.route("/offers/<string:offer_no>/<string:action>")
class OfferReply(MethodView):
    @blp.arguments(schemas.OfferReplySchema)
    @blp.response(200, schemas.OfferOutSchema)
    def post(self, data: dict[str, Any], offer_no: str, action: str) -> Any:
        """accept（企业：成为「已批准」的申请，并授权该机构查询）、decline（企业）、withdraw（机构）"""
        cookie_csrf()
        offer, _ = offers.respond(db_session(), signing_keys(), require_user(), offer_no, action, data.get("purpose"),
                                  g.get("request_id"))
        return offer


@blp.route("/marketplace/stats")
class Stats(MethodView):
    @blp.arguments(schemas.StatsArgs, location="query")
    @blp.response(200, schemas.StatsSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """信易贷统计（公开）：申请数、批准数、放款金额、平均批准利率；合计及按机构（bank）、领域（segment）、
        等级（grade）、月份（month）分组；from / to 为 YYYY-MM"""
        out = stats.marketplace_stats(db_session(), args["by"], args["month_from"], args["month_to"])
        return {**out, "month_from": out.pop("from"), "month_to": out.pop("to")}
