"""The group dashboard (``/group``): a power group's credit manager sees the subsidiaries'
grades and changes, the grade distribution, the share of AAA among second-level companies
against the 50% target, 横向对标 (under each subsidiary's consent) and the group's alerts."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request

from app.accounts.auth import require_user
from app.accounts.models import Role
from app.archive.models import RELATION_KIND_LABELS, SEGMENT_LABELS
from app.archive.regions import PROVINCES
from app.core.extensions import db_session, writes
from app.groups import services
from app.monitoring.services import recent_alerts

bp = Blueprint("groups_web", __name__, template_folder="templates")

CONSENT_LABELS = {
    "active": "已授权", "pending": "待确认", "paused": "已暂停", "revoked": "已撤销", "expired": "已过期",
    "rejected": "已拒绝", "none": "未授权", "frequency_exceeded": "已达查询频率上限",
    "allowance_exhausted": "授权次数已用完", "scope_insufficient": "授权未含信用评价", "consent_expired": "已过期",
    "consent_not_yet_valid": "尚未生效",
}
DIMENSIONS = (("willingness", "守信意愿"), ("capability", "守信能力"), ("performance", "守信表现"))


@bp.get("/group")
@writes  # each subsidiary seen beyond its public facts is a gated, logged access
def dashboard() -> str:
    session = db_session()
    user = require_user(Role.group)
    group = services.own_group(session, user)
    bench = services.benchmark(session, user, group, resource=request.path, request_id=g.get("request_id"))
    return render_template("groups/dashboard.html", bench=bench, dimensions=DIMENSIONS,
                           by_level=services.by_level(bench.rows), kind_labels=RELATION_KIND_LABELS,
                           segment_labels=SEGMENT_LABELS, provinces=PROVINCES,
                           consent_labels=CONSENT_LABELS, alerts=recent_alerts(session, institution_id=user.institution_id, limit=20))
