"""监测预警 pages: a bank's post-loan monitoring (/bank/monitoring), a firm's own alerts
(/me/alerts), a group's (/group/alerts) and the operators' index warnings (/console/alerts):
the alert inbox, the subscriptions and a form to add one."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.archive.models import Enterprise
from app.core.auth import signed_in
from app.core.errors import DomainError
from app.core.extensions import db_session
from app.core.forms import Errors, domain_errors, load_form, page_no
from app.monitoring import services
from app.monitoring.models import EVENT_LABELS, EventType
from app.monitoring.parties import Party, party_of_user
from app.monitoring.schemas import SubscriptionRequestSchema

bp = Blueprint("monitoring_web", __name__, template_folder="templates")
PAGES = {"bank": "monitoring_web.bank_monitoring", "firm": "monitoring_web.my_alerts",
         "group": "monitoring_web.group_alerts", "operator": "monitoring_web.console_alerts"}
TITLES = {"bank": "贷后监测", "firm": "本企业的预警", "group": "集团预警", "operator": "信用电力指数预警"}
SUBSCRIBABLE_LABELS = [(t, EVENT_LABELS[EventType(t)]) for t in services.SUBSCRIBABLE]


def _render(party: Party, *, errors: Errors | None = None, form: dict[str, Any] | None = None,
            status: int = 200) -> tuple[str, int]:
    session = db_session()
    unread_only = request.args.get("unread") == "1"
    alerts = services.list_alerts(session, party, unread=unread_only, page=page_no(), per_page=30)
    subs = None if party.is_operator else services.list_subscriptions(session, party, page=1, per_page=100)
    return render_template("monitoring/alerts.html", party=party, alerts=alerts, subs=subs,
                           unread=services.unread_count(session, party), unread_only=unread_only,
                           title=TITLES[party.kind], page_endpoint=PAGES[party.kind], errors=errors or {},
                           form=form or {}, event_labels=EVENT_LABELS, event_choices=SUBSCRIBABLE_LABELS,
                           own=session.get(Enterprise, party.enterprise_id) if party.kind == "firm" else None), status


def _page(role: str) -> tuple[str, int]:
    return _render(party_of_user(signed_in(role)))


@bp.get("/bank/monitoring")
def bank_monitoring() -> tuple[str, int]:
    return _page("bank")


@bp.get("/me/alerts")
def my_alerts() -> tuple[str, int]:
    return _page("firm")


@bp.get("/group/alerts")
def group_alerts() -> tuple[str, int]:
    return _page("group")


@bp.get("/console/alerts")
def console_alerts() -> tuple[str, int]:
    return _page("operator")


@bp.post("/monitoring/subscriptions")
def subscribe() -> Response | tuple[str, int]:
    party = party_of_user(signed_in("bank", "group", "firm"))
    form = {"uscc": request.form.get("uscc", "").strip().upper(), "events": request.form.getlist("events"),
            "include_subsidiaries": request.form.get("include_subsidiaries") == "1"}
    data, errors = load_form(SubscriptionRequestSchema(), form)
    if data is not None:
        try:
            sub, new = services.subscribe(db_session(), party, **data)
        except DomainError as exc:
            errors = domain_errors(exc)
        else:
            flash(f"已{'订阅' if new else '更新对'} {sub.enterprise.name} 的监测。", "ok")
            return redirect(url_for(PAGES[party.kind]))
    return _render(party, errors=errors, form=form, status=422)


@bp.post("/monitoring/subscriptions/<string:subscription_id>/end")
def unsubscribe(subscription_id: str) -> Response:
    party = party_of_user(signed_in("bank", "group", "firm"))
    sub = services.unsubscribe(db_session(), party, subscription_id)
    flash(f"已取消对 {sub.enterprise.name} 的监测。", "ok")
    return redirect(url_for(PAGES[party.kind]))


@bp.post("/monitoring/alerts/read")
def mark_read() -> Response:
    party = party_of_user(signed_in("bank", "group", "firm", "operator"))
    ids = request.form.getlist("ids")[:500]
    n = services.mark_read(db_session(), party, ids, party.user_id)
    flash(f"已将 {n} 条预警标记为已读。", "ok")
    return redirect(url_for(PAGES[party.kind]))
