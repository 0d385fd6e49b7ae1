"""The web shell: home by role, public enterprise search and profile, the archive pages."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, send_from_directory, url_for
from flask_login import current_user

from app import dashboards
from app.accounts.auth import require_user
from app.accounts.models import INSTITUTION_KIND_LABELS, ROLE_LABELS, Role
from app.archive import services
from app.archive.models import (
    CATEGORY_LABELS,
    PROVIDER_KIND_LABELS,
    SEGMENT_LABELS,
    Category,
    Segment,
    segment_label,
)
from app.archive.regions import PROVINCES, describe_region
from app.archive.schemas import EnterpriseSearchArgs, RecordFilterArgs
from app.archive.services import require_archive_access
from app.audit import services as audit
from app.certificates.services import effective_status, public_certificates
from app.core import clock
from app.core.extensions import cipher, db_session, settings, writes
from app.core.forms import query_args
from app.oversight.disclosure import public_profile
from app.oversight.models import LIST_LABELS
from app.scoring.scorecard import GRADES
from reports.sections import SUPERVISION_LABELS

bp = Blueprint("web", __name__)


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {
        "SEGMENT_LABELS": {str(k): v for k, v in SEGMENT_LABELS.items()},
        "CATEGORY_LABELS": {str(k): v for k, v in CATEGORY_LABELS.items()},
        "ROLE_LABELS": {str(k): v for k, v in ROLE_LABELS.items()},
        "PROVINCES": PROVINCES,
        "describe_region": describe_region,
        "GRADES": GRADES,
        "PROVIDER_KIND_LABELS": {str(k): v for k, v in PROVIDER_KIND_LABELS.items()},
        "INSTITUTION_KIND_LABELS": {str(k): v for k, v in INSTITUTION_KIND_LABELS.items()},
        "DIMENSIONS": dashboards.DIMENSIONS,
        "SUPERVISION_LABELS": SUPERVISION_LABELS,
        "LIST_LABELS": {str(k): v for k, v in LIST_LABELS.items()},
    }


@bp.app_template_filter("cn_time")
def cn_time(moment: dt.datetime | str | None) -> str:
    """A stored UTC time (or one as a report writes it, ``2026-12-03T13:50:29Z``) shown in
    Beijing time, as the PDF prints it."""
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return moment.astimezone(clock.BEIJING).strftime("%Y-%m-%d %H:%M")


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


@bp.app_template_filter("yuan")
def yuan(value: Any) -> str:
    """An amount (Decimal, or a decimal string from JSON) as ``1,234,567.00`` (never via float)."""
    amount = _decimal(value)
    return "—" if amount is None else f"{amount:,.2f}"


@bp.app_template_filter("score")
def score_text(value: Any, places: int = 2) -> str:
    """A score (or dimension score, factor points) with its decimals; "—" when there is none
    (NR, 不予评级: no score; a factor no source covers)."""
    number = _decimal(value)
    return "—" if number is None else f"{number:.{places}f}"


@bp.app_template_filter("percent")
def percent(value: Any, places: int = 1) -> str:
    """A ratio (0.256) as a percentage (25.6%)."""
    ratio = _decimal(value)
    return "—" if ratio is None else f"{ratio * 100:.{places}f}%"


@bp.app_template_filter("plain")
def plain_number(value: Any) -> str:
    """A decimal as written by hand: no trailing zeros, never an exponent (``60.0000`` → ``60``,
    ``33.3300`` → ``33.33``)."""
    number = _decimal(value)
    return "—" if number is None else f"{number.normalize():f}"


@bp.app_template_global("nice_scale")
def nice_scale(values: list[Any], lo: float | None = None, hi: float | None = None, ticks: int = 5) -> dict[str, Any]:
    """A chart's value axis: ``lo``/``hi`` where given, else the data's range widened to round
    numbers, and ticks at an even step of 1, 2, 2.5 or 5 × 10ⁿ (79, 77, 76, 74, 72 becomes
    70, 75, 80, 85); every tick a number as written by hand."""
    data = [float(v) for v in values if v is not None]
    low = float(lo) if lo is not None else (min(data) if data else 0.0)
    high = float(hi) if hi is not None else (max(data) if data else 1.0)
    if high <= low:
        high = low + 1
    raw = (high - low) / max(ticks - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if lo is None:
        low = math.floor(low / step) * step
    if hi is None:
        high = math.ceil(high / step) * step
    if lo is not None and hi is not None:
        step = (high - low) / (ticks - 1)  # a range fixed by the caller (0–100): its quarters
    marks = []
    v = low
    while v <= high + step / 1000:
        marks.append(round(v, 10))
        v += step
    return {"lo": low, "hi": high, "ticks": marks}


@bp.app_template_filter("points")
def rate_points(value: Any) -> str:
    """A rate change in percentage points as banks state it: ``0.300`` → 「0.3 个百分点（30 个基点）」."""
    number = _decimal(value)
    if number is None:
        return "—"
    bp = (number * 100).normalize()
    return f"{number.normalize():f} 个百分点（{bp:f} 个基点）"


@bp.app_template_filter("wan")
def wan(value: Any) -> float:
    """An amount in 万元, for a chart's bar length (display only)."""
    amount = _decimal(value)
    return 0.0 if amount is None else float(amount / 10000)


@bp.app_template_filter("zip")
def zip_filter(left: Any, right: Any) -> list[tuple[Any, Any]]:
    return list(zip(left, right, strict=False))


bp.add_app_template_filter(segment_label, "segment_label")

# Field names an error page may show (a query string's or a form's), in words; the name
# itself follows in brackets, since the address or a script carries it.
FIELD_LABELS = {
    "page": "页码", "per_page": "每页条数", "q": "查找内容", "status": "状态", "role": "角色", "kind": "类别",
    "category": "记录类别", "from": "起始日期", "to": "截止日期", "date_from": "起始日期", "date_to": "截止日期",
    "provider": "数据源", "segment": "领域", "province": "地区", "region": "地区", "grade": "信用等级",
    "class": "监管类别", "supervision_class": "监管类别", "uscc": "统一社会信用代码", "action": "操作",
    "actor": "操作人", "outcome": "结果", "type": "类型", "amount": "金额", "sort": "排序", "list": "名单",
    "form": "表单", "path": "地址", "csrf_token": "表单令牌",
}


@bp.app_template_filter("field_label")
def field_label(name: str) -> str:
    """``query.page`` → 页码（page）; a name with no label is shown as it is."""
    bare = name.split(".", 1)[1] if name.split(".", 1)[0] in ("query", "form", "json", "headers") and "." in name else name
    label = FIELD_LABELS.get(bare)
    return f"{label}（{bare}）" if label else bare


@bp.app_template_filter("zip_labels")
def zip_labels(values: Any, labels: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """Options for a select: (value, label) pairs."""
    return [(str(v), (labels or {}).get(str(v), str(v))) for v in values]


@bp.get("/favicon.ico")
def favicon() -> Any:
    """The site's icon where browsers look for it first (pages also link it)."""
    assert current_app.static_folder is not None
    return send_from_directory(current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon",
                               max_age=86400)


@bp.get("/")
def home() -> Any:
    """Each role's home: the firm's grade and what moved it, the bank's and the operator's
    work queues, the public portal."""
    session = db_session()
    role = str(current_user.role) if current_user.is_authenticated else None
    if role == Role.group:  # a group's credit manager works on the group dashboard
        return redirect(url_for("groups_web.dashboard"))
    if role == Role.tenderer:  # a tenderer works on its bidders' screenings
        return redirect(url_for("procurement_web.screenings"))
    home: Any
    if role == Role.firm and current_user.enterprise is not None:
        home = dashboards.firm_home(session, current_user.enterprise, settings().free_self_reports)
    elif role == Role.bank and current_user.institution_id is not None:
        home = dashboards.bank_home(session, current_user)
    elif role == Role.operator:
        home = dashboards.operator_home(session)
    else:
        role, home = None, dashboards.public_home(session)
    return render_template("home.html", role=role, home=home, today=clock.today())


@bp.get("/enterprises")
def search() -> str:
    args = query_args(EnterpriseSearchArgs())
    page = services.search_enterprises(db_session(), **args) if any(
        args.get(k) for k in ("q", "segment", "province")
    ) else None
    return render_template("archive/search.html", args=args, page=page, segments=list(Segment))


@bp.get("/enterprises/<string:uscc>")
def enterprise(uscc: str) -> str:
    session = db_session()
    ent = services.get_enterprise(session, uscc.strip().upper())
    can_see_archive = current_user.is_authenticated and (
        current_user.role == Role.operator or (current_user.role == Role.firm and current_user.enterprise_id == ent.id)
    )
    today = clock.today()
    certificates = [(c, effective_status(c, today)) for c in public_certificates(session, ent.id)]
    return render_template("archive/enterprise.html", ent=ent, profile=public_profile(session, ent),
                           can_see_archive=can_see_archive, today_iso=today.isoformat(), certificates=certificates)


@bp.get("/enterprises/<string:uscc>/records")
@writes  # an operator's read is audited
def records(uscc: str) -> str:
    user = require_user()
    session = db_session()
    ent = services.get_enterprise(session, uscc)
    require_archive_access(user, ent)
    if user.role == Role.operator:  # an access to the firm's data: in the log under its code
        audit.record(session, f"user:{user.username}", "archive.read", subject_type="enterprise", subject_id=ent.uscc,
                     detail={"uscc": ent.uscc, "what": "records_page"})
    args = query_args(RecordFilterArgs())
    page = services.list_records(session, ent, **args)
    personal = services.personal_fields(cipher(), ent)
    return render_template(
        "archive/records.html", ent=ent, page=page, args=args, personal=personal,
        categories=list(Category), counts=services.category_counts(session, ent),
    )


@bp.get("/console")
def console() -> str:
    """The operator's console: the same page as the operator's home."""
    require_user(Role.operator)
    return render_template("home.html", role="operator", home=dashboards.operator_home(db_session()), today=clock.today())
