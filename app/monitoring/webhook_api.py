"""Webhook endpoints and their deliveries (Standard Webhooks): register an endpoint (its
secret shown once), rotate the secret, ping it, read its delivery log, replay a dead or
delivered message.  Callers: a bank's system (Bearer token, scope ``monitoring``) or a
signed-in bank officer, group or firm; operators read every endpoint and replay any
delivery, and own none."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint as ApiBlueprint

from app.core.auth import caller_first
from app.core.extensions import cipher, created, csrf, db_session, limiter, settings
from app.core.schemas_base import PageArgs, With
from app.monitoring import webhook_schemas as schemas
from app.monitoring import webhooks
from app.monitoring.callers import caller_party
from app.monitoring.models import EndpointStatus
from app.oauth.bearer import bank_limit, client_rate_key

blp = ApiBlueprint("webhooks", __name__, url_prefix="/api/v1",
                   description="Webhook 推送（Standard Webhooks：webhook-id、webhook-timestamp、webhook-signature）")
RATE = limiter.limit(bank_limit, key_func=client_rate_key)


@blp.route("/webhook-endpoints")
class Endpoints(MethodView):
    decorators = [csrf.exempt, RATE, caller_first(bearer=True)]

    @blp.arguments(PageArgs, location="query")
    @blp.response(200, schemas.EndpointPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """本方的 Webhook 端点（运营人员：全部）"""
        return webhooks.list_endpoints(db_session(), caller_party(), **args).body()

    @blp.arguments(schemas.EndpointCreateSchema)
    @blp.response(201, schemas.EndpointCreatedSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """登记 Webhook 端点：网址须为 https 且不指向内网（防 SSRF，否则 400 指明 url）；
        应答中的签名密钥 secret 只显示这一次。运营人员不能登记（403）"""
        party = caller_party(writes=True)
        endpoint, secret = webhooks.create_endpoint(db_session(), cipher(), party, url=data["url"], events=data["events"],
                                                    description=data["description"], settings=settings())
        return created(With(endpoint, secret=secret), "webhooks.EndpointDetail", endpoint_id=endpoint.endpoint_id)


@blp.route("/webhook-endpoints/<string:endpoint_id>")
class EndpointDetail(MethodView):
    decorators = [RATE]

    @blp.response(200, schemas.EndpointSchema)
    def get(self, endpoint_id: str) -> Any:
        """一个 Webhook 端点（他方的为 404）"""
        return webhooks.get_endpoint(db_session(), caller_party(), endpoint_id)


@blp.route("/webhook-endpoints/<string:endpoint_id>/ping", methods=["POST"])
@csrf.exempt
@RATE
@blp.response(202, schemas.DeliverySchema)
def ping(endpoint_id: str) -> Any:
    """发送测试推送（webhook.ping）：排队后由推送任务发送，结果见推送记录"""
    session = db_session()
    delivery = webhooks.ping(session, caller_party(writes=True), endpoint_id)
    return webhooks.delivery_views(session, [delivery])[0]


@blp.route("/webhook-endpoints/<string:endpoint_id>/rotate-secret", methods=["POST"])
@csrf.exempt
@RATE
@blp.response(200, schemas.SecretSchema)
def rotate_secret(endpoint_id: str) -> Any:
    """轮换签名密钥：新密钥只显示这一次；旧密钥在 24 小时内仍一并签名（webhook-signature 中的第二个 v1,）"""
    endpoint, secret = webhooks.rotate_secret(db_session(), cipher(), caller_party(writes=True), endpoint_id)
    return With(endpoint, secret=secret)


def _status_view(status: EndpointStatus, doc: str) -> Any:
    def view(endpoint_id: str) -> Any:
        return webhooks.set_status(db_session(), caller_party(writes=True), endpoint_id, status)

    view.__doc__ = doc
    view.__name__ = f"endpoint_{'disable' if status == EndpointStatus.disabled else 'enable'}"
    return view


for _status, _action, _doc in ((EndpointStatus.disabled, "disable", "停用端点：待发送的推送转为已放弃（可在启用后重放）"),
                               (EndpointStatus.active, "enable", "启用端点（如收到 410 Gone 后停用的）")):
    blp.route(f"/webhook-endpoints/<string:endpoint_id>/{_action}", methods=["POST"], endpoint=f"endpoint_{_action}")(
        csrf.exempt(RATE(blp.response(200, schemas.EndpointSchema)(_status_view(_status, _doc)))))


@blp.route("/webhook-endpoints/<string:endpoint_id>/deliveries")
class Deliveries(MethodView):
    decorators = [RATE]

    @blp.arguments(schemas.DeliveryListArgs, location="query")
    @blp.response(200, schemas.DeliveryPageSchema)
    def get(self, args: dict[str, Any], endpoint_id: str) -> dict[str, Any]:
        """推送记录：每条推送及其每次尝试（状态码、错误、耗时），新的在前；status 筛选"""
        _, page = webhooks.list_deliveries(db_session(), caller_party(), endpoint_id, **args)
        return page.body()


@blp.route("/deliveries/<string:delivery_id>")
class Delivery(MethodView):
    decorators = [RATE]

    @blp.response(200, schemas.DeliverySchema)
    def get(self, delivery_id: str) -> Any:
        """一条推送及其每次尝试（他方的为 404；运营人员：任何推送）"""
        session = db_session()
        return webhooks.delivery_views(session, [webhooks.get_delivery(session, caller_party(), delivery_id)])[0]


@blp.route("/deliveries/<string:delivery_id>/replay", methods=["POST"])
@csrf.exempt
@RATE
@blp.response(201, schemas.DeliverySchema)
def replay(delivery_id: str) -> Any:
    """重放已放弃（dead）或已送达的推送：新消息编号、相同内容（replay_of 指向原消息），
    Location 指向新推送；运营人员可重放任何推送（端点已停用的除外）"""
    session = db_session()
    delivery = webhooks.replay(session, caller_party(writes=True), delivery_id)
    return created(webhooks.delivery_views(session, [delivery])[0], "webhooks.Delivery",
                   delivery_id=delivery.message_id)
