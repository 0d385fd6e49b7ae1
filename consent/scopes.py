"""The OAuth scopes the platform knows: providers write records, banks request consents,
and each report section is a scope (``report:<section>``) that only a consent can grant."""

from __future__ import annotations

from consent.models import REPORT_SECTIONS, SECTION_SCOPE_PREFIX

SCOPES = {
    "records:write": "向信用档案报送记录（数据源）",
    "consents:write": "发起授权请求、查看本机构的授权（金融机构）",
    **{SECTION_SCOPE_PREFIX + key: f"获取信用报告：{label}" for key, label in REPORT_SECTIONS.items()},
}
REPORT_SCOPES = frozenset(SECTION_SCOPE_PREFIX + key for key in REPORT_SECTIONS)
BANK_CLIENT_SCOPE = " ".join(["consents:write", *sorted(REPORT_SCOPES)])
