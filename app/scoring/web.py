"""The published scorecard: how a grade is made, in Chinese, for anyone (the NEA plan asks
that the standard, the procedure and the results be public); and, for operators, its
back-test against the defaults that followed."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from marshmallow import fields

from app.accounts.auth import require_user
from app.accounts.models import Role
from app.archive.models import Segment
from app.core import clock
from app.core.errors import InvalidInput
from app.core.extensions import db_session
from app.core.forms import load_form, query_args
from app.core.schemas_base import one_of
from app.scoring import services
from app.scoring.schemas import ClassArgs, ValidationFormArgs
from app.scoring.scorecard import GRADES, SUPERVISION_CLASSES
from app.scoring.validation import scorecard_by_version, validate_scorecard

bp = Blueprint("scoring_web", __name__, template_folder="templates")  # its pages beside it


@bp.get("/scorecards")
def scorecards() -> str:
    return render_template("scoring/scorecards.html", items=services.published_scorecards())


@bp.get("/scorecards/<string:version>")
def scorecard(version: str) -> str:
    return render_template("scoring/scorecard.html", card=services.published_scorecard(version))


@bp.get("/console/scorecards/validation")
def console_validation() -> tuple[str, int]:
    """The back-test of a scorecard (the API's figures, with charts); an empty form field
    takes its default: the scorecard in use, D 12 months (the horizon) before today."""
    require_user(Role.operator)
    form = {k: v for k, v in request.args.items() if v != ""}
    versions = services.published_scorecards()
    args, errors = load_form(ValidationFormArgs(), form)
    report: dict[str, Any] | None = None
    if args is not None:
        version = args["version"] or services.current_scorecard().version
        if version not in {v["version"] for v in versions}:
            errors = {"version": [f"没有版本为 {version} 的评分卡。"]}
        else:
            horizon = args["horizon_months"] or scorecard_by_version(version).default_definition.horizon_months
            as_of = args["as_of"] or clock.add_months(clock.today(), -horizon)
            try:
                report = validate_scorecard(db_session(), version, as_of, horizon, args["compare_as_of"])
            except InvalidInput as exc:  # a comparison day not before the (default) day
                errors = dict(exc.errors or {"_schema": [exc.detail]})
            else:
                form = {"version": version, "as_of": report["as_of"], "horizon_months": str(horizon),
                        "compare_as_of": report["stability"]["base_as_of"]}
    return render_template("scoring/validation.html", form=form, errors=errors, report=report,
                           charts=_charts(report) if report else None, versions=versions), 422 if errors else 200


def _percent(value: float | None) -> float | None:
    return None if value is None else value * 100


def _charts(report: dict[str, Any]) -> dict[str, Any]:
    """The report's figures as the page's charts draw them (percentages; the same numbers
    are in the tables beside them)."""
    cal, st, disc = report["calibration"], report["stability"], report["discrimination"]
    rates = [(r["grade"], r["default_rate"] * 100) for r in (*report["grades"], report["not_rated"]) if r["count"]]
    ks_at = max(disc["roc"], key=lambda p: p["tpr"] - p["fpr"]) if disc["roc"] else None  # the KS gap
    return {
        "rates": rates,
        "grades": [r["grade"] for r in cal["rows"]],
        "calibration": [("观察违约率", [_percent(r["observed_rate"]) for r in cal["rows"]]),
                        ("隐含违约概率", [_percent(r["implied_pd"]) for r in cal["rows"]])],
        "ks_at": ks_at,
        "bins": [r["grade"] for r in st["rows"]],
        "contributions": [(r["grade"], r["contribution"]) for r in st["rows"]],
        "stability": [(st["base_as_of"], [_percent(r["base_share"]) for r in st["rows"]]),
                      (st["as_of"], [_percent(r["current_share"]) for r in st["rows"]])],
    }


class _SupervisionPageArgs(ClassArgs):
    """The supervision page's query: the API's (page, per_page, segment) and the class shown."""

    supervision_class = fields.String(load_default="D", data_key="class", validate=one_of(SUPERVISION_CLASSES))


@bp.get("/console/supervision")
def console_supervision() -> str:
    """信用分类监管: how many firms each class A–D holds (in a segment, or all), and one
    class's firms, lowest scores first — the API's ``GET /api/v1/supervision/{class}``."""
    require_user(Role.operator)
    args = query_args(_SupervisionPageArgs())
    session = db_session()
    shown, segment = args["supervision_class"], args["segment"]
    counts = {c: services.firms_in_class(session, c, 1, 1, segment).total for c in SUPERVISION_CLASSES}
    page = services.firms_in_class(session, shown, args["page"], args["per_page"], segment)
    supervision = services.current_scorecard().supervision  # grade -> class
    grades = {c: [g for g in GRADES if supervision.get(g) == c] for c in SUPERVISION_CLASSES}
    return render_template("scoring/supervision.html", args=args, shown=shown, segment=segment, counts=counts,
                           page=page, grades=grades, segments=list(Segment))
