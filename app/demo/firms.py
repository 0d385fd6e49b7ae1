"""Deterministic demo data: firms in every segment with valid USCCs and real region codes,
the providers of every record category (each with an OAuth client, and the coverage a real
one has), banks that report the loans they made, and each firm's records drawn from a credit
quality it hides (``app.demo.records``), which spreads the firms over the grades, leaves the
thinnest files not rated, and gives the loans outcomes a back-test can be run against.

Everything goes through the real services (registration, ingestion), so the demo data
obeys every rule the API enforces; running it again with the same seed changes nothing.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

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
from app.demo.records import (
    SOUTHERN_GRID_PROVINCES,
    STATE_GRID_PROVINCES,
    Draw,
    Hidden,
    draw_founded,
    draw_hidden,
    draw_quality,
    records_for,
)
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


class ProviderSpec(NamedTuple):
    code: str
    name: str
    kind: str
    categories: list[str]
    coverage: str | None = None  # None: as the kind has it (app.archive.models.default_coverage)
    provinces: list[str] | None = None  # region coverage: these provinces (None: the whole country)


BANKS: list[tuple[str, str, str]] = [
    ("中国工商银行股份有限公司北京分行", "B0001B211000001", "bank"),
    ("中国建设银行股份有限公司江苏省分行", "B0004B232000001", "bank"),
    ("招商银行股份有限公司杭州分行", "B0011B233010001", "bank"),
    ("浙江网商银行股份有限公司", "B1009H133010001", "bank"),
    ("兴业银行股份有限公司福州分行", "B0013B235010001", "bank"),
]
# The banks report the loans they made: each covers only the firms it has lent to.
LENDERS: list[tuple[str, str]] = [(f"bank-{licence.lower()}", name) for name, licence, _ in BANKS]

# The tax authority, the courts and the regulators cover every firm in the country (a firm
# with no bad record from them has none); the grid companies cover the provinces whose bills
# they send; the procurement platform and the banks cover only the firms they report on.
PROVIDERS: list[ProviderSpec] = [
    ProviderSpec("chinatax", "国家税务总局纳税信用评价", "tax_authority", ["tax"]),
    ProviderSpec("court-zxgk", "中国执行信息公开网", "court", ["judicial"]),
    ProviderSpec("samr-gsxt", "国家企业信用信息公示系统（市场监管）", "market_regulator", ["licence", "penalty", "quality"]),
    ProviderSpec("nea-credit", "国家能源局资质和信用信息系统", "market_regulator", ["licence", "penalty", "safety"]),
    ProviderSpec("mee-env", "生态环境部门环境信用评价", "market_regulator", ["environment", "penalty"]),
    ProviderSpec("power-ecp", "电力集团电子商务采购平台", "procurement_platform", ["contract", "bidding"]),
    ProviderSpec("sgcc-marketing", "国家电网营销系统（电费）", "grid_company", ["utility"], "region",
                 STATE_GRID_PROVINCES),
    ProviderSpec("csg-marketing", "南方电网营销系统（电费）", "grid_company", ["utility"], "region",
                 SOUTHERN_GRID_PROVINCES),
    ProviderSpec("cec", "中国电力企业联合会", "industry_body", ["commitment", "honour"]),
    *(ProviderSpec(code, f"{name}（信贷信息）", "financial_institution", ["loan"], "reported")
      for code, name in LENDERS),
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
CAPITALS = [100, 200, 500, 1000, 2000, 5000, 10000, 50000, 100000]  # registered (subscribed) capital, 万元
PAID_IN_SHARE = 0.45  # firms whose paid-in capital (实缴) the registry knows


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


def _firm(rng: random.Random, n: int, taken: set[str], today: dt.date) -> tuple[dict[str, Any], Hidden]:
    """A firm's registration, and what it hides: its quality and what follows from it."""
    quality = draw_quality(rng)
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
    founded, new = draw_founded(rng, quality, today)
    born = dt.date(rng.randint(1960, 1992), rng.randint(1, 12), rng.randint(1, 28))
    scale = min(len(CAPITALS) - 1, max(0, round(rng.gauss(1.5 + 5 * quality, 1.5))))  # better firms are larger
    capital = CAPITALS[scale] * 10_000
    firm: dict[str, Any] = {
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
    if rng.random() < PAID_IN_SHARE:  # paid in: a share of the subscribed capital, larger for better firms
        share = min(1.0, rng.uniform(0.05, 0.6) + 0.4 * quality)
        firm["paid_in_capital"] = str(max(10_000, round(capital * share / 10_000) * 10_000))
    return firm, draw_hidden(rng, quality, new, str(segment), region[:2], founded, today)


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


def _demo_firm_material(firm: dict[str, Any], hidden: Hidden, records: dict[str, list[dict[str, Any]]],
                        today: dt.date) -> bool:
    """A firm the demo user can show: of high quality, at least five years old, with bills,
    bank loans and no default, and one bill or contract paid late (a record it can object to)."""
    founded = dt.date.fromisoformat(firm["founded_on"])
    late = any(row["category"] in ("utility", "contract") and row["payload"].get("status") == "late"
               for rows in records.values() for row in rows)
    return (hidden.quality >= 0.85 and hidden.grid is not None and hidden.credit and hidden.default_on is None
            and founded <= clock.add_years(today, -5) and late)


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
    draw = Draw(rng, today)
    report = SeedReport()

    providers: dict[str, DataProvider] = {}
    for spec in PROVIDERS:
        provider = session.scalar(sa.select(DataProvider).where(DataProvider.code == spec.code))
        if provider is None:
            provider = create_provider(session, code=spec.code, name=spec.name, kind=spec.kind,
                                       categories=spec.categories, coverage=spec.coverage, provinces=spec.provinces)
        providers[spec.code] = provider
        if not clients_of_provider(session, provider.id):
            client, secret = register_client(
                session, name=f"{spec.name} 报送客户端", scope="records:write",
                grant_types=["client_credentials"], provider_id=provider.id,
            )
            report.provider_clients[spec.code] = (client.client_id, secret)

    for name, licence, kind in BANKS:
        if session.scalar(sa.select(Institution.id).where(Institution.licence_no == licence)) is None:
            create_institution(session, name=name, licence_no=licence, kind=kind)

    taken: set[str] = set()
    batches: dict[str, list[dict[str, Any]]] = {code: [] for code in providers}
    firm_uscc: str | None = None
    first_uscc = ""
    for n in range(firms):
        firm, hidden = _firm(rng, n, taken, today)
        _, created, _ = upsert_enterprise(session, cipher, firm)
        report.firms_created += int(created)
        first_uscc = first_uscc or firm["uscc"]
        records = records_for(draw, firm, hidden, n, LENDERS)  # drawn for every firm: the next firms' draws stay the same
        if firm_uscc is None and _demo_firm_material(firm, hidden, records, today):
            firm_uscc = firm["uscc"]
        if created:  # a firm already in the archive keeps its records as they now are (corrections included)
            for code, rows in records.items():
                batches[code].extend(rows)
        if progress:
            progress(1)
    report.firms_total = firms

    for code, rows in batches.items():
        result = ingest_records(session, providers[code], rows, source="file", filename="演示数据", keep_rows=False)
        if result.refused:
            first = result.refusals[0]
            raise RuntimeError(f"演示数据未通过校验（{code} 第 {first.index} 行）：{first.errors}")
        report.records[code] = result.accepted + result.unchanged + result.corrected
    refresh_statistics(session, sum(report.records.values()), ("credit_record", "credit_record_version", "enterprise"))

    # Demo users: the firm user is bound to a firm of high quality with a full file.
    firm_uscc = firm_uscc or first_uscc
    demo_users: dict[str, dict[str, str]] = {
        "operator": {"role": "operator", "display_name": "征信运营员"},
        "firm": {"role": "firm", "display_name": "企业财务负责人", "enterprise_uscc": firm_uscc},
        "bank": {"role": "bank", "display_name": "银行信贷经理", "institution_licence": BANKS[0][1]},
    }
    for username, user_spec in demo_users.items():
        password = passwords[username]
        user = session.scalar(sa.select(User).where(User.username == username))
        if user is None:
            create_user(session, username=username, password=password, role=user_spec["role"],
                        display_name=user_spec["display_name"], enterprise_uscc=user_spec.get("enterprise_uscc"),
                        institution_licence=user_spec.get("institution_licence"))
        else:
            set_password(session, user, password)
        report.users[username] = (str(user_spec["role"]), password)
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
