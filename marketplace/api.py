"""The marketplace API: loan products (public list and detail; a bank officer creates,
edits and publishes its own) and a firm's matching products."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint

from app.accounts.auth import require_user
from app.accounts.models import Role, User
from app.errors import Forbidden
from app.extensions import db_session, settings
from app.schemas_base import PageArgs
from consent.api import cookie_csrf
from marketplace import schemas, services

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
        return {"items": page.items, "meta": page.meta}

    @blp.arguments(schemas.ProductInSchema)
    @blp.response(201, schemas.ProductOutSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """发布新产品（金融机构工作人员；创建为草稿，上架后公开）"""
        cookie_csrf()
        return services.create_product(db_session(), require_user(Role.bank), data, _cap())


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
        user = require_user(Role.firm)
        if user.enterprise is None:
            raise Forbidden("该账号未关联企业", code="no_enterprise")
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
        return {"items": page.items, "meta": page.meta}
