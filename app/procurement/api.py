"""投标人信用筛查 API: a tenderer (OAuth client with ``screening:write``, or a tenderer user)
screens bidders in a batch against the tender's rules and reads the signed results."""

from __future__ import annotations

from flask_smorest import Blueprint as ApiBlueprint

blp = ApiBlueprint("screenings", __name__, url_prefix="/api/v1",
                   description="投标人信用筛查：按招标规则批量筛查投标人，结果经平台签名，可公开核验")
