"""The audit log's page in the operator's console: every event in words — the action's name,
who did it (a person by name and role, 系统 for the platform's own jobs), what changed
(「由 待企业确认 变为 生效中，原因：…」) — with the codes one hover or one filter away."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, render_template, request

from app.audit import services
from app.audit.models import AuditEvent
from app.audit.schemas import AuditEventArgs
from app.core import jobs
from app.core.auth import signed_in
from app.core.extensions import db_session
from app.core.forms import load_form

bp = Blueprint("audit_web", __name__, template_folder="templates")  # its pages beside it

# Every action the code base records, by family (``tests/web/test_operator_pages.py`` checks
# that each literal action code in app, consent, reports and marketplace has its label here).
ACTION_FAMILIES: dict[str, tuple[str, dict[str, str]]] = {
    "session": ("登录与会话", {
        "session.sign_in": "登录", "session.sign_out": "退出登录", "session.revoked": "结束用户的登录会话"}),
    "user": ("用户", {
        "user.created": "创建用户", "user.disabled": "停用用户", "user.enabled": "启用用户",
        "user.password_changed": "修改本人密码", "user.password_reset": "重置用户密码"}),
    "client": ("接口客户端", {"client.register": "登记 OAuth 客户端"}),
    "oauth": ("OAuth 令牌", {
        "oauth.authorize": "OAuth 授权页", "oauth.token": "申请访问令牌", "oauth.revoke": "撤销访问令牌",
        "oauth.introspect": "查验访问令牌", "oauth.resource": "以令牌调用接口"}),
    "consent": ("授权", {
        "consent.pending": "授权请求待企业确认", "consent.active": "授权生效", "consent.rejected": "企业拒绝授权",
        "consent.paused": "企业暂停授权", "consent.revoked": "企业撤销授权", "consent.expired": "授权到期",
        "consent.approve": "企业同意授权", "consent.reject": "企业拒绝授权请求", "consent.pause": "企业暂停授权",
        "consent.resume": "企业恢复授权", "consent.revoke": "企业撤销授权", "consent.grant": "企业主动授权",
        "consent.request": "机构发起授权请求", "consent.create": "经接口创建授权", "consent.read": "查看授权",
        "consent.artefact": "下载授权凭证"}),
    "gate": ("数据访问", {"gate.access": "经授权访问企业信息"}),
    "archive": ("信用档案", {"archive.read": "查阅信用档案"}),
    "report": ("信用报告", {
        "report.self": "企业出具自查报告", "report.bidding": "企业出具投标用报告", "report.read": "读取信用报告"}),
    "screening": ("投标人筛查", {"screening.create": "投标人信用筛查"}),
    "certificate": ("信用等级证书", {
        "certificate.applied": "申报信用等级证书", "certificate.publicized": "证书评价结果公示",
        "certificate.issued": "颁发证书", "certificate.rejected": "证书申报未通过", "certificate.suspended": "暂停证书",
        "certificate.restored": "恢复证书", "certificate.revoked": "撤销证书", "certificate.expired": "证书到期",
        "certificate.withdrawn": "撤回证书申报", "certificate.reviewed": "复核证书",
        "certificate.objection_filed": "对证书公示提出异议", "certificate.objection_resolved": "处理证书异议"}),
    "list": ("信用名单", {
        "list.entered": "列入名单（待发布）", "list.published": "发布名单", "list.exited": "移出名单",
        "list.cancelled": "撤销未发布的名单记录"}),
    "objection": ("异议", {"objection.filed": "企业提出异议", "objection.resolved": "答复异议"}),
    "repair": ("信用修复", {"repair.submitted": "提交信用修复申请", "repair.approved": "批准信用修复",
                            "repair.rejected": "驳回信用修复申请"}),
    "commitment": ("信用承诺", {"commitment.signed": "签署信用承诺"}),
    "subscription": ("贷后监测", {"subscription.created": "订阅贷后监测", "subscription.ended": "结束贷后监测"}),
    "webhook": ("Webhook", {
        "webhook.endpoint_created": "登记 Webhook 地址", "webhook.endpoint_active": "启用 Webhook 地址",
        "webhook.endpoint_disabled": "停用 Webhook 地址", "webhook.secret_rotated": "更换 Webhook 签名密钥"}),
    "product": ("信易贷产品", {"product.create": "新建贷款产品", "product.update": "修改贷款产品",
                              "product.status": "变更产品状态"}),
    "marketplace": ("信易贷设置", {"marketplace.discoverable": "设置是否接受主动授信"}),
    "application": ("贷款申请", {
        "application.submitted": "提交贷款申请", "application.under_review": "受理贷款申请",
        "application.approved": "批准贷款申请", "application.rejected": "拒绝贷款申请",
        "application.accepted": "企业接受批复", "application.declined": "企业放弃批复",
        "application.disbursed": "放款", "application.withdrawn": "企业撤回申请"}),
    "repayment": ("还款", {"repayment.recorded": "登记还款", "repayment.corrected": "更正还款记录"}),
    "offer": ("授信邀约", {"offer.sent": "发出授信邀约", "offer.accepted": "企业接受邀约",
                          "offer.declined": "企业谢绝邀约", "offer.withdrawn": "机构撤回邀约"}),
    "demo": ("演示数据", {"demo.seeded": "生成演示数据"}),
}
ACTION_LABELS: dict[str, str] = {code: label for _, actions in ACTION_FAMILIES.values() for code, label in actions.items()}

SUBJECT_LABELS = {
    "user": "用户", "consent": "授权", "report": "信用报告", "enterprise": "企业", "institution": "机构",
    "oauth_client": "OAuth 客户端", "certificate": "证书", "certificate_objection": "证书异议", "screening": "筛查",
    "list_entry": "名单记录", "objection": "异议", "repair": "修复申请", "commitment": "信用承诺",
    "subscription": "监测订阅", "webhook_endpoint": "Webhook 地址", "product": "产品", "application": "贷款申请",
    "loan_application": "贷款（还款）", "offer": "授信邀约",
}

# What a detail's key says (keys not here show as they are).
DETAIL_LABELS = {
    "uscc": "企业", "enterprise": "企业", "enterprise_id": "企业编号", "institution": "机构", "purpose": "用途", "sections": "报告内容",
    "resource": "所取资源", "query_log_id": "查询记录", "ip": "IP 地址", "ended_sessions": "结束的会话",
    "session_id": "会话", "role": "角色", "username": "用户名", "display_name": "姓名", "digest": "摘要",
    "sha256": "摘要", "format": "格式", "what": "内容", "path": "路径", "tender_no": "招标编号", "rows": "行数",
    "bidders": "投标人", "passed": "通过", "failed": "未通过", "not_found": "查无此企业", "duplicates": "重复",
    "consents_used": "使用授权", "auth_method": "认证方式", "redirect_uris": "回调地址", "redirect_uri": "回调地址",
    "client_id": "客户端", "grant_type": "授权类型", "description": "说明", "retry_after": "需等待（秒）",
    "token_in_query": "令牌在查询串中", "firms": "企业数", "seed": "随机种子", "as_of": "基准日", "list": "名单",
    "basis": "依据", "on": "日期", "ends_on": "有效至", "repair": "修复申请", "entry_id": "名单记录",
    "record_id": "信用记录", "due_on": "答复期限", "late": "逾期答复", "outcome": "结论", "text": "承诺文本",
    "version": "版本", "name": "名称", "fields": "修改的项目", "consent_id": "授权", "amount": "申请金额（元）",
    "term_months": "期限（月）", "offered_amount": "批准金额（元）", "offered_rate": "年利率（%）",
    "offered_term_months": "批准期限（月）", "disbursed_amount": "放款金额（元）", "disbursed_on": "放款日",
    "certificate_no": "证书编号", "cause": "起因", "grade": "等级", "notice_until": "公示至",
    "valid_until": "有效至", "previous_valid_until": "原有效至", "renewed_by": "换发为", "objection_no": "异议编号",
    "product_no": "产品编号", "credit_limit": "授信额度（元）", "events": "事件", "include_subsidiaries": "含子公司",
    "discoverable": "接受主动授信", "url": "地址", "amount_due": "应还（元）", "amount_paid": "实还（元）",
    "paid_on": "还款日", "days_past_due": "逾期天数",
}
# Why a request was refused, for the codes a reader meets most; any other shows its code alone.
REFUSAL_LABELS = {
    "bad_credentials": "用户名或密码错误", "throttled": "失败次数过多，暂停登录", "account_disabled": "账号已停用",
    "cross_site_request": "跨站请求（CSRF 校验未通过）", "validation_failed": "输入不合规定",
    "not_a_firm": "非企业用户", "not_an_operator": "非征信机构运营人员", "not_an_institution": "非机构用户",
    "not_a_bank_officer": "非金融机构人员", "not_a_provider": "非数据来源", "wrong_party": "非该事项的当事方",
    "not_your_enterprise": "非本企业", "not_your_group": "非本集团", "not_your_product": "非本机构的产品",
    "illegal_transition": "当前状态不允许此操作", "concurrent_change": "同时有其他修改",
    "black_listed": "列入黑名单", "purpose_not_permitted": "该类机构不能以此用途申请授权",
    "scope_not_permitted": "该用途不能包含所选信息", "self_report_allowance_exhausted": "免费自查次数已用完",
    "consent_required": "缺少有效授权", "insufficient_scope": "令牌权限不足", "batch_refused": "报送批次被拒收",
    "database_unavailable": "数据库暂不可用", "request_entity_too_large": "请求体过大",
}
# What a certificate's change was caused by (``detail["cause"]``).
CAUSE_LABELS = {"application": "企业申报", "evaluation": "评价结果", "issue": "公示期满", "manual": "人工处理",
                "objection": "异议", "black_list": "列入黑名单", "expiry": "有效期满", "renewal": "换发新证",
                "withdrawal": "企业撤回"}

# The platform's own actors (anything not a person, a client or an address).
SYSTEM_ACTORS = {"system": "系统", "system:cli": "系统（命令行）", "seed": "系统（演示数据）", "job": "系统（定时任务）"}

_HEX_DIGEST = re.compile(r"\A[0-9a-f]{40,}\Z")
SHORT_ID = 8  # a request id shown by its first characters (the whole one in its title)


@dataclass(frozen=True)
class Actor:
    """Who did it, as the page shows them: ``kind`` is user, system, client or ip; ``key``
    the user's name or id (``user:…``), which the accounts package names."""

    code: str
    kind: str
    key: str
    label: str
    title: str


def actor_of(code: str) -> Actor:
    prefix, _, rest = code.partition(":")
    if prefix == "user" and rest:
        return Actor(code, "user", rest, f"用户 {rest}", code)
    if code in SYSTEM_ACTORS:
        return Actor(code, "system", code, SYSTEM_ACTORS[code], code)
    if prefix == "job":
        job = jobs.registered().get(rest)
        return Actor(code, "system", code, "系统", f"定时任务：{job.label if job else rest}")
    if prefix == "client" and rest:
        return Actor(code, "client", rest, "机构系统（接口）", f"OAuth 客户端 {rest}")
    if prefix == "ip" and rest:
        return Actor(code, "ip", rest, "未登录的访问者", f"IP 地址 {rest}")
    return Actor(code, "system" if prefix in ("system", "job") else "other", code, code, code)


def value_text(value: Any) -> str:
    """A detail's value in words: no ``None``, no Python spellings of lists or booleans."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list | tuple):
        return "、".join(value_text(v) for v in value) if value else "无"
    if isinstance(value, dict):
        return "；".join(f"{k}：{value_text(v)}" for k, v in value.items() if v is not None) or "无"
    return str(value)


def is_digest(value: Any) -> bool:
    return isinstance(value, str) and bool(_HEX_DIGEST.match(value))


@bp.get("/console/audit")
def console_audit() -> tuple[str, int]:
    """The audit log, newest first, with the API's filters."""
    signed_in("operator")
    args, errors = load_form(AuditEventArgs(), {k: v for k, v in request.args.items() if v != ""})
    page = services.list_events(db_session(), **args) if args is not None else None
    events: list[AuditEvent] = page.items if page is not None else []
    return render_template("audit/audit.html", page=page, args=request.args, errors=errors,
                           actors={e.actor: actor_of(e.actor) for e in events},
                           families=ACTION_FAMILIES, ACTION_LABELS=ACTION_LABELS, SUBJECT_LABELS=SUBJECT_LABELS,
                           DETAIL_LABELS=DETAIL_LABELS, CAUSE_LABELS=CAUSE_LABELS, REFUSAL_LABELS=REFUSAL_LABELS, short=SHORT_ID,
                           is_digest=is_digest, text=value_text), 422 if errors else 200
