"""监测预警 API: subscriptions and the alert inbox (webhook endpoints: webhook_api.py)."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint as ApiBlueprint

from app.core.errors import json_object_body
from app.core.extensions import created, csrf, db_session, limiter
from app.monitoring import schemas, services
from app.monitoring.callers import caller_party
from app.oauth.bearer import bank_limit, client_rate_key

blp = ApiBlueprint("monitoring", __name__, url_prefix="/api/v1", description="监测预警：订阅、预警收件箱")


@blp.route("/subscriptions")
class Subscriptions(MethodView):
    decorators = [csrf.exempt, limiter.limit(bank_limit, key_func=client_rate_key)]

    @blp.arguments(schemas.SubscriptionListArgs, location="query")
    @blp.response(200, schemas.SubscriptionPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """订阅列表：金融机构、集团、企业看自己的，征信机构看全部"""
        party = caller_party()
        return services.list_subscriptions(db_session(), party, **args).body()

    @blp.response(201, schemas.SubscriptionSchema)
    @blp.doc(requestBody={"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/SubscriptionRequest"}}}})
    @blp.alt_response(200, schema=schemas.SubscriptionSchema, description="已有对该企业的订阅：更新其事件与筛选条件")
    def post(self) -> Any:
        """订阅一家企业的变动：金融机构须持有该企业有效的「贷后管理」授权；集团可订阅下属企业
        （或以本集团代码加 include_subsidiaries 订阅全部下属企业）；企业只能订阅本企业"""
        party = caller_party(writes=True)
        data = schemas.SubscriptionRequestSchema().load(json_object_body())
        sub, new = services.subscribe(db_session(), party, request_id=g.get("request_id"), **data)
        if new:
            return created(sub, "monitoring.SubscriptionDetail", subscription_id=sub.subscription_id)
        return sub, 200


@blp.route("/subscriptions/<string:subscription_id>")
class SubscriptionDetail(MethodView):
    decorators = [csrf.exempt, limiter.limit(bank_limit, key_func=client_rate_key)]

    @blp.response(200, schemas.SubscriptionSchema)
    def get(self, subscription_id: str) -> Any:
        """一项订阅（他方的订阅为 404）"""
        return services.get_subscription(db_session(), caller_party(), subscription_id)

    @blp.response(200, schemas.SubscriptionSchema)
    def delete(self, subscription_id: str) -> Any:
        """取消订阅（保留记录，注明取消时间）"""
        party = caller_party(writes=True)
        return services.unsubscribe(db_session(), party, subscription_id, g.get("request_id"))


@blp.route("/alerts")
class Alerts(MethodView):
    decorators = [csrf.exempt, limiter.limit(bank_limit, key_func=client_rate_key)]

    @blp.arguments(schemas.AlertListArgs, location="query")
    @blp.response(200, schemas.AlertPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """预警收件箱：本方订阅产生的预警，最新在前（征信机构：指数预警）"""
        party = caller_party()
        session = db_session()
        body = services.list_alerts(session, party, **args).body()
        body["unread"] = services.unread_count(session, party)
        return body


@blp.route("/alerts/read")
class AlertsRead(MethodView):
    decorators = [csrf.exempt, limiter.limit(bank_limit, key_func=client_rate_key)]

    @blp.response(200, schemas.MarkedSchema)
    @blp.doc(requestBody={"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/MarkRead"}}}})
    def post(self) -> dict[str, Any]:
        """把预警标记为已读"""
        party = caller_party(writes=True)  # who is asking first, then what
        data = schemas.MarkReadSchema().load(json_object_body())
        return {"marked": services.mark_read(db_session(), party, data["ids"], party.user_id)}
