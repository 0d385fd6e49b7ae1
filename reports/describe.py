"""One line of Chinese per archive record, for the PDF report's tables (the JSON keeps
the payload as it is)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

POLARITY_LABELS = {"good": "良好", "bad": "不良", "neutral": "中性"}
SEVERITY_LABELS = {0: "—", 1: "轻微", 2: "一般", 3: "严重"}
STATUS_LABELS = {"active": "正常", "disputed": "异议中", "corrected": "已更正"}

_CONTRACT = {"on_time": "按期履约", "late": "逾期履约", "breached": "违约", "disputed": "存在争议"}
_DEFECT = {"critical": "致命缺陷", "major": "严重缺陷", "minor": "一般缺陷"}
_ACCIDENT = {"ordinary": "一般", "larger": "较大", "major": "重大", "extraordinary": "特别重大"}
_ENV = {"green": "环保诚信", "blue": "环保良好", "yellow": "环保警示", "red": "环保不良", "black": "环保严重失信"}
_LICENCE = {"general": "普通", "franchise": "特许", "recognition": "认可", "approval": "核准",
            "registration": "登记", "other": "其他"}
_PENALTY = {"warning": "警告", "fine": "罚款", "confiscation": "没收违法所得", "suspension": "责令停产停业",
            "licence_suspension": "暂扣许可证", "licence_revocation": "吊销许可证",
            "qualification_downgrade": "降低资质等级", "detention": "行政拘留", "other": "其他"}
_PERFORMANCE = {"none": "全部未履行", "partial": "部分未履行", "full": "全部履行"}
_DISHONEST = {"evade_enforcement": "规避执行", "false_litigation": "虚假诉讼",
              "violate_property_report": "违反财产报告制度", "violate_consumption_limit": "违反限制消费令",
              "refuse_with_ability": "有履行能力而拒不履行", "obstruct_enforcement": "妨碍执行"}
_BID = {"won": "中标", "lost": "未中标", "disqualified": "被取消资格"}
_BID_VIOLATION = {"collusion": "串标", "fraud": "弄虚作假", "bribery": "行贿", "bid_rigging": "围标", "other": "其他违规"}
_LOAN = {"normal": "正常", "overdue": "逾期", "written_off": "核销", "settled": "已结清"}
_HONOUR_LEVEL = {"national": "国家级", "provincial": "省级", "municipal": "市级", "industry": "行业"}
_UTILITY = {"on_time": "按时缴费", "late": "逾期缴费", "arrears": "欠费"}


def _money(value: Any, unit: str = "元") -> str:
    return f"{value} {unit}" if value not in (None, "") else ""


def _join(*parts: str | None) -> str:
    return "；".join(p for p in parts if p)


def _tax(p: dict[str, Any]) -> str:
    return _join(f"{p['year']} 年度纳税信用 {p['grade']} 级", f"得分 {p['points']}" if p.get("points") is not None else None,
                 f"欠税 {_money(p.get('arrears_amount'))}" if p.get("arrears_amount") else None)


def _contract(p: dict[str, Any]) -> str:
    return _join(f"合同 {p.get('contract_no', '')}".strip(), p.get("subject"),
                 f"对方 {p.get('counterparty_name') or p.get('counterparty_uscc')}",
                 f"金额 {_money(p.get('amount'))}", f"到期 {p.get('due_on')}", _CONTRACT.get(p.get("status", ""), ""),
                 f"违约金额 {_money(p.get('breach_amount'))}" if p.get("breach_amount") else None)


def _quality(p: dict[str, Any]) -> str:
    result = "抽检合格" if p.get("result") == "pass" else f"抽检不合格（{_DEFECT.get(p.get('defect_class', ''), '')}）"
    return _join(p.get("product"), p.get("batch_no") and f"批次 {p['batch_no']}", result,
                 "已召回" if p.get("recall") else None, p.get("inspector"))


def _safety(p: dict[str, Any]) -> str:
    return _join(f"{_ACCIDENT.get(p.get('level', ''), '')}生产安全事故", f"死亡 {p.get('deaths', 0)} 人",
                 f"受伤 {p.get('injuries', 0)} 人", f"直接损失 {_money(p.get('direct_loss'))}" if p.get("direct_loss") else None,
                 p.get("description"))


def _environment(p: dict[str, Any]) -> str:
    return _join(_ENV.get(p.get("rating") or "") if p.get("rating") else None, p.get("violation"),
                 f"罚款 {_money(p.get('penalty_amount'))}" if p.get("penalty_amount") else None, p.get("authority"),
                 f"{p['rectified_on']} 已整改" if p.get("rectified_on") else None)


def _licence(p: dict[str, Any]) -> str:
    return _join(f"{_LICENCE.get(p.get('licence_category', ''), '')}许可", p.get("decision_doc_name"),
                 p.get("decision_doc_no"), p.get("authority"),
                 f"有效期 {p.get('valid_from')} 至 {p.get('valid_to') or '长期'}")


def _penalty(p: dict[str, Any]) -> str:
    kinds = "、".join(_PENALTY.get(t, t) for t in p.get("penalty_types") or [])
    return _join(f"行政处罚 {p.get('decision_no', '')}".strip(), p.get("violation_type"), kinds,
                 f"罚款 {_money(p.get('fine_amount'), '万元')}" if p.get("fine_amount") else None, p.get("authority"),
                 "严重失信" if p.get("serious") else None, f"公示至 {p.get('publish_until')}")


def _judicial(p: dict[str, Any]) -> str:
    return _join(p.get("case_no"), p.get("court"), _PERFORMANCE.get(p.get("performance", ""), ""),
                 f"失信被执行人（{_DISHONEST.get(p['dishonest_conduct'], '')}）" if p.get("dishonest_conduct") else None,
                 f"标的 {_money(p.get('amount'))}" if p.get("amount") else None)


def _bidding(p: dict[str, Any]) -> str:
    return _join(p.get("project"), p.get("tenderer"), _BID.get(p.get("result", ""), ""),
                 _BID_VIOLATION.get(p["violation"], "") if p.get("violation") else None,
                 f"禁止投标至 {p['ban_until']}" if p.get("ban_until") else None)


def _commitment(p: dict[str, Any]) -> str:
    return _join(p.get("title") or "信用承诺", f"版本 {p.get('text_version')}", p.get("signatory"),
                 "已履行" if p.get("fulfilled", True) else "未履行")


def _loan(p: dict[str, Any]) -> str:
    return _join(p.get("lender"), f"金额 {_money(p.get('amount'))}", f"{p.get('start_on')} 至 {p.get('end_on')}",
                 _LOAN.get(p.get("status", ""), ""),
                 f"逾期 {p['overdue_days']} 天" if p.get("overdue_days") else None)


def _honour(p: dict[str, Any]) -> str:
    return _join(p.get("award"), p.get("issuer"), _HONOUR_LEVEL.get(p.get("level") or ""))


def _utility(p: dict[str, Any]) -> str:
    return _join(f"{p.get('month')} 电费", f"用电 {p.get('consumption_kwh')} 千瓦时", f"应缴 {_money(p.get('amount_due'))}",
                 _UTILITY.get(p.get("status", ""), ""))


DESCRIBERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "tax": _tax, "contract": _contract, "quality": _quality, "safety": _safety, "environment": _environment,
    "licence": _licence, "penalty": _penalty, "judicial": _judicial, "bidding": _bidding,
    "commitment": _commitment, "loan": _loan, "honour": _honour, "utility": _utility,
}


def describe(record: dict[str, Any]) -> str:
    """A record's payload in one Chinese line; an unexpected payload falls back to its
    fields, so nothing a provider sent is hidden."""
    payload = record.get("payload") or {}
    try:
        return DESCRIBERS[record["category"]](payload) or "—"
    except (KeyError, TypeError):
        return "；".join(f"{k}：{v}" for k, v in payload.items()) or "—"
