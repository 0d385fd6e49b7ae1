"""The certificate rule, from configuration (``PC_CERTIFICATE_RULES``, a JSON object; every key
optional): the notice period, the validity and its review, the lowest grade certified, and
when a certificate is suspended, revoked or restored.  Checked whole when read: a bad key stops
start-up (``app.wiring.wire`` reads it) with a Chinese error naming it."""

from __future__ import annotations

import calendar
import datetime as dt
import json
import os
from dataclasses import dataclass, fields, replace
from typing import Any

from app.core.config import ConfigError
from app.scoring.scorecard import GRADES, NOT_RATED

ENV = "PC_CERTIFICATE_RULES"


def anniversary(start: dt.date, months: int) -> dt.date:
    """The day ``months`` calendar months after ``start``. A day the month lacks is taken to
    have rolled over: 29 February plus a year is 1 March in a common year (31 January plus a
    month is 1 March), never the 28th — which still lies inside the first year."""
    month0 = start.month - 1 + months
    year, month = start.year + month0 // 12, month0 % 12 + 1
    last = calendar.monthrange(year, month)[1]
    if start.day > last:
        return dt.date(year, month, last) + dt.timedelta(days=1)
    return dt.date(year, month, start.day)


def term_end(start: dt.date, months: int) -> dt.date:
    """The last day of a term of ``months`` calendar months beginning on ``start``: the day
    before its :func:`anniversary`. From 2026-03-10, three years run to 2029-03-09; from
    2028-02-29 to 2031-02-28 (the anniversary being 1 March), and four to 2032-02-28."""
    return anniversary(start, months) - dt.timedelta(days=1)


class Action:
    """What the rule says of a certificate given the firm's current grade."""

    stand = "stand"  # the grade supports the certificate (a suspended one may be restored)
    suspend = "suspend"
    revoke = "revoke"


@dataclass(frozen=True)
class Rules:
    notice_days: int = 7  # 公示期：自公示之日起的日历天数（含当日）
    validity_years: int = 3  # 有效期：自发证之日起
    review_months: int = 12  # 复核周期（年度复核）
    min_grade: str = "A"  # 可获证的最低等级（含）；NR 不予发证
    suspend_steps: int = 2  # 当前等级比证书等级低这么多级及以上：暂停
    revoke_steps: int = 4  # 低这么多级及以上：撤销
    revoke_below: str | None = "B"  # 当前等级低于此等级（不含）：撤销；null 不适用
    restore: bool = True  # 因等级或复核暂停的证书，等级恢复后自动恢复

    def valid_until(self, valid_from: dt.date) -> dt.date:
        """The last day of a certificate issued on ``valid_from``: ``validity_years`` later, the
        day before (:func:`term_end`)."""
        return term_end(valid_from, 12 * self.validity_years)

    def review_after(self, valid_from: dt.date, day: dt.date) -> dt.date:
        """The first annual review (复核) of a certificate issued on ``valid_from`` after
        ``day``: every ``review_months`` counted from the issue date (each an
        :func:`anniversary`, so a review falls on the first day of a new term and never on
        the last day of the validity). Called with the issue date itself for the first."""
        k = 1
        while (due := anniversary(valid_from, k * self.review_months)) <= day:
            k += 1
        return due

    def steps_below(self, certified: str, current: str) -> int:
        """How many steps ``current`` lies below ``certified`` on the nine-grade scale (0 or
        less: not below)."""
        return GRADES.index(current) - GRADES.index(certified)

    def certifiable(self, grade: str | None) -> bool:
        return grade in GRADES and GRADES.index(grade) <= GRADES.index(self.min_grade)

    def judge(self, certified: str, current: str | None) -> tuple[str, str | None]:
        """The rule applied to a certificate of grade ``certified`` when the firm's grade is now
        ``current`` (None: not evaluated): the action and, unless it stands, why in Chinese."""
        if current is None or current == NOT_RATED:
            why = "企业当前不予评级（NR，信用信息不足）" if current == NOT_RATED else "企业当前没有信用评价"
            return Action.suspend, f"{why}，无法确认证书等级"
        steps = self.steps_below(certified, current)
        if steps >= self.revoke_steps:
            return Action.revoke, f"信用等级由 {certified} 降至 {current}（下降 {steps} 级，达到撤销条件 {self.revoke_steps} 级）"
        if self.revoke_below is not None and GRADES.index(current) > GRADES.index(self.revoke_below):
            return Action.revoke, f"信用等级降至 {current}，低于 {self.revoke_below}（撤销条件）"
        if steps >= self.suspend_steps:
            return Action.suspend, f"信用等级由 {certified} 降至 {current}（下降 {steps} 级，达到暂停条件 {self.suspend_steps} 级）"
        if not self.certifiable(current):
            return Action.suspend, f"信用等级降至 {current}，低于获证最低等级 {self.min_grade}"
        return Action.stand, None

    def describe(self) -> list[str]:
        """The rule in Chinese, as the pages and the documentation state it."""
        out = [f"公示期 {self.notice_days} 天（自公示之日起，含当日），期间任何登录用户可提出异议",
               f"有效期 {self.validity_years} 年，每 {self.review_months} 个月复核一次",
               f"获证最低等级 {self.min_grade}（{'、'.join(GRADES[:GRADES.index(self.min_grade) + 1])}）；不予评级（NR）不予发证",
               f"当前等级比证书等级低 {self.suspend_steps} 级及以上、低于 {self.min_grade} 或不予评级：暂停",
               f"低 {self.revoke_steps} 级及以上"
               + (f"，或低于 {self.revoke_below}" if self.revoke_below else "") + "：撤销；列入黑名单：撤销"]
        if self.restore:
            out.append("因等级下降或复核暂停的证书，等级恢复到规则以内时自动恢复")
        return out


def _int(raw: dict[str, Any], key: str, low: int, high: int) -> int | None:
    if key not in raw:
        return None
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{ENV} 的 {key} 应为 {low}–{high} 的整数，当前为 {value!r}")
    return value


def _grade(raw: dict[str, Any], key: str, nullable: bool = False) -> str | None:
    value = raw[key]
    if value is None and nullable:
        return None
    if value not in GRADES:
        raise ConfigError(f"{ENV} 的 {key} 应为信用等级之一（{'、'.join(GRADES)}）"
                          + ("或 null" if nullable else "") + f"，当前为 {value!r}")
    return str(value)


def parse_rules(text: str | None) -> Rules:
    """The rule from its JSON text (empty: the defaults); a :class:`ConfigError` naming the key
    that is wrong."""
    if text is None or not text.strip():
        return Rules()
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"环境变量 {ENV} 应为 JSON 对象，当前无法解析：{exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"环境变量 {ENV} 应为 JSON 对象，如 {{\"notice_days\": 7, \"min_grade\": \"A\"}}")
    known = {f.name for f in fields(Rules)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{ENV} 中有未知的键：{'、'.join(unknown)}；可用的键：{'、'.join(sorted(known))}")
    values: dict[str, Any] = {}
    for key, low, high in (("notice_days", 1, 60), ("validity_years", 1, 10), ("review_months", 1, 120),
                           ("suspend_steps", 1, 8), ("revoke_steps", 1, 8)):
        found = _int(raw, key, low, high)
        if found is not None:
            values[key] = found
    if "min_grade" in raw:
        values["min_grade"] = _grade(raw, "min_grade")
    if "revoke_below" in raw:
        values["revoke_below"] = _grade(raw, "revoke_below", nullable=True)
    if "restore" in raw:
        if not isinstance(raw["restore"], bool):
            raise ConfigError(f"{ENV} 的 restore 应为 true 或 false，当前为 {raw['restore']!r}")
        values["restore"] = raw["restore"]
    rules = replace(Rules(), **values)
    if rules.review_months > 12 * rules.validity_years:
        raise ConfigError(f"{ENV} 的 review_months（{rules.review_months}）不能长于有效期（{rules.validity_years} 年）")
    if rules.revoke_steps <= rules.suspend_steps:
        raise ConfigError(f"{ENV} 的 revoke_steps（{rules.revoke_steps}）应大于 suspend_steps（{rules.suspend_steps}）")
    if rules.revoke_below is not None and GRADES.index(rules.revoke_below) <= GRADES.index(rules.min_grade):
        raise ConfigError(f"{ENV} 的 revoke_below（{rules.revoke_below}）应低于 min_grade（{rules.min_grade}）："
                          "否则刚发的证书即达撤销条件")
    return rules


_loaded: list[Rules] = []


def load() -> Rules:
    """Read ``PC_CERTIFICATE_RULES`` now (start-up calls this, so a bad value stops it)."""
    rules = parse_rules(os.environ.get(ENV))
    _loaded[:] = [rules]
    return rules


def current() -> Rules:
    """The rule in force: as read at start-up (read now if it was not)."""
    return _loaded[0] if _loaded else load()
