"""The published scorecard: how a grade is made, in Chinese, for anyone (the NEA plan asks
that the standard, the procedure and the results be public)."""

from __future__ import annotations

from flask import Blueprint, render_template

from app.scoring import services

bp = Blueprint("scoring_web", __name__, template_folder="templates")  # its pages beside it


@bp.get("/scorecards")
def scorecards() -> str:
    return render_template("scoring/scorecards.html", items=services.published_scorecards())


@bp.get("/scorecards/<string:version>")
def scorecard(version: str) -> str:
    return render_template("scoring/scorecard.html", card=services.published_scorecard(version))
