"""Liveness and readiness: ``/healthz`` answers 200 only when the database does."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import send_from_directory
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields
from swagger_ui_bundle import swagger_ui_path

from app.core.errors import ServiceUnavailable
from app.core.extensions import db_session
from app.core.schemas_base import StrictSchema

blp = Blueprint("health", __name__, description="运行状态")


class HealthSchema(StrictSchema):
    status = fields.String()
    database = fields.String()


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, Any]:
        """服务与数据库状态"""
        try:
            db_session().execute(sa.select(1))
        except sa.exc.SQLAlchemyError as exc:
            raise ServiceUnavailable("数据库不可用", code="database_unavailable", headers={"Retry-After": "5"}) from exc
        return {"status": "ok", "database": "ok"}


@blp.route("/api/docs/static/<path:filename>")
@blp.doc(hide=True)
def swagger_static(filename: str) -> Any:
    """Swagger UI's assets, served locally (no CDN)."""
    return send_from_directory(str(swagger_ui_path), filename, max_age=86400)
