"""Screening pages: upload (CSV or a list of codes) and results with their downloads."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("procurement_web", __name__, template_folder="templates")
