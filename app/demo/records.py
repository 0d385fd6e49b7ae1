"""What the providers report about a demo firm, drawn from a credit quality nobody sees.

Each firm gets a hidden quality (0 the worst, 1 the best) from the seeded RNG; everything the
archive then receives about it is drawn from that quality: monthly electricity bills and how
they were paid, tax grades, contracts, bids, inspections, accidents, penalties, court cases,
licences (renewed or left to lapse), honours by level, commitments, and loans from the banks
with their outcomes.  Defaults are drawn from the quality too, over the three years before the
as-of date, made likelier for two years by a shock (a serious penalty, a major accident, a
失信 listing) and preceded by months of distress (bills unpaid, contracts late, a creditor's
suit): a back-test of the grades against them (``powercredit scorecard validate``) shows a
default rate that falls as the grade rises.

No future leaks into the past: a loan's status is reported as of a day (``reported_on``, the
数据日期) after what it says happened, so an evaluation as of an earlier day does not see it;
a default is the same event whichever way it is reported (overdue 90 days on its default
date, or written off that day); and which other loans a firm holds does not depend on whether
it will default, only on its quality.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.archive.regions import COUNTIES, PROVINCES
from app.archive.uscc import make_uscc
from app.core import clock

# The grid companies whose monthly bills the platform receives, by province: State Grid's
# provincial companies that share their marketing data, and China Southern Grid's five. Firms
# elsewhere (western Inner Mongolia, Tibet, the north-west) have no bills here.
STATE_GRID_PROVINCES = ["11", "12", "13", "14", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
                        "41", "42", "43", "50", "51", "61", "62"]
SOUTHERN_GRID_PROVINCES = ["44", "45", "46", "52", "53"]
GRID_OF: dict[str, str] = {**dict.fromkeys(STATE_GRID_PROVINCES, "sgcc-marketing"),
                           **dict.fromkeys(SOUTHERN_GRID_PROVINCES, "csg-marketing")}

BILL_MONTHS = 36  # the consumption trend (12 months against the 12 before) is known a year back too
NEW_FIRM_SHARE = 0.06  # founded within the last 14 months: too little history to be rated (NR)
THIN_FILE_SHARE = 0.03  # no tax grade, bills, contracts or loans: too little coverage to be rated (NR)
CREDIT_SHARE = 0.85  # firms with bank loans
LOAN_YEARS = 5  # loans reported: those started in the last five years

COURT_ABBR = {"11": "京", "12": "津", "13": "冀", "14": "晋", "15": "内", "21": "辽", "22": "吉", "23": "黑",
              "31": "沪", "32": "苏", "33": "浙", "34": "皖", "35": "闽", "36": "赣", "37": "鲁", "41": "豫",
              "42": "鄂", "43": "湘", "44": "粤", "45": "桂", "46": "琼", "50": "渝", "51": "川", "52": "黔",
              "53": "滇", "54": "藏", "61": "陕", "62": "甘", "63": "青", "64": "宁", "65": "新"}

# Licences by segment, (name, category, provider, years valid): the first is the one every firm
# of the segment holds; a better firm holds more of the others and renews them more often.
LICENCES: dict[str, list[tuple[str, str, str, int]]] = {
    "generation": [("电力业务许可证（发电类）", "general", "nea-credit", 20), ("取水许可证", "general", "samr-gsxt", 5),
                   ("排污许可证", "general", "samr-gsxt", 5), ("安全生产标准化证书", "recognition", "nea-credit", 3)],
    "grid": [("电力业务许可证（供电类）", "franchise", "nea-credit", 20),
             ("承装（修、试）电力设施许可证", "general", "nea-credit", 6), ("安全生产许可证", "general", "samr-gsxt", 3)],
    "construction": [("承装（修、试）电力设施许可证", "general", "nea-credit", 6),
                     ("建筑业企业资质证书", "approval", "samr-gsxt", 5), ("安全生产许可证", "general", "samr-gsxt", 3),
                     ("工程设计资质证书", "approval", "samr-gsxt", 5)],
    "supplier": [("全国工业产品生产许可证", "general", "samr-gsxt", 5), ("特种设备生产许可证", "general", "samr-gsxt", 4),
                 ("计量器具型式批准证书", "approval", "samr-gsxt", 5), ("强制性产品认证证书", "recognition", "samr-gsxt", 5)],
    "retail": [("售电公司注册", "registration", "nea-credit", 5), ("电力业务许可证（供电类）", "franchise", "nea-credit", 20)],
    "consumer": [("排污许可证", "general", "samr-gsxt", 5), ("取水许可证", "general", "samr-gsxt", 5),
                 ("安全生产许可证", "general", "samr-gsxt", 3)],
    "integrated": [("承装（修、试）电力设施许可证", "general", "nea-credit", 6),
                   ("电力业务许可证（发电类）", "general", "nea-credit", 20), ("建筑业企业资质证书", "approval", "samr-gsxt", 5)],
}
HONOURS = [("电力行业 AAA 级信用企业", "中国电力企业联合会"), ("安全生产标准化一级企业", "国家能源局"),
           ("优质工程奖", "中国电力建设企业协会"), ("守合同重信用企业", "市场监督管理局"), ("纳税信用 A 级纳税人", "国家税务总局")]
HONOUR_LEVELS = ["national", "provincial", "industry", "municipal"]


@dataclass(frozen=True)
class Hidden:
    """What the demo knows about a firm and the platform does not: its credit quality, and
    what follows from it."""

    quality: float  # 0 the worst … 1 the best
    new: bool  # founded within the last 14 months
    thin: bool  # few sources report on it
    grid: str | None  # the grid provider sending its bills (None: none does)
    credit: bool  # borrows from the banks
    default_on: dt.date | None  # the day its loan went into default (90 days past due or written off)
    distress_from: dt.date | None = None  # trouble shows from this day on, months before the default
    shock: tuple[str, dt.date] | None = None  # a serious penalty, a major accident or a 失信 listing, and its day

    def distressed(self, day: dt.date) -> bool:
        return self.distress_from is not None and day >= self.distress_from

    @property
    def slack(self) -> float:
        """How often small things slip (a bill paid late, a contract fulfilled late, a warning):
        in proportion to how far the firm is from the best."""
        return 1 - self.quality

    @property
    def bad(self) -> float:
        """How often serious things go wrong (arrears, a breach, a court case, a fine, an
        accident): hardly ever for the better half, 0.75 for the worst."""
        return badness(self.quality)

    def shocked(self, kind: str) -> dt.date | None:
        return self.shock[1] if self.shock is not None and self.shock[0] == kind else None


def badness(quality: float) -> float:
    return 0.75 * (1 - quality) ** 2.5


def default_probability(quality: float) -> float:
    """The chance that a firm with loans defaults within a year (before any shock)."""
    return 0.002 + 0.7 * (1 - quality) ** 3.5


SHOCK_SHARE = 0.5  # times badness²: the chance of a shock in five years
SHOCK_RISK = 0.3  # added to the chance of a default within the two years after a shock
DANGEROUS = ("generation", "construction", "grid", "integrated")  # where a major accident can happen


def draw_quality(rng: random.Random) -> float:
    """A quality from the standard normal's distribution function: uniform on (0, 1)."""
    return 0.5 * (1 + math.erf(rng.gauss(0.0, 1.0) / math.sqrt(2)))


def draw_founded(rng: random.Random, quality: float, today: dt.date) -> tuple[dt.date, bool]:
    """The founding day (better firms tend to be older) and whether the firm is new."""
    if rng.random() < NEW_FIRM_SHARE:
        return today - dt.timedelta(days=rng.randint(60, 420)), True
    years = min(30.0, max(1.2, math.exp(rng.gauss(1.8 + 1.4 * (quality - 0.5), 0.6))))
    return today - dt.timedelta(days=int(years * 365.25)), False


def draw_hidden(rng: random.Random, quality: float, new: bool, segment: str, province: str, founded: dt.date,
                today: dt.date) -> Hidden:
    """What follows from the quality: sources, borrowing, a shock (a serious penalty, a major
    accident or a 失信 listing, which makes a default likelier for two years), a default
    within the year before the as-of date or the two years before that, and the distress
    that precedes it."""
    thin = not new and rng.random() < THIN_FILE_SHARE
    credit = not thin and rng.random() < CREDIT_SHARE
    shock = None
    if rng.random() < SHOCK_SHARE * badness(quality) ** 2:
        kind = "accident" if segment in DANGEROUS and rng.random() < 0.3 else rng.choice(["penalty", "dishonest"])
        start = max(founded + dt.timedelta(days=120), clock.add_years(today, -5))
        if start <= today - dt.timedelta(days=20):
            shock = (kind, _day_between(rng, start, today - dt.timedelta(days=20)))
    default_on = None
    u = rng.random()
    if credit:
        year_ago = clock.add_months(today, -12)
        p = default_probability(quality)
        if shock is not None and clock.add_years(year_ago, -2) <= shock[1] <= year_ago:
            p = min(1.0, p + SHOCK_RISK)
        earliest = founded + dt.timedelta(days=200)  # a loan, and 90 days past due on it
        if u < p:  # within the year before the as-of date: what a back-test a year ago predicts
            window = (year_ago + dt.timedelta(days=1), today)
        elif u < p + 0.4 * default_probability(quality):  # in the two years before (fewer: banks lend less to such firms)
            window = (clock.add_months(today, -36), year_ago)
        else:
            window = None
        if window is not None and max(window[0], earliest) <= window[1]:  # else too young to have defaulted
            default_on = _day_between(rng, max(window[0], earliest), window[1])
    distress_from = None
    if default_on is not None:
        distress_from = max(founded + dt.timedelta(days=30), default_on - dt.timedelta(days=rng.randint(90, 400)))
    return Hidden(quality, new, thin, None if thin else GRID_OF.get(province), credit, default_on, distress_from,
                  shock)


def _day_between(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randint(0, max(0, (end - start).days)))


def authority_uscc(region: str) -> str:
    # Government authorities carry USCCs beginning with 11 (机构编制, 机关).
    return make_uscc("1", "1", region, f"0{region[:2]}00001")


class Draw:
    """The seeded RNG with the date helpers the records need."""

    def __init__(self, rng: random.Random, today: dt.date) -> None:
        self.rng = rng
        self.today = today

    def day_between(self, start: dt.date, end: dt.date) -> dt.date:
        return _day_between(self.rng, start, end)

    def ago(self, max_days: int, min_days: int = 1) -> dt.date:
        return self.today - dt.timedelta(days=self.rng.randint(min_days, max_days))

    def money(self, low: int, high: int) -> str:
        return f"{self.rng.randint(low, high)}.{self.rng.randint(0, 99):02d}"

    def chance(self, p: float) -> bool:
        return self.rng.random() < p


Rows = dict[str, list[dict[str, Any]]]  # provider code → record rows
Add = Callable[[str, str, str, dict[str, Any]], None]


def records_for(d: Draw, firm: dict[str, Any], hidden: Hidden, n: int, lenders: list[tuple[str, str]]) -> Rows:
    """Provider code → rows for one firm; ``lenders`` are the banks' (provider code, name)."""
    uscc = firm["uscc"]
    out: Rows = {}

    def add(provider: str, category: str, ref: str, payload: dict[str, Any]) -> None:
        out.setdefault(provider, []).append({"provider_ref": f"{uscc}-{ref}", "uscc": uscc, "category": category,
                                             "payload": payload})

    founded = dt.date.fromisoformat(firm["founded_on"])
    if not hidden.thin:
        _tax(d, hidden, founded, add)
    if hidden.grid is not None:
        _bills(d, firm, hidden, founded, n, add)
    if not hidden.thin:
        _contracts(d, firm, hidden, founded, add)
    _bids(d, firm, hidden, founded, add)
    _inspections(d, firm, hidden, founded, add)
    _licences(d, firm, hidden, founded, add)
    _penalties(d, firm, hidden, founded, add)
    _accidents(d, firm, hidden, founded, add)
    _environment(d, firm, hidden, founded, add)
    _court(d, firm, hidden, founded, add)
    if hidden.credit:
        _loans(d, hidden, founded, lenders, add)
    _commitments(d, firm, hidden, founded, add)
    _honours(d, hidden, founded, add)
    return out


def _tax(d: Draw, h: Hidden, founded: dt.date, add: Add) -> None:
    """纳税信用: one grade per year since founding, the last five published (each April)."""
    today, bad = d.today, h.bad
    latest = today.year - 1 if today.month >= 4 else today.year - 2
    d_share, c_share, a_share = 0.3 * bad * bad, 0.5 * bad, 0.1 + 0.85 * h.quality ** 1.3
    for year in range(max(founded.year + 1, latest - 4, 2014), latest + 1):  # graded from 2014 on
        r = d.rng.random()
        grade = ("D" if r < d_share else "C" if r < d_share + c_share else "B" if r < 1 - a_share else "A")
        if year == founded.year + 1 and d.chance(0.5):
            grade = "M"
        payload: dict[str, Any] = {"year": year, "grade": grade}
        if grade in ("C", "D") and d.chance(0.5):
            payload["arrears_amount"] = d.money(5_000, 400_000)
        add("chinatax", "tax", f"tax-{year}", payload)


def _bills(d: Draw, firm: dict[str, Any], h: Hidden, founded: dt.date, n: int, add: Add) -> None:
    """电费: up to ``BILL_MONTHS`` monthly bills from the firm's grid company, oldest first.
    Consumption grows with quality; a worse firm pays late more often and runs into arrears:
    arrears that ended were paid late (when they ended), arrears still running at the last
    bill are owed, with the months they have run."""
    rng, today, bad, q = d.rng, d.today, h.bad, h.quality
    assert h.grid is not None
    last = clock.month_start(today) - dt.timedelta(days=1)  # the last complete month
    first = max(clock.add_months(clock.month_start(last), 1 - BILL_MONTHS),
                clock.month_start(clock.add_months(founded, 1)))
    months = []
    month = first
    while month <= last:
        months.append(month)
        month = clock.add_months(month, 1)
    if not months:
        return
    scale = rng.choice([20_000, 80_000, 300_000, 1_500_000, 6_000_000])
    growth = rng.gauss(0.03 + 0.15 * (q - 0.5), 0.05)  # a year
    unpaid = [False] * len(months)
    run = False
    for i in range(len(months)):
        if h.distressed(clock.month_end(months[i])):
            run = rng.random() < (0.75 if run else 0.4)
        else:
            run = rng.random() < (0.35 + 0.5 * bad if run else 0.08 * bad)
        unpaid[i] = run
    region = firm["uscc"][2:8]
    for i, month in enumerate(months):
        years = (i - len(months) + 1) / 12
        season = 1 + 0.12 * math.cos(2 * math.pi * (month.month - 1) / 12)
        kwh = Decimal(scale * (1 + growth) ** years * season * rng.uniform(0.9, 1.1)).quantize(Decimal("1"))
        due = (kwh * Decimal("0.62")).quantize(Decimal("0.01"))
        end = clock.month_end(month)
        p: dict[str, Any] = {"account_no": f"{region}{n:06d}", "month": month.strftime("%Y-%m"),
                             "consumption_kwh": str(kwh), "amount_due": str(due)}
        if unpaid[i]:
            j = i
            while j + 1 < len(months) and unpaid[j + 1]:
                j += 1
            if j == len(months) - 1:  # still owed
                k = i
                while k > 0 and unpaid[k - 1]:
                    k -= 1
                p.update(status="arrears", arrears_amount=str(due), arrears_months=i - k + 1)
            else:  # paid when the arrears ended
                paid = min(today, clock.month_end(months[j + 1]) + dt.timedelta(days=rng.randint(1, 20)))
                p.update(status="late", paid_on=paid.isoformat())
        elif rng.random() < 0.55 * h.slack:
            paid = min(today, end + dt.timedelta(days=rng.randint(1, 5 + int(50 * h.slack))))
            p.update(status="late", paid_on=paid.isoformat())
        else:
            paid = min(today, end + dt.timedelta(days=rng.randint(1, 15)))
            p.update(status="on_time", paid_on=paid.isoformat())
        add(h.grid, "utility", f"elec-{month:%Y%m}", p)


def _contracts(d: Draw, firm: dict[str, Any], h: Hidden, founded: dt.date, add: Add) -> None:
    """合同履约 on the power groups' procurement platform (fewer for firms that only buy power)."""
    rng, today, bad = d.rng, d.today, h.bad
    few = firm["segment"] in ("consumer", "retail")
    for i in range(rng.randint(0, 3) if few else rng.randint(2, 8)):
        signed = d.day_between(max(founded, today - dt.timedelta(days=4 * 365)), today - dt.timedelta(days=60))
        due_day = signed + dt.timedelta(days=rng.randint(30, 365))
        if due_day >= today:
            due_day = today - dt.timedelta(days=rng.randint(1, 20))
        due_day = max(due_day, signed)
        r = rng.random()
        breach, late = (0.2, 0.7) if h.distressed(due_day) else (bad * 0.25, bad * 0.25 + 0.5 * h.slack)
        status = "breached" if r < breach else "late" if r < late else "disputed" if r < late + 0.02 else "on_time"
        p: dict[str, Any] = {
            "contract_no": f"ECP-{signed:%Y}-{rng.randint(10000, 99999)}",
            "counterparty_uscc": "91110000053621038D", "counterparty_name": "国网某省电力有限公司",
            "subject": rng.choice(["变压器采购", "电缆采购", "输变电工程施工", "运维服务", "配网物资"]),
            "amount": d.money(50_000, 8_000_000), "signed_on": signed.isoformat(), "due_on": due_day.isoformat(),
            "status": status}
        if status == "late":  # the due day is in the past: fulfilled after it, by today
            days = rng.randint(3, 10 + int(100 * h.slack))
            p["fulfilled_on"] = min(today, due_day + dt.timedelta(days=days)).isoformat()
        elif status == "on_time":
            p["fulfilled_on"] = d.day_between(signed, due_day).isoformat()
        add("power-ecp", "contract", f"contract-{i}", p)


def _bids(d: Draw, firm: dict[str, Any], h: Hidden, founded: dt.date, add: Add) -> None:
    """招投标: suppliers and builders bid often, generators and grid firms now and then."""
    rng, seg = d.rng, firm["segment"]
    if h.thin or not (seg in ("supplier", "construction", "integrated")
                      or (seg in ("generation", "grid") and d.chance(0.3))):
        return
    since = max(1, min(1500, (d.today - founded).days - 1))
    for i in range(rng.randint(2, 8)):
        p: dict[str, Any] = {"project": rng.choice(["220kV 变电站新建工程", "配电网改造项目", "光伏电站 EPC", "电能表集中采购"]),
                             "bid_on": d.ago(since).isoformat(),
                             "result": "won" if d.chance(0.25 + 0.35 * h.quality) else "lost"}
        if d.chance(h.bad * 0.2):
            p.update(result="disqualified", violation=rng.choice(["collusion", "fraud"]))
        add("power-ecp", "bidding", f"bid-{i}", p)


def _inspections(d: Draw, firm: dict[str, Any], h: Hidden, founded: dt.date, add: Add) -> None:
    """产品质量 抽检 of suppliers' (and some builders') products."""
    rng, seg = d.rng, firm["segment"]
    count = rng.randint(1, 4) if seg == "supplier" else rng.randint(0, 2) if seg in ("construction", "integrated") else 0
    since = max(1, min(1400, (d.today - founded).days - 1))
    for i in range(count):
        p: dict[str, Any] = {"product": rng.choice(["10kV 电力电缆", "干式变压器", "智能电能表", "高压开关柜"]),
                             "inspection_on": d.ago(since).isoformat(), "result": "pass"}
        if d.chance(h.bad * 0.6):
            p.update(result="fail", defect_class=rng.choice(["minor", "major", "critical"]))
        elif d.chance(h.slack * 0.15):
            p.update(result="fail", defect_class="minor")
            if p["defect_class"] == "critical" and d.chance(0.3):
                p["recall"] = True
        add("samr-gsxt", "quality", f"qc-{i}", p)


def _licences(d: Draw, firm: dict[str, Any], h: Hidden, founded: dt.date, add: Add) -> None:
    """行政许可 (双公示), each with its validity: the segment's main licence and, for better
    firms, more; renewed at expiry (a new decision), or left to lapse — a lapsed licence stays
    in the archive and counts for nothing after its ``valid_to``. Terms that ended more than
    five years ago are not sent."""
    rng, today = d.rng, d.today
    region = firm["uscc"][2:8]
    authority = authority_uscc(region)
    kinds = LICENCES[firm["segment"]]
    held = [kinds[0]] + [k for k in kinds[1:] if d.chance(0.15 + 0.7 * h.quality)]
    for k, (name, category, provider, years) in enumerate(held):
        decided = founded + dt.timedelta(days=rng.randint(20, 300))
        start = decided
        term = 0
        while decided <= today:
            end = clock.add_years(start, years) - dt.timedelta(days=1)
            if end >= clock.add_years(today, -5):
                add(provider, "licence", f"licence-{k}-{term}", {
                    "decision_doc_name": f"关于准予{name}的决定", "decision_doc_no": f"许可〔{decided:%Y}〕{rng.randint(1, 999)}号",
                    "licence_category": category, "certificate_name": name,
                    "certificate_no": f"{k + 1}{rng.randint(10**9, 10**10 - 1)}", "content": f"准予{name}",
                    "decided_on": decided.isoformat(), "valid_from": start.isoformat(), "valid_to": end.isoformat(),
                    "authority": "国家能源局派出机构" if provider == "nea-credit" else "市场监督管理局",
                    "authority_uscc": authority, "status": "valid",
                    "data_source": "国家能源局" if provider == "nea-credit" else "国家企业信用信息公示系统"})
            if not d.chance(0.45 + 0.5 * h.quality):
                break  # left to lapse
            start, term = end + dt.timedelta(days=1), term + 1
            decided = start - dt.timedelta(days=rng.randint(10, 60))


def _penalties(d: Draw, firm: dict[str, Any], h: Hidden, founded: dt.date, add: Add) -> None:
    """行政处罚 (双公示): warnings for small lapses, fines (now and then of a million yuan or
    more: a cap), and the firm's shock if it was a serious one (suspension: a cap and the
    black list)."""
    rng, bad = d.rng, h.bad
    count = (1 + int(d.chance(bad))) if d.chance(bad * 0.8) else 0
    warnings = int(d.chance(0.35 * h.slack ** 1.5))
    since = max(21, min(1800, (d.today - founded).days - 1))
    authority = authority_uscc(firm["uscc"][2:8])
    decisions: list[tuple[dt.date, str]] = [(d.ago(since, 20), "fine") for _ in range(count)]
    decisions += [(d.ago(since, 20), "warning") for _ in range(warnings)]
    if (shock := h.shocked("penalty")) is not None:
        decisions.append((shock, "serious"))
    for i, (decided, kind) in enumerate(decisions):
        p: dict[str, Any] = {
            "decision_no": f"罚〔{decided:%Y}〕{rng.randint(1, 300)}号", "violation_type": "违反电力业务许可规定",
            "facts": "未按规定报送电力安全信息", "legal_basis": "《电力监管条例》第三十一条",
            "decided_on": decided.isoformat(), "authority": "国家能源局派出机构", "authority_uscc": authority}
        if kind == "warning":
            p.update(penalty_types=["warning"], content="警告并责令改正", serious=False,
                     publish_until=(decided + dt.timedelta(days=rng.randint(92, 180))).isoformat())
        elif kind == "serious":
            p.update(penalty_types=["fine", "suspension"], content="罚款并责令停产停业整顿", serious=True,
                     fine_amount=f"{rng.randint(20, 90)}.5",
                     publish_until=(decided + dt.timedelta(days=rng.randint(366, 365 * 3 - 1))).isoformat())
        else:
            large = d.chance(bad * 0.15)
            p.update(penalty_types=["warning", "fine"], content="罚款并责令改正", serious=False,
                     fine_amount=f"{rng.randint(100, 300)}" if large else f"{rng.randint(1, 50)}.5",
                     publish_until=(decided + dt.timedelta(days=rng.randint(92, 364))).isoformat())
        add("nea-credit" if firm["segment"] != "consumer" else "mee-env", "penalty", f"penalty-{i + 1}", p)


def _accidents(d: Draw, firm: dict[str, Any], h: Hidden, founded: dt.date, add: Add) -> None:
    """安全生产 accidents where the work is dangerous: ordinary or larger ones from the
    quality, a major one if that was the firm's shock (a cap and the black list)."""
    rng = d.rng
    accidents: list[tuple[dt.date, str]] = []
    if firm["segment"] in DANGEROUS and d.chance(h.bad * 0.5):
        since = max(31, min(1700, (d.today - founded).days - 1))
        accidents.append((d.ago(since, 30), rng.choices(["ordinary", "larger"], weights=[8, 3])[0]))
    if (shock := h.shocked("accident")) is not None:
        accidents.append((shock, "major"))
    for i, (day, level) in enumerate(accidents):
        deaths = {"ordinary": rng.randint(0, 2), "larger": rng.randint(3, 9), "major": rng.randint(10, 12)}[level]
        add("nea-credit", "safety", f"accident-{i + 1}", {"accident_on": day.isoformat(), "level": level,
                                                           "deaths": deaths, "injuries": rng.randint(0, 6)})


def _environment(d: Draw, firm: dict[str, Any], h: Hidden, founded: dt.date, add: Add) -> None:
    """环保: the yearly environmental credit rating of generators and large users."""
    rng, bad = d.rng, h.bad
    if firm["segment"] not in ("generation", "consumer"):
        return
    rating = rng.choices(["green", "blue", "yellow", "red", "black"],
                         weights=[30 + 30 * h.quality, 40, 15 + bad * 40, bad * 30, bad * 10])[0]
    since = max(31, min(300, (d.today - founded).days - 1))
    add("mee-env", "environment", "env-rating", {"event_on": d.ago(since, 30).isoformat(), "rating": rating})


def _court(d: Draw, firm: dict[str, Any], h: Hidden, founded: dt.date, add: Add) -> None:
    """司法: enforcement cases from the quality (performed in part or in full), the firm's
    shock if it was a 失信 listing, and a creditor's case against a firm in distress, often
    ending in one (失信被执行人: a cap and the black list)."""
    rng, today = d.rng, d.today
    cases: list[tuple[dt.date, dt.date | None]] = []  # filed on, listed as 失信 on
    if d.chance(h.bad * 0.35):
        cases.append((d.ago(max(61, min(1500, (today - founded).days - 1)), 60), None))
    if (shock := h.shocked("dishonest")) is not None:
        cases.append((shock - dt.timedelta(days=rng.randint(20, 90)), shock))
    if h.distress_from is not None and h.default_on is not None and d.chance(0.6):
        filed = d.day_between(h.distress_from + dt.timedelta(days=30), h.default_on + dt.timedelta(days=90))
        if filed < today:
            on_list = min(today, filed + dt.timedelta(days=rng.randint(20, 90)))
            cases.append((filed, on_list if d.chance(0.5) else None))
    uscc = firm["uscc"]
    for i, (filed, listed) in enumerate(cases):
        p: dict[str, Any] = {
            "case_no": f"({filed:%Y}){COURT_ABBR.get(uscc[2:4], '京')}{uscc[4:8]}执{rng.randint(100, 9999)}号",
            "court": _court_of(uscc), "filed_on": filed.isoformat(),
            "obligation": "支付货款及利息", "performance": "none" if listed else "partial",
            "amount": d.money(100_000, 5_000_000)}
        if listed is not None:
            p.update(dishonest_conduct="refuse_with_ability", published_on=listed.isoformat())
        elif d.chance(0.4) and (done := filed + dt.timedelta(days=rng.randint(30, 300))) <= today:
            p.update(performance="full", performed_on=done.isoformat())
        add("court-zxgk", "judicial", f"case-{i + 1}", p)


def _court_of(uscc: str) -> str:
    """The basic-level court where the firm is registered (its county in the code), or the
    province's high court for a county the demo does not name."""
    if (county := COUNTIES.get(uscc[2:8])) is not None:
        city, district = county
        return f"{city}{district}人民法院" if city != district else f"{city}人民法院"
    return f"{PROVINCES.get(uscc[2:4], '北京市')}高级人民法院"


def _loans(d: Draw, h: Hidden, founded: dt.date, lenders: list[tuple[str, str]], add: Add) -> None:
    """信贷, each loan from the bank that made it, with its status as of the bank's last
    monthly report (``reported_on``): settled loans as of the day they were settled, loans
    running as of the last month end, a defaulted loan as of a day after its default.
    Which loans a firm holds is drawn from its quality alone; the loan that defaults is one
    more, and nothing started after the default."""
    rng, today, bad = d.rng, d.today, h.bad
    reported = clock.month_start(today) - dt.timedelta(days=1)  # the banks' last monthly report
    earliest = max(founded + dt.timedelta(days=30), clock.add_years(today, -LOAN_YEARS))
    for i in range(rng.randint(1, 4)):
        code, lender = lenders[rng.randrange(len(lenders))]
        start = d.day_between(earliest, today - dt.timedelta(days=30))
        end = start + dt.timedelta(days=rng.choice([180, 365, 730, 1095]))
        amount = d.money(200_000, 20_000_000)
        if start > today - dt.timedelta(days=30) or (h.default_on is not None and start > h.default_on):
            continue  # no room for a loan yet, or none after a default
        p: dict[str, Any] = {"lender": lender, "amount": amount, "start_on": start.isoformat(),
                             "end_on": end.isoformat()}
        if end < today:
            settled = max(start, end - dt.timedelta(days=rng.randint(0, 20)))
            p.update(status="settled", settled_on=settled.isoformat(), reported_on=settled.isoformat())
        elif d.chance(bad * 0.4):  # behind on its payments, not (yet) in default
            p.update(status="overdue", overdue_days=rng.randint(5, 60), reported_on=max(start, reported).isoformat())
        else:
            p.update(status="normal", reported_on=max(start, reported).isoformat())
        add(code, "loan", f"loan-{i}", p)
    if h.default_on is None:
        return
    default_on = h.default_on
    missed = default_on - dt.timedelta(days=90)  # the first payment missed
    start = max(founded + dt.timedelta(days=30), missed - dt.timedelta(days=rng.randint(30, 600)))
    term = next((t for t in (365, 730, 1095) if start + dt.timedelta(days=t) >= missed), (missed - start).days + 30)
    code, lender = lenders[rng.randrange(len(lenders))]
    p = {"lender": lender, "amount": d.money(500_000, 20_000_000), "start_on": start.isoformat(),
         "end_on": (start + dt.timedelta(days=term)).isoformat()}
    as_of = reported if reported >= default_on else today
    if (as_of - default_on).days <= 90 and d.chance(0.7):  # reported overdue the month it defaulted
        p.update(status="overdue", overdue_days=90 + (as_of - default_on).days, reported_on=as_of.isoformat())
    else:
        p.update(status="written_off", written_off_on=default_on.isoformat(),
                 reported_on=min(today, clock.month_end(default_on)).isoformat())
        recovered = default_on + dt.timedelta(days=rng.randint(120, 500))
        if recovered <= today and d.chance(0.4):
            p.update(settled_on=recovered.isoformat(), reported_on=recovered.isoformat())
    add(code, "loan", "loan-default", p)


def _commitments(d: Draw, firm: dict[str, Any], h: Hidden, founded: dt.date, add: Add) -> None:
    """信用承诺 sent by the industry body: the 自律公约 (its 2024 text from 2024 on, the
    earlier one before), a public commitment (公开信用承诺书), the market admission commitment
    of retailers; now and then a commitment broken.  Better firms commit more."""
    today = d.today
    since = max(6, min(900, (today - founded).days - 1))
    if d.chance(0.15 + 0.8 * h.quality):
        signed = d.ago(since, 5)
        version = "v2024" if signed >= dt.date(2024, 1, 1) else "v2016"
        add("cec", "commitment", f"commitment-{version}", {"title": "信用电力自律公约", "text_version": version,
                                                            "signed_on": signed.isoformat(),
                                                            "fulfilled": not d.chance(h.bad * 0.3)})
    if today >= dt.date(2022, 2, 1) and d.chance(0.1 + 0.5 * h.quality):
        signed = max(dt.date(2022, 1, 1), d.ago(since, 5))
        add("cec", "commitment", "commitment-public-v2022", {"title": "企业公开信用承诺书", "text_version": "v2022",
                                                               "signed_on": signed.isoformat()})
    if firm["segment"] == "retail" and today >= dt.date(2025, 3, 1) and d.chance(0.7):
        signed = max(dt.date(2025, 3, 1), d.ago(since, 5))
        add("cec", "commitment", "commitment-market-v2025", {"title": "电力市场准入信用承诺书", "text_version": "v2025",
                                                               "signed_on": signed.isoformat()})


def _honours(d: Draw, h: Hidden, founded: dt.date, add: Add) -> None:
    """荣誉, by level (national weighs most); better firms earn more, and higher ones."""
    rng, q = d.rng, h.quality
    if h.new or not d.chance(0.05 + 0.6 * q * q):
        return
    since = max(31, min(1800, (d.today - founded).days - 1))
    for i in range(rng.randint(1, 3)):
        award, issuer = HONOURS[rng.randrange(len(HONOURS))]
        p: dict[str, Any] = {"award": award, "issuer": issuer, "awarded_on": d.ago(since, 30).isoformat()}
        if not d.chance(0.1):
            p["level"] = rng.choices(HONOUR_LEVELS, weights=[0.5 + 3 * q, 2, 3, 3])[0]
        add("cec", "honour", f"honour-{i + 1}", p)
