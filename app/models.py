"""Imports every model module so the metadata is complete (migrations, tests)."""

from app.accounts import models as accounts_models
from app.archive import models as archive_models
from app.audit import models as audit_models
from app.certificates import models as certificate_models
from app.core.db import Base
from app.monitoring import models as monitoring_models
from app.oauth import models as oauth_models
from app.oversight import models as oversight_models
from app.procurement import models as procurement_models
from app.scoring import models as scoring_models
from consent import models as consent_models
from marketplace import models as marketplace_models
from reports import models as report_models

__all__ = ["Base", "accounts_models", "audit_models", "certificate_models", "archive_models", "consent_models", "marketplace_models", "monitoring_models", "oauth_models", "oversight_models", "procurement_models", "report_models", "scoring_models"]
