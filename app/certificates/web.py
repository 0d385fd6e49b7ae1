"""Certificate pages: a firm's application and status, the operators' review, the public check."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("certificates_web", __name__, template_folder="templates")
