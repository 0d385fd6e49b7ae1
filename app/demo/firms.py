"""Deterministic demo data: firms in every segment with valid USCCs and real region codes,
the providers of every record category (each with an OAuth client), banks, and a mix of
good and bad records that spreads the firms over the grades.

Everything goes through the real services (registration, ingestion), so the demo data
obeys every rule the API enforces; running it again with the same seed changes nothing.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Institution, User
from app.accounts.services import create_institution, create_user, set_password
from app.archive.ingestion import ingest_records
from app.archive.models import DataProvider, Enterprise, Segment
from app.archive.regions import COUNTIES
from app.archive.services import create_provider, upsert_enterprise
from app.archive.uscc import ALPHABET, make_uscc
from app.core import clock
from app.core.crypto import FieldCipher
from app.core.db import refresh_statistics
from app.core.signing import SigningKeys
from app.oauth.services import (
    clients_of_institution,
    clients_of_provider,
    register_bank_client,
    register_client,
)
from consent.models import Consent, FetchType, PeriodUnit, Purpose
from consent.services import (
    Terms,
    change_consent,
    expire_due,
    grant_consent,
    reject_consent,
    request_consent,
)

# The demo bank's OAuth client sends firms back here after the consent screen.
DEMO_BANK_REDIRECT = "http://127.0.0.1:8765/callback"

PROVIDERS: list[tuple[str, str, str, list[str]]] = [
    ("chinatax", "国家税务总局纳税信用评价", "tax_authority", ["tax"]),
    ("court-zxgk", "中国执行信息公开网", "court", ["judicial"]),
    ("samr-gsxt", "国家企业信用信息公示系统（市场监管）", "market_regulator", ["licence", "penalty", "quality"]),
    ("nea-credit", "国家能源局资质和信用信息系统", "market_regulator", ["licence", "penalty", "safety"]),
    ("mee-env", "生态环境部门环境信用评价", "market_regulator", ["environment", "penalty"]),
    ("power-ecp", "电力集团电子商务采购平台", "procurement_platform", ["contract", "bidding"]),
    ("grid-marketing", "电网企业营销系统（电费）", "grid_company", ["utility", "contract"]),
    ("cec", "中国电力企业联合会", "industry_body", ["commitment", "honour"]),
    ("bank-credit", "合作金融机构信贷信息", "financial_institution", ["loan"]),
]

BANKS: list[tuple[str, str, str]] = [
    ("中国工商银行股份有限公司北京分行", "B0001B211000001", "bank"),
    ("中国建设银行股份有限公司江苏省分行", "B0004B232000001", "bank"),
    ("招商银行股份有限公司杭州分行", "B0011B233010001", "bank"),
    ("浙江网商银行股份有限公司", "B1009H133010001", "bank"),
    ("兴业银行股份有限公司福州分行", "B0013B235010001", "bank"),
]

SEGMENT_WORDS: dict[Segment, list[str]] = {
    Segment.generation: ["新能源发电", "风力发电", "光伏发电", "热电", "水电开发", "发电"],
    Segment.grid: ["供电服务", "配售电", "电网运维", "增量配电"],
    Segment.construction: ["电力建设工程", "送变电工程", "电力安装工程", "电力工程设计"],
    Segment.supplier: ["电气设备", "电缆", "变压器制造", "开关设备", "电力自动化", "电力器材"],
    Segment.retail: ["售电", "能源销售"],
    Segment.consumer: ["钢铁", "化工", "纺织", "水泥", "数据科技", "有色金属", "机械制造"],
    Segment.integrated: ["综合能源服务", "储能科技", "节能服务", "充电科技"],
}
SEGMENT_WEIGHTS = {
    Segment.generation: 14, Segment.grid: 6, Segment.construction: 14, Segment.supplier: 22,
    Segment.retail: 10, Segment.consumer: 22, Segment.integrated: 12,
}
BRAND_A = "华中东金正新泰瑞安德宏嘉源浩明鼎联汇益永"
BRAND_B = "盛通达远辉信诚和科创能力川峰阳晟拓恒昌润"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红文斌波宇浩凯健俊帆鹏"
COURTS = {"11": "北京市第一中级人民法院", "31": "上海市浦东新区人民法院", "44": "广州市天河区人民法院",
          "33": "杭州市西湖区人民法院", "34": "安徽省来安县人民法院", "32": "南京市鼓楼区人民法院"}
COURT_ABBR = {"11": "京", "12": "津", "13": "冀", "14": "晋", "15": "内", "21": "辽", "22": "吉", "23": "黑",
              "31": "沪", "32": "苏", "33": "浙", "34": "皖", "35": "闽", "36": "赣", "37": "鲁", "41": "豫",
              "42": "鄂", "43": "湘", "44": "粤", "45": "桂", "46": "琼", "50": "渝", "51": "川", "52": "黔",
              "53": "滇", "54": "藏", "61": "陕", "62": "甘", "63": "青", "64": "宁", "65": "新"}

# Profiles drive the record mix; weights give a spread of grades once scoring runs.
PROFILES = [("exemplary", 12), ("good", 30), ("fair", 28), ("weak", 18), ("poor", 8), ("failing", 4)]
BAD_RATE = {"exemplary": 0.0, "good": 0.04, "fair": 0.12, "weak": 0.25, "poor": 0.45, "failing": 0.7}


@dataclass
class SeedReport:
    firms_created: int = 0
    firms_total: int = 0
    records: dict[str, int] = field(default_factory=dict)  # written by this run, per provider
    provider_clients: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    users: dict[str, tuple[str, str]] = field(default_factory=dict)
    bank_clients: dict[str, tuple[str, str | None, str]] = field(default_factory=dict)
    consents: list[str] = field(default_factory=list)


def _id_number(rng: random.Random, region: str, born: dt.date) -> str:
    body = f"{region}{born:%Y%m%d}{rng.randint(0, 999):03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


def _authority_uscc(region: str) -> str:
    # Government authorities carry USCCs beginning with 11 (机构编制, 机关).
    return make_uscc("1", "1", region, f"0{region[:2]}00001")


class _Gen:
    def __init__(self, rng: random.Random, today: dt.date) -> None:
        self.rng = rng
        self.today = today

    def day_between(self, start: dt.date, end: dt.date) -> dt.date:
        span = max(0, (end - start).days)
        return start + dt.timedelta(days=self.rng.randint(0, span))

    def ago(self, max_days: int, min_days: int = 1) -> dt.date:
        return self.today - dt.timedelta(days=self.rng.randint(min_days, max_days))

    def money(self, low: int, high: int) -> str:
        return f"{self.rng.randint(low, high)}.{self.rng.randint(0, 99):02d}"


def _firm(rng: random.Random, n: int, taken: set[str], today: dt.date) -> dict[str, Any]:
    segment = rng.choices(list(SEGMENT_WEIGHTS), weights=list(SEGMENT_WEIGHTS.values()))[0]
    region = rng.choice(sorted(COUNTIES))
    city, district = COUNTIES[region]
    place = city.removesuffix("市")
    while True:
        brand = rng.choice(BRAND_A) + rng.choice(BRAND_B)
        name = f"{place}{brand}{rng.choice(SEGMENT_WORDS[segment])}有限公司"
        if name not in taken:
            break
    taken.add(name)
    org8 = ("MA" + "".join(rng.choice(ALPHABET[:10] + "ABCDEFGHJKLMNPQRTUWXY") for _ in range(6))
            if rng.random() < 0.6 else f"{rng.randint(10_000_000, 99_999_999)}")
    founded = today - dt.timedelta(days=rng.randint(200, 30 * 365))
    born = dt.date(rng.randint(1960, 1992), rng.randint(1, 12), rng.randint(1, 28))
    capital = rng.choice([100, 200, 500, 1000, 2000, 5000, 10000, 50000, 100000]) * 10_000
    return {
        "uscc": make_uscc("9", "1", region, org8),
        "name": name,
        "segment": str(segment),
        "registered_capital": str(capital),
        "founded_on": founded.isoformat(),
        "address": f"{city}{district}{rng.choice(['科技', '建设', '人民', '解放', '中山', '长江'])}路{rng.randint(1, 999)}号",
        "legal_rep_name": rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2))),
        "legal_rep_id": _id_number(rng, region, born),
        "contact_phone": f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}",
    }


def _records_for(g: _Gen, firm: dict[str, Any], profile: str, n: int) -> dict[str, list[dict[str, Any]]]:
    """Provider code → rows for one firm."""
    rng, today = g.rng, g.today
    uscc, seg = firm["uscc"], firm["segment"]
    founded = dt.date.fromisoformat(firm["founded_on"])
    bad = BAD_RATE[profile]
    out: dict[str, list[dict[str, Any]]] = {p[0]: [] for p in PROVIDERS}
    region = uscc[2:8]
    authority = _authority_uscc(region)

    def add(provider: str, category: str, ref: str, payload: dict[str, Any]) -> None:
        out[provider].append({"provider_ref": f"{uscc}-{ref}", "uscc": uscc, "category": category, "payload": payload})

    # 纳税信用: one grade per year since founding, the last five published (each April).
    latest = today.year - 1 if today.month >= 4 else today.year - 2
    for year in range(max(founded.year + 1, latest - 4, 2014), latest + 1):  # graded from 2014 on
        r = rng.random()
        grade = "A" if r > 0.55 + bad else "B" if r > 0.15 + bad else "C" if r > bad * 0.4 else "D"
        if year == founded.year + 1 and rng.random() < 0.5:
            grade = "M"
        payload: dict[str, Any] = {"year": year, "grade": grade}
        if grade in ("C", "D") and rng.random() < 0.5:
            payload["arrears_amount"] = g.money(5_000, 400_000)
        add("chinatax", "tax", f"tax-{year}", payload)

    # 电费: the last 12 months from the grid's marketing system.
    first_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    scale = rng.choice([20_000, 80_000, 300_000, 1_500_000, 6_000_000])
    trend = rng.uniform(-0.03, 0.04)
    month = first_month
    arrears_run = 0
    for i in range(12):
        kwh = Decimal(scale * (1 + trend) ** (12 - i) * rng.uniform(0.85, 1.15)).quantize(Decimal("1"))
        due = (kwh * Decimal("0.62")).quantize(Decimal("0.01"))
        r = rng.random()
        p: dict[str, Any] = {"account_no": f"{region}{n:06d}", "month": month.strftime("%Y-%m"),
                             "consumption_kwh": str(kwh), "amount_due": str(due)}
        if r < bad * 0.15:
            arrears_run += 1
            p.update(status="arrears", arrears_amount=str(due), arrears_months=arrears_run)
        else:
            arrears_run = 0
            next_month = (month + dt.timedelta(days=32)).replace(day=1)
            paid = min(today, next_month + dt.timedelta(days=rng.randint(0, 14)))
            late = r < bad * 0.5
            if late:
                paid = min(today, next_month + dt.timedelta(days=rng.randint(20, 40)))
            p.update(status="late" if late else "on_time", paid_on=paid.isoformat())
        add("grid-marketing", "utility", f"elec-{month:%Y%m}", p)
        month = (month - dt.timedelta(days=1)).replace(day=1)

    # 合同履约 on power groups' procurement platforms.
    for i in range(rng.randint(2, 8)):
        signed = g.day_between(max(founded, today - dt.timedelta(days=4 * 365)), today - dt.timedelta(days=60))
        due_day = signed + dt.timedelta(days=rng.randint(30, 365))
        if due_day >= today:
            due_day = today - dt.timedelta(days=rng.randint(1, 20))
        r = rng.random()
        status = "breached" if r < bad * 0.3 else "late" if r < bad else "disputed" if r < bad + 0.02 else "on_time"
        p = {"contract_no": f"ECP-{signed:%Y}-{rng.randint(10000, 99999)}",
             "counterparty_uscc": "91110000053621038D", "counterparty_name": "国网某省电力有限公司",
             "subject": rng.choice(["变压器采购", "电缆采购", "输变电工程施工", "运维服务", "配网物资"]),
             "amount": g.money(50_000, 8_000_000), "signed_on": signed.isoformat(), "due_on": due_day.isoformat(),
             "status": status}
        if status == "on_time":
            p["fulfilled_on"] = g.day_between(signed, due_day).isoformat()
        elif status == "late":
            p["fulfilled_on"] = min(today, due_day + dt.timedelta(days=rng.randint(5, 90))).isoformat()
        add("power-ecp", "contract", f"contract-{i}", p)

    # 招投标 for suppliers and builders.
    if seg in ("supplier", "construction", "integrated"):
        for i in range(rng.randint(1, 5)):
            p = {"project": rng.choice(["220kV 变电站新建工程", "配电网改造项目", "光伏电站 EPC", "电能表集中采购"]),
                 "bid_on": g.ago(1500, 10).isoformat(), "result": rng.choice(["won", "lost", "lost"])}
            if rng.random() < bad * 0.2:
                p.update(result="disqualified", violation=rng.choice(["collusion", "fraud"]))
            add("power-ecp", "bidding", f"bid-{i}", p)

    # 产品质量 抽检 for suppliers.
    if seg == "supplier":
        for i in range(rng.randint(1, 4)):
            p = {"product": rng.choice(["10kV 电力电缆", "干式变压器", "智能电能表", "高压开关柜"]),
                 "inspection_on": g.ago(1400, 10).isoformat(), "result": "pass"}
            if rng.random() < bad * 0.6:
                p.update(result="fail", defect_class=rng.choice(["minor", "major", "critical"]))
            add("samr-gsxt", "quality", f"qc-{i}", p)

    # 行政许可 (双公示): a licence every firm in the sector holds.
    lic_name = {"generation": "电力业务许可证（发电类）", "grid": "电力业务许可证（供电类）",
                "construction": "承装（修、试）电力设施许可证", "retail": "售电公司注册",
                "supplier": "全国工业产品生产许可证", "consumer": "排污许可证",
                "integrated": "承装（修、试）电力设施许可证"}[seg]
    decided = g.day_between(founded, today - dt.timedelta(days=30))
    add("nea-credit" if seg != "consumer" else "samr-gsxt", "licence", "licence-main", {
        "decision_doc_name": f"关于准予{lic_name}的决定", "decision_doc_no": f"许可〔{decided:%Y}〕{rng.randint(1, 999)}号",
        "licence_category": "general", "certificate_name": lic_name, "certificate_no": f"1{rng.randint(10**9, 10**10 - 1)}",
        "content": f"准予{lic_name}", "decided_on": decided.isoformat(), "valid_from": decided.isoformat(),
        "valid_to": (decided + dt.timedelta(days=365 * 6)).isoformat(), "authority": "国家能源局派出机构",
        "authority_uscc": authority, "status": "valid", "data_source": "国家能源局"})

    # 行政处罚 (双公示).
    if rng.random() < bad * 0.8:
        decided = g.ago(1800, 20)
        serious = rng.random() < bad * 0.4
        add("nea-credit" if seg != "consumer" else "mee-env", "penalty", "penalty-1", {
            "decision_no": f"罚〔{decided:%Y}〕{rng.randint(1, 300)}号", "violation_type": "违反电力业务许可规定",
            "facts": "未按规定报送电力安全信息", "legal_basis": "《电力监管条例》第三十一条",
            "penalty_types": ["fine", "suspension"] if serious else ["warning", "fine"],
            "content": "罚款并责令改正", "fine_amount": f"{rng.randint(1, 50)}.5",
            "decided_on": decided.isoformat(),
            "publish_until": (decided + dt.timedelta(days=365 * (3 if serious else 1) - 1)).isoformat(),
            "authority": "国家能源局派出机构", "authority_uscc": authority, "serious": serious})

    # 安全生产 accidents.
    if seg in ("generation", "construction", "grid") and rng.random() < bad * 0.5:
        level = rng.choices(["ordinary", "larger", "major"], weights=[8, 3, 1])[0]
        deaths = {"ordinary": rng.randint(0, 2), "larger": rng.randint(3, 9), "major": rng.randint(10, 12)}[level]
        add("nea-credit", "safety", "accident-1", {"accident_on": g.ago(1700, 30).isoformat(), "level": level,
                                                   "deaths": deaths, "injuries": rng.randint(0, 6)})

    # 环保.
    if seg in ("generation", "consumer"):
        rating = rng.choices(["green", "blue", "yellow", "red", "black"],
                             weights=[30, 40, 15 + bad * 40, bad * 30, bad * 10])[0]
        add("mee-env", "environment", "env-rating", {"event_on": g.ago(300, 30).isoformat(), "rating": rating})

    # 司法: 失信被执行人 for the failing.
    if rng.random() < bad * 0.35:
        filed = g.ago(1500, 60)
        dishonest = rng.random() < bad * 0.6
        p = {"case_no": f"({filed:%Y}){COURT_ABBR.get(uscc[2:4], '京')}{uscc[4:8]}执{rng.randint(100, 9999)}号",
             "court": COURTS.get(uscc[2:4], "北京市第一中级人民法院"), "filed_on": filed.isoformat(),
             "obligation": "支付货款及利息", "performance": "none" if dishonest else "partial",
             "amount": g.money(100_000, 5_000_000)}
        if dishonest:
            p.update(dishonest_conduct="refuse_with_ability",
                     published_on=(filed + dt.timedelta(days=rng.randint(20, 90))).isoformat())
        add("court-zxgk", "judicial", "case-1", p)

    # 信贷.
    for i in range(rng.randint(0, 3)):
        start = g.day_between(max(founded, today - dt.timedelta(days=5 * 365)), today - dt.timedelta(days=30))
        end = start + dt.timedelta(days=rng.choice([180, 365, 730, 1095]))
        status = "overdue" if rng.random() < bad * 0.4 else "settled" if end < today else "normal"
        p = {"lender": rng.choice(BANKS)[0], "amount": g.money(200_000, 20_000_000),
             "start_on": start.isoformat(), "end_on": end.isoformat(), "status": status}
        if status == "overdue":
            p["overdue_days"] = rng.randint(5, 200)
        if status == "settled":
            p["settled_on"] = end.isoformat()
        add("bank-credit", "loan", f"loan-{i}", p)

    # 信用承诺 and 荣誉.
    if rng.random() < 0.9 - bad:
        add("cec", "commitment", "commitment-2024", {"title": "信用电力自律公约", "text_version": "v2024",
                                                    "signed_on": g.ago(700, 5).isoformat()})
    if rng.random() < 0.35 - bad:
        add("cec", "honour", "honour-1", {"award": rng.choice(["电力行业 AAA 级信用企业", "安全生产标准化一级企业", "优质工程奖"]),
                                         "issuer": "中国电力企业联合会", "awarded_on": g.ago(1500, 30).isoformat(),
                                         "level": "industry"})
    return out


def demo_firm_user(session: Session, ent: Enterprise) -> User:
    """A firm's first user; for the demo's other firms, one with a password nobody knows."""
    user = session.scalar(sa.select(User).where(User.enterprise_id == ent.id).order_by(User.id).limit(1))
    if user is None:
        user = create_user(session, username=f"firm-{ent.uscc.lower()}", password=secrets.token_urlsafe(16),
                           role="firm", display_name=f"{ent.name} 财务", enterprise_uscc=ent.uscc)
    return user


def bank_officer(session: Session, bank: Institution) -> User:
    """A bank's first user; for the demo's banks, a back-office officer whose password nobody knows."""
    user = session.scalar(sa.select(User).where(User.institution_id == bank.id).order_by(User.id).limit(1))
    if user is None:
        user = create_user(session, username=f"officer-{bank.licence_no.lower()}", password=secrets.token_urlsafe(16),
                           role="bank", display_name=f"{bank.name} 信贷经理", institution_licence=bank.licence_no)
    return user


def seed_demo(
    session: Session,
    cipher: FieldCipher,
    *,
    firms: int,
    seed: int,
    today: dt.date,
    passwords: dict[str, str],
    signer: SigningKeys | None = None,
    progress: Callable[[int], None] | None = None,
) -> SeedReport:
    """Create (or leave unchanged) the demo data set.  ``passwords`` maps demo usernames
    (operator, firm, bank) to the password to set."""
    rng = random.Random(seed)
    g = _Gen(rng, today)
    report = SeedReport()

    providers: dict[str, DataProvider] = {}
    for code, name, kind, cats in PROVIDERS:
        provider = session.scalar(sa.select(DataProvider).where(DataProvider.code == code))
        if provider is None:
            provider = create_provider(session, code=code, name=name, kind=kind, categories=cats)
        providers[code] = provider
        if not clients_of_provider(session, provider.id):
            client, secret = register_client(
                session, name=f"{name} 报送客户端", scope="records:write",
                grant_types=["client_credentials"], provider_id=provider.id,
            )
            report.provider_clients[code] = (client.client_id, secret)

    for name, licence, kind in BANKS:
        if session.scalar(sa.select(Institution.id).where(Institution.licence_no == licence)) is None:
            create_institution(session, name=name, licence_no=licence, kind=kind)

    taken: set[str] = set()
    batches: dict[str, list[dict[str, Any]]] = {code: [] for code in providers}
    firm_usccs: list[tuple[str, str]] = []
    for n in range(firms):
        firm = _firm(rng, n, taken, today)
        profile = rng.choices([p for p, _ in PROFILES], weights=[w for _, w in PROFILES])[0]
        _, created, _ = upsert_enterprise(session, cipher, firm)
        report.firms_created += int(created)
        firm_usccs.append((firm["uscc"], profile))
        records = _records_for(g, firm, profile, n)  # drawn for every firm: the next firms' draws stay the same
        if created:  # a firm already in the archive keeps its records as they now are (corrections included)
            for code, rows in records.items():
                batches[code].extend(rows)
        if progress:
            progress(1)
    report.firms_total = firms

    for code, rows in batches.items():
        result = ingest_records(session, providers[code], rows, source="file", filename="demo-seed", keep_rows=False)
        if result.refused:
            first = result.refusals[0]
            raise RuntimeError(f"演示数据未通过校验（{code} 第 {first.index} 行）：{first.errors}")
        report.records[code] = result.accepted + result.unchanged + result.corrected
    refresh_statistics(session, sum(report.records.values()), ("credit_record", "credit_record_version", "enterprise"))

    # Demo users: the firm user is bound to a firm with a good profile.
    firm_uscc = next((u for u, p in firm_usccs if p in ("exemplary", "good")), firm_usccs[0][0])
    demo_users = {
        "operator": {"role": "operator", "display_name": "征信运营员"},
        "firm": {"role": "firm", "display_name": "企业财务负责人", "enterprise_uscc": firm_uscc},
        "bank": {"role": "bank", "display_name": "银行信贷经理", "institution_licence": BANKS[0][1]},
    }
    for username, spec in demo_users.items():
        password = passwords[username]
        user = session.scalar(sa.select(User).where(User.username == username))
        if user is None:
            create_user(session, username=username, password=password, **spec)
        else:
            set_password(session, user, password)
        report.users[username] = (str(spec["role"]), password)
    session.flush()
    if signer is not None:
        _demo_consents(session, signer, report, firm_uscc)
    return report


def _demo_consents(session: Session, signer: SigningKeys, report: SeedReport, firm_uscc: str) -> None:
    """The demo bank's OAuth client; for the demo firm, with that bank, one consent the firm
    granted on its page (the printed client gets a token bound to it at once) and one request
    waiting on the consent screen (only when the firm has no consents yet)."""
    bank = session.scalar(sa.select(Institution).where(Institution.licence_no == BANKS[0][1]))
    assert bank is not None
    if not clients_of_institution(session, bank.id):
        client, secret = register_bank_client(session, bank, name=f"{bank.name} 信贷系统",
                                              redirect_uris=[DEMO_BANK_REDIRECT])
        report.bank_clients[bank.licence_no] = (client.client_id, secret, DEMO_BANK_REDIRECT)
    client = clients_of_institution(session, bank.id)[0]
    firm_user = session.scalar(sa.select(User).where(User.username == "firm"))
    assert firm_user is not None and firm_user.enterprise is not None
    if session.scalar(sa.select(Consent.id).where(Consent.enterprise_id == firm_user.enterprise_id).limit(1)):
        return
    now = clock.now().replace(microsecond=0)
    today = clock.to_cn(now).date()
    sections = ["identity", "evaluation", "summary", "tax", "contract", "utility", "judicial", "licence_penalty"]
    granted = grant_consent(session, signer, firm_user, institution=bank, via="firm", terms=Terms(
        purpose=Purpose.post_loan_monitoring, scopes=sections, data_from=clock.add_years(today, -3),
        data_to=today + dt.timedelta(days=365), valid_until=now + dt.timedelta(days=180),
        fetch_type=FetchType.periodic, frequency_unit=PeriodUnit.month, frequency_value=2,
        data_life_unit=PeriodUnit.year, data_life_value=1))
    pending = request_consent(session, client, firm_user.enterprise, Terms(
        purpose=Purpose.loan_application, scopes=sections, data_from=clock.add_years(today, -3),
        data_to=today, valid_until=now + dt.timedelta(days=30), fetch_type=FetchType.one_time,
        frequency_unit=None, frequency_value=None, data_life_unit=PeriodUnit.month, data_life_value=6))
    report.consents = [granted.consent_id, pending.consent_id]
    _consent_history(session, signer, firm_user, sections)


def _consent_history(session: Session, signer: SigningKeys, firm_user: User, sections: list[str]) -> None:
    """The demo firm's consents with the other banks, in the states a firm's page can show:
    one it rejected, one it paused, one it revoked, and one granted two months ago for a month
    that has since expired (granted then, on the clock as it was, so its signed terms hold)."""
    rejected_by, paused_by, revoked_by, expired_by = (session.scalars(
        sa.select(Institution).where(Institution.licence_no == licence)).one() for _, licence, _ in BANKS[1:5])
    assert firm_user.enterprise is not None

    def terms(now: dt.datetime, purpose: Purpose, days: int) -> Terms:
        today = clock.to_cn(now).date()
        return Terms(purpose=purpose, scopes=sections, data_from=clock.add_years(today, -2), data_to=today,
                     valid_until=now + dt.timedelta(days=days), fetch_type=FetchType.one_time, frequency_unit=None,
                     frequency_value=None, data_life_unit=PeriodUnit.month, data_life_value=3)

    now = clock.now().replace(microsecond=0)
    with clock.simulated(now - dt.timedelta(days=61)):
        grant_consent(session, signer, firm_user, institution=expired_by, via="firm",
                      terms=terms(clock.now(), Purpose.credit_line_review, 30))
    expire_due(session)
    asked = request_consent(session, bank_officer(session, rejected_by), firm_user.enterprise, terms(now, Purpose.supply_chain_finance, 30))
    reject_consent(session, asked, firm_user, "暂无融资需求")
    for bank, action in ((paused_by, "pause"), (revoked_by, "revoke")):
        consent = grant_consent(session, signer, firm_user, institution=bank, via="firm",
                                terms=terms(now, Purpose.credit_line_review, 90))
        change_consent(session, consent, firm_user, action, "授信额度审查暂缓" if action == "pause" else "已结清贷款")
