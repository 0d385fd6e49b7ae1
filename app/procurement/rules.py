"""A tender's credit rules and how one bidder's facts are judged against them.

The rules (投标人资格审查的信用条件) and their edges:

- ``min_grade``: the bidder's current grade is at least this one (``BBB`` passes a BBB
  minimum, ``BB`` fails it).  A bidder that is not rated (NR, or never evaluated) is judged
  by ``nr_policy``.
- ``nr_policy``: ``fail`` (an unrated bidder fails) or ``pass``; by default ``fail`` when a
  minimum grade is set, ``pass`` otherwise.
- ``barred_lists``: the lists whose members fail.  The black list (失信联合惩戒) is always
  among them — the CEC opinion bars its members from power groups' tenders and procurement;
  the watch list (重点关注) may be added, and otherwise gives a risk warning.
- ``max_open_dishonest``: at most this many open 失信被执行人 records (not performed, not
  expired): at the limit passes, one more fails.
- ``serious_penalty_years`` with ``max_serious_penalties``: at most this many serious
  administrative penalties (the scorecard's ``serious_penalty`` cap: severity 3 — 责令停产停业,
  吊销许可证, 行政拘留 or 认定为严重失信) decided within the last N years.  The window is
  the scorecard's: a penalty decided exactly N years before the screening day is outside
  it, one decided a day later inside.
- ``certificate_required``: a grade certificate issued and in force on the day (status
  ``issued``, ``valid_until`` not before the day); a suspended, revoked or expired one fails,
  as does a result still in its notice period (公示中, not yet issued), each said so.

What counts is what is public — grades, list memberships with their basis, 双公示 penalties
within their publication period — unless the bidder granted this tenderer a 投标资格审查
consent: then, through the consent gate, every open 失信 record and every serious penalty
in the archive counts too (``source: consent``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from app.scoring.scorecard import GRADES

BARRABLE_LISTS = ("black", "watch")
ALWAYS_BARRED = "black"
NR_POLICIES = ("pass", "fail")
MAX_PENALTY_YEARS = 5  # negative records leave the archive 5 years after they end (征信业管理条例 art. 16)

LIST_ORDER = {"black": 0, "watch": 1, "red": 2}
OUTCOME_LABELS = {"pass": "通过", "fail": "不通过", None: "未筛查"}
STATUS_LABELS = {"found": "已查到", "NR": "不予评级（信息不足）", "unknown": "信用档案中无此企业",
                 "invalid": "代码无效", "duplicate": "重复"}
SOURCE_LABELS = {"public": "公开信息", "consent": "经授权"}
CERTIFICATE_STATUS_LABELS = {"publicized": "公示中", "issued": "有效", "suspended": "已暂停", "revoked": "已撤销",
                             "expired": "已过期"}


@dataclass(frozen=True)
class Rules:
    min_grade: str | None = None
    nr_policy: str = "pass"
    barred_lists: tuple[str, ...] = (ALWAYS_BARRED,)
    max_open_dishonest: int | None = None
    serious_penalty_years: int | None = None
    max_serious_penalties: int | None = None
    certificate_required: bool = False

    @classmethod
    def of(cls, data: dict[str, Any]) -> Rules:
        """From the loaded schema (``nr_policy`` None takes its default)."""
        min_grade = data.get("min_grade")
        policy = data.get("nr_policy") or ("fail" if min_grade else "pass")
        barred = tuple(sorted(set(data.get("barred_lists") or ()) | {ALWAYS_BARRED}, key=BARRABLE_LISTS.index))
        return cls(min_grade=min_grade, nr_policy=policy, barred_lists=barred,
                   max_open_dishonest=data.get("max_open_dishonest"),
                   serious_penalty_years=data.get("serious_penalty_years"),
                   max_serious_penalties=data.get("max_serious_penalties"),
                   certificate_required=bool(data.get("certificate_required")))

    @property
    def penalties_ruled(self) -> bool:
        return self.serious_penalty_years is not None and self.max_serious_penalties is not None

    @property
    def consent_sections(self) -> frozenset[str]:
        """The report sections a consent must cover to add what these rules weigh beyond
        public facts (none: the rules need only what is public)."""
        wanted = set()
        if self.max_open_dishonest is not None:
            wanted.add("judicial")
        if self.penalties_ruled:
            wanted.add("licence_penalty")
        return frozenset(wanted)

    def as_dict(self) -> dict[str, Any]:
        return {"min_grade": self.min_grade, "nr_policy": self.nr_policy, "barred_lists": list(self.barred_lists),
                "max_open_dishonest": self.max_open_dishonest, "serious_penalty_years": self.serious_penalty_years,
                "max_serious_penalties": self.max_serious_penalties,
                "certificate_required": self.certificate_required}

    def describe(self) -> list[str]:
        """The rules in words, as the document and the PDF state them."""
        out = []
        if self.min_grade:
            out.append(f"信用等级不低于 {self.min_grade}")
        out.append("不予评级（NR）的投标人" + ("不予通过" if self.nr_policy == "fail" else "不因未评级而不予通过"))
        names = {"black": "黑名单（失信联合惩戒）", "watch": "重点关注名单"}
        out.append("列入" + "、".join(names[n] for n in self.barred_lists) + "的不予通过"
                   + ("（黑名单依中电联意见一律禁止）" if self.barred_lists == (ALWAYS_BARRED,) else ""))
        if "watch" not in self.barred_lists:
            out.append("列入重点关注名单的给予风险提示")
        if self.max_open_dishonest is not None:
            out.append(f"未履行的失信被执行人记录不超过 {self.max_open_dishonest} 条")
        if self.penalties_ruled:
            out.append(f"近 {self.serious_penalty_years} 年内严重行政处罚不超过 {self.max_serious_penalties} 次")
        if self.certificate_required:
            out.append("须持有有效的信用等级证书")
        return out


@dataclass
class Fact:
    """A record that a rule weighs, as the document names it: its kind, its reference (a
    decision number, a case number), the authority (court, regulator) and its dates."""

    record_id: int
    kind: str  # penalty | judicial | safety
    label: str
    reference: str | None
    authority: str | None
    dates: dict[str, str | None]
    public: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "reference": self.reference, "authority": self.authority,
                "dates": self.dates}

    def words(self) -> str:
        parts = [p for p in (self.reference, self.authority) if p]
        dated = [f"{_DATE_WORDS.get(k, k)} {v}" for k, v in self.dates.items() if v]
        return "，".join(parts + dated)


_DATE_WORDS = {"decided_on": "决定日期", "publish_until": "公示至", "published_on": "发布日期",
               "filed_on": "立案日期", "accident_on": "事故日期", "entered_on": "列入日期",
               "published_from": "公布日期", "ends_on": "期限至"}


@dataclass
class Entry:
    """A published list membership, with its basis in words and the public records behind it."""

    entry_id: int
    list_name: str
    label: str
    entered_on: dt.date
    published_on: dt.date | None
    ends_on: dt.date | None
    basis: list[tuple[str, str, list[Fact]]]  # (criterion, its label, public records)

    def as_dict(self) -> dict[str, Any]:
        return {"entry_id": self.entry_id, "list": self.list_name, "label": self.label,
                "entered_on": self.entered_on.isoformat(),
                "published_on": self.published_on.isoformat() if self.published_on else None,
                "ends_on": self.ends_on.isoformat() if self.ends_on else None,
                "basis": [{"criterion": key, "label": label, "records": [f.as_dict() for f in facts]}
                          for key, label, facts in self.basis]}

    def words(self) -> str:
        since = f"{self.published_on or self.entered_on} 起" + (f"至 {self.ends_on}" if self.ends_on else "")
        basis = "；".join(label + (f"（{'；'.join(f.words() for f in facts)}）" if facts else "")
                         for _, label, facts in self.basis)
        return f"列入{self.label}（{since}），依据：{basis or '—'}"


@dataclass
class Firm:
    """What one bidder's screening weighs (loaded for the whole batch at once)."""

    id: int
    uscc: str
    name: str
    status: str  # the registration status: active, cancelled, revoked
    grade: str | None = None
    grade_as_of: dt.date | None = None
    entries: list[Entry] = field(default_factory=list)
    dishonest: list[Fact] = field(default_factory=list)  # open 失信被执行人 records
    penalties: list[Fact] = field(default_factory=list)  # serious penalties within the window
    certificate: dict[str, Any] | None = None
    consent: dict[str, Any] | None = None  # what the bidder's consent did for this screening

    @property
    def rated(self) -> bool:
        return self.grade in GRADES


def judge(firm: Firm, rules: Rules, *, covered: frozenset[str] = frozenset()) -> dict[str, Any]:
    """One found bidder's row: restrictions (each with its basis), pass or fail and the
    reasons in Chinese, warnings; only what is public but for the report sections a consent
    of the bidder ``covered`` (``judicial``: every open 失信 record; ``licence_penalty``:
    every serious penalty)."""
    reasons: list[str] = []
    warnings: list[str] = []
    restrictions: list[dict[str, Any]] = []

    if not firm.rated:
        if rules.nr_policy == "fail":
            reasons.append("不予评级（信息不足）：本次招标规则不接受未评级的投标人")
        elif rules.min_grade:
            warnings.append("不予评级（信息不足）：按本次招标规则不因未评级而不予通过")
    elif rules.min_grade and GRADES.index(str(firm.grade)) > GRADES.index(rules.min_grade):
        reasons.append(f"信用等级 {firm.grade}（{firm.grade_as_of} 评价）低于本次招标要求的最低等级 {rules.min_grade}")
        restrictions.append({"rule": "min_grade", "label": f"信用等级低于 {rules.min_grade}", "source": "public",
                             "reference": firm.grade, "authority": None,
                             "dates": {"grade_as_of": _iso(firm.grade_as_of)}, "basis": []})

    for entry in firm.entries:
        if entry.list_name == "red":
            continue
        barred = entry.list_name in rules.barred_lists
        restrictions.append({"rule": "barred_list" if barred else "watch_list", "label": f"列入{entry.label}",
                             "source": "public", "reference": f"名单记录 #{entry.entry_id}", "authority": None,
                             "dates": {"entered_on": _iso(entry.entered_on), "published_on": _iso(entry.published_on),
                                       "ends_on": _iso(entry.ends_on)},
                             "basis": [{"criterion": key, "label": label, "records": [f.as_dict() for f in facts]}
                                       for key, label, facts in entry.basis]})
        if barred:
            reasons.append(entry.words())
        else:
            warnings.append(f"{entry.words()}（风险提示：本次招标规则未将该名单列为禁止条件）")

    if rules.max_open_dishonest is not None:
        open_items = [f for f in firm.dishonest if f.public or "judicial" in covered]
        for f in open_items:
            restrictions.append(_restriction("open_dishonest", f))
        if len(open_items) > rules.max_open_dishonest:
            reasons.append(f"未履行的失信被执行人记录 {len(open_items)} 条，超过本次招标上限 {rules.max_open_dishonest} 条："
                           + "；".join(f.words() for f in open_items))

    if rules.penalties_ruled:
        assert rules.max_serious_penalties is not None
        serious = [f for f in firm.penalties if f.public or "licence_penalty" in covered]
        for f in serious:
            restrictions.append(_restriction("serious_penalty", f))
        if len(serious) > rules.max_serious_penalties:
            reasons.append(f"近 {rules.serious_penalty_years} 年内严重行政处罚 {len(serious)} 次，超过本次招标上限 "
                           f"{rules.max_serious_penalties} 次：" + "；".join(f.words() for f in serious))

    cert = firm.certificate
    if rules.certificate_required and not (cert and cert["valid"]):
        if cert is None:
            why = "未查到该企业的信用等级证书"
        elif cert["status"] == "publicized":
            why = f"评价结果公示中，尚未发证（信用等级证书 {cert['certificate_no']}）"
        else:
            why = (f"信用等级证书 {cert['certificate_no']} {cert['status_label']}"
                   + (f"（有效期至 {cert['valid_until']}）" if cert.get("valid_until") else ""))
        reasons.append(f"本次招标要求有效的信用等级证书：{why}")
        restrictions.append({"rule": "certificate", "label": "无有效的信用等级证书", "source": "public",
                             "reference": cert["certificate_no"] if cert else None, "authority": None,
                             "dates": {"valid_until": cert.get("valid_until") if cert else None}, "basis": []})

    if firm.status != "active":
        warnings.append("企业登记状态为" + {"cancelled": "注销", "revoked": "吊销"}.get(firm.status, firm.status))
    return {"restrictions": restrictions, "outcome": "fail" if reasons else "pass", "reasons": reasons,
            "warnings": warnings}


def consent_added(firm: Firm, rules: Rules, covered: frozenset[str]) -> list[str]:
    """What a bidder's consent (the sections it ``covered``) added to the public facts, in words."""
    added = []
    if rules.max_open_dishonest is not None and "judicial" in covered:
        extra = [f for f in firm.dishonest if not f.public]
        if extra:
            added.append(f"未列入公开名单的失信被执行人记录 {len(extra)} 条：" + "；".join(f.words() for f in extra))
    if rules.penalties_ruled and "licence_penalty" in covered:
        extra = [f for f in firm.penalties if not f.public]
        if extra:
            added.append(f"不在公示期内的严重行政处罚 {len(extra)} 次：" + "；".join(f.words() for f in extra))
    return added or ["未发现公开信息以外的失信被执行人记录或严重行政处罚"]


def _restriction(rule: str, fact: Fact) -> dict[str, Any]:
    return {"rule": rule, "label": fact.label, "source": "public" if fact.public else "consent",
            "reference": fact.reference, "authority": fact.authority, "dates": fact.dates, "basis": []}


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None
