"""Pages of results, one way for every list endpoint: ``app.core.db.paginate`` makes the
page, ``Page.body()`` answers ``{items, meta}`` and a ``PageSchema`` subclass naming its items
(``items = page_of(ItemSchema)``) documents and serialises it."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from app.core.schemas_base import StrictSchema


class PageMetaSchema(StrictSchema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()


class PageSchema(StrictSchema):
    """``{items, meta}``; a subclass sets ``items = page_of(ItemSchema)`` (and may add fields)."""

    meta = fields.Nested(PageMetaSchema)


def page_of(item: type[Schema] | Schema) -> Any:
    """The ``items`` field of a page of ``item``."""
    return fields.List(fields.Nested(item))
