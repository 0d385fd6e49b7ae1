"""Webhook pages: the owner's endpoints (add one — its secret shown once —, rotate the secret,
ping, disable or enable, the delivery log with replay) and the operators' console of dead
deliveries across every endpoint."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.core.auth import signed_in
from app.core.errors import DomainError
from app.core.extensions import cipher, db_session, settings
from app.core.forms import Errors, domain_errors, load_form, page_no
from app.monitoring import webhooks
from app.monitoring.models import (
    DELIVERY_STATUS_LABELS,
    EVENT_LABELS,
    WEBHOOK_PING,
    DeliveryStatus,
    EndpointStatus,
    EventType,
)
from app.monitoring.parties import Party, party_of_user
from app.monitoring.webhook_schemas import EndpointCreateSchema

bp = Blueprint("webhooks_web", __name__, template_folder="templates")
OWNERS = ("bank", "group", "firm")
def _duration(delta: dt.timedelta) -> str:
    """A retry interval in words: 5 秒, 5 分钟, 2 小时."""
    seconds = int(delta.total_seconds())
    for unit, size in (("小时", 3600), ("分钟", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} 秒"


LABELS = {"events": EVENT_LABELS, "statuses": DELIVERY_STATUS_LABELS, "ping": WEBHOOK_PING,
          "schedule": [_duration(d) for d in webhooks.RETRY_SCHEDULE]}


def _events_for(party: Party) -> dict[str, str]:
    """The event types a party's endpoint can receive: index warnings go to groups (their
    own group's index) and operators only."""
    return {k: v for k, v in EVENT_LABELS.items() if party.kind == "group" or k != EventType.index_warning}


def _owner() -> Party:
    return party_of_user(signed_in(*OWNERS))


def _render_endpoints(party: Party, *, errors: Errors | None = None, form: dict[str, Any] | None = None,
                      new: tuple[Any, str] | None = None, status: int = 200) -> tuple[str, int]:
    page = webhooks.list_endpoints(db_session(), party, page=page_no(), per_page=20)
    return render_template("monitoring/webhooks.html", page=page, errors=errors or {}, form=form or {},
                           new=new, **{**LABELS, "events": _events_for(party)}), status


@bp.get("/monitoring/webhooks")
def endpoints() -> tuple[str, int]:
    return _render_endpoints(_owner())


@bp.post("/monitoring/webhooks")
def create() -> tuple[str, int]:
    party = _owner()
    form = {"url": request.form.get("url", "").strip(), "description": request.form.get("description", "").strip(),
            "events": request.form.getlist("events")}
    data, errors = load_form(EndpointCreateSchema(), form)
    if data is not None:
        try:
            endpoint, secret = webhooks.create_endpoint(db_session(), cipher(), party, url=data["url"],
                                                        events=data["events"], description=data["description"],
                                                        settings=settings())
        except DomainError as exc:
            return _render_endpoints(party, errors=domain_errors(exc), form=form, status=exc.status)
        return _render_endpoints(party, new=(endpoint, secret), status=201)
    return _render_endpoints(party, errors=errors, form=form, status=422)


def _render_endpoint(party: Party, endpoint_id: str, *, secret: str | None = None) -> str:
    status = request.args.get("status") if request.args.get("status") in set(DeliveryStatus) else None
    endpoint, page = webhooks.list_deliveries(db_session(), party, endpoint_id, status=status, page=page_no(),
                                              per_page=20)
    return render_template("monitoring/webhook.html", endpoint=endpoint, page=page, secret=secret,
                           status=status, **LABELS)


@bp.get("/monitoring/webhooks/<string:endpoint_id>")
def endpoint(endpoint_id: str) -> str:
    return _render_endpoint(_owner(), endpoint_id)


@bp.post("/monitoring/webhooks/<string:endpoint_id>/rotate")
def rotate(endpoint_id: str) -> str:
    party = _owner()
    _, secret = webhooks.rotate_secret(db_session(), cipher(), party, endpoint_id)
    return _render_endpoint(party, endpoint_id, secret=secret)


@bp.post("/monitoring/webhooks/<string:endpoint_id>/ping")
def ping(endpoint_id: str) -> Response:
    party = _owner()
    try:
        delivery = webhooks.ping(db_session(), party, endpoint_id)
    except DomainError as exc:
        if exc.status == 404:
            raise
        flash(exc.detail, "error")
    else:
        flash(f"测试推送 {delivery.message_id} 已排队，稍后在下方推送记录中查看结果。", "success")
    return redirect(url_for("webhooks_web.endpoint", endpoint_id=endpoint_id))


@bp.post("/monitoring/webhooks/<string:endpoint_id>/status")
def set_status(endpoint_id: str) -> Response:
    party = _owner()
    wanted = request.form.get("status")
    if wanted not in set(EndpointStatus):
        flash("请求不完整：请刷新页面后再试。", "error")
    else:
        webhooks.set_status(db_session(), party, endpoint_id, EndpointStatus(wanted))
        flash("端点已启用。" if wanted == EndpointStatus.active else "端点已停用，待发送的推送已转为已放弃（启用后可重放）。",
              "success")
    return redirect(url_for("webhooks_web.endpoint", endpoint_id=endpoint_id))


@bp.post("/monitoring/deliveries/<string:message_id>/replay")
def replay(message_id: str) -> Response:
    user = signed_in(*OWNERS, "operator")
    party = party_of_user(user)
    session = db_session()
    original = webhooks.get_delivery(session, party, message_id)
    back = (url_for("webhooks_web.console") if party.is_operator
            else url_for("webhooks_web.endpoint", endpoint_id=original.endpoint.endpoint_id))
    try:
        delivery = webhooks.replay(session, party, message_id)
    except DomainError as exc:
        if exc.status == 404:
            raise
        flash(exc.detail, "error")
    else:
        flash(f"已重放推送 {message_id}，新消息编号 {delivery.message_id}。", "success")
    return redirect(back)


@bp.get("/console/webhooks")
def console() -> str:
    party = party_of_user(signed_in("operator"))
    page = webhooks.list_dead(db_session(), party, page=page_no(), per_page=50)
    return render_template("monitoring/console_webhooks.html", page=page, **LABELS)
