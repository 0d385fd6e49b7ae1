"""信用等级证书 API: a firm's application and its certificates, the operators' review, public
verification of a certificate by its number."""

from __future__ import annotations

from flask_smorest import Blueprint as ApiBlueprint

blp = ApiBlueprint("certificates", __name__, url_prefix="/api/v1",
                   description="信用等级证书：申报、评价、公示与异议、发证、年度复核、暂停与撤销、公开核验")
