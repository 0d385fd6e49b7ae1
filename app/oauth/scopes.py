"""The OAuth scopes the platform knows: providers write records, banks request consents,
and each report section is a scope (``report:<section>``) that only a consent can grant."""

from __future__ import annotations

REPORT_SECTIONS = {
    "identity": "身份与登记信息",
    "evaluation": "信用评价（等级、得分、三维度、分类监管）",
    "summary": "良好与不良记录概要",
    "tax": "纳税信息",
    "contract": "合同履约",
    "quality": "产品质量",
    "safety": "安全生产",
    "environment": "生态环境",
    "licence_penalty": "行政许可与行政处罚（双公示）",
    "judicial": "司法信息",
    "bidding": "招标投标",
    "loan": "信贷记录",
    "honour": "荣誉表彰",
    "commitment": "信用承诺",
    "utility": "电费缴纳与用电",
    "lists": "红黑名单与重点关注名单",
    "objections": "异议处理中的记录",
    "query_records": "查询记录",
}
SECTION_SCOPE_PREFIX = "report:"

SCOPES = {
    "records:write": "向信用档案报送记录（数据源）",
    "consents:write": "发起授权请求、查看本机构的授权（金融机构）",
    "monitoring": "贷后监测：订阅企业的变动、接收预警与推送（金融机构，须持有贷后管理授权）",
    "screening:write": "投标人信用筛查：按招标规则批量筛查投标人（招标采购单位）",
    **{SECTION_SCOPE_PREFIX + key: f"获取信用报告：{label}" for key, label in REPORT_SECTIONS.items()},
}
REPORT_SCOPES = frozenset(SECTION_SCOPE_PREFIX + key for key in REPORT_SECTIONS)
BANK_CLIENT_SCOPE = " ".join(["consents:write", "monitoring", *sorted(REPORT_SCOPES)])
# A tenderer's system (a power group's procurement platform) screens bidders; it reads no
# report and asks no consent through the API (a bidder grants 投标资格审查 on its own page).
SCREENING_SCOPE = "screening:write"
PROCUREMENT_CLIENT_SCOPE = SCREENING_SCOPE
