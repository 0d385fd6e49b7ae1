"""The marketplace's refusals: unknown products, applications and offers."""

from __future__ import annotations

from app.core.errors import NotFound


class OfferNotFound(NotFound):
    code = "offer_not_found"


class ApplicationNotFound(NotFound):
    code = "application_not_found"


class ProductNotFound(NotFound):
    code = "product_not_found"
