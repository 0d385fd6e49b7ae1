"""Pages of results: the ``meta`` every list endpoint answers beside its ``items``
(``app.core.db.paginate`` makes the page)."""

from __future__ import annotations

from marshmallow import fields

from app.core.schemas_base import StrictSchema


class PageMetaSchema(StrictSchema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()
