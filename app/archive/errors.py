"""Errors the archive services raise."""

from __future__ import annotations

from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound


class EnterpriseNotFound(NotFound):
    code = "enterprise_not_found"


class InvalidUscc(InvalidInput):
    code = "invalid_uscc"


class EnterpriseExists(Conflict):
    code = "enterprise_exists"


class ProviderNotFound(NotFound):
    code = "provider_not_found"


class ProviderCategoryDenied(Forbidden):
    code = "provider_category_denied"


class BatchTooLarge(InvalidInput):
    code = "batch_too_large"
