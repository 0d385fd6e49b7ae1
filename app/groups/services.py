"""Power groups (电力集团) over their subsidiaries: who may look at which group, each
subsidiary's grade and its change, 横向对标 (its score's percentile rank within its segment and
within its province, among the firms evaluated in the same month; the three dimensions), the
grade distribution, and the share of AAA among second-level companies (二级公司, level 1)
against the CEC opinion's target of one half.

What is public of a subsidiary (its grade, lists, 双公示) a group sees without consent;
its score, dimensions and ranks only under the 集团信用管理 consent the subsidiary granted the
group, through the consent gate (``consent.gate.authorize_access``): each such access is in
the subsidiary's query log.  Operators see everything."""

from __future__ import annotations

import bisect
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Institution, InstitutionKind, Role, User
from app.archive.models import Enterprise, RelationKind
from app.archive.services import Subsidiary, get_enterprise, subsidiaries
from app.archive.uscc import check_uscc
from app.audit import services as audit
from app.core import clock
from app.core.auth import RoleDenied
from app.core.errors import Forbidden, InvalidInput
from app.scoring.models import Evaluation
from app.scoring.scorecard import GRADES, NOT_RATED
from consent.errors import Refused
from consent.gate import Caller, authorize_access
from consent.models import Consent, ConsentStatus, Purpose

AAA_TARGET = Decimal("0.5")  # CEC opinion: half of the second-level companies at AAA
SECTION = "evaluation"  # the report section a group's consent must cover for scores and ranks
DISTRIBUTION_GRADES = (*GRADES, NOT_RATED)


class GroupDenied(Forbidden):
    code = "not_your_group"


class NotASubsidiary(Forbidden):
    code = "not_a_subsidiary"


@dataclass
class SubsidiaryRow:
    """One subsidiary as a group sees it.  Public: who it is, where it sits, its grade and
    the previous one.  Disclosed (under consent, or to operators): score, dimensions, ranks."""

    sub: Subsidiary
    parent_uscc: str
    segment: str
    province: str
    grade: str | None = None
    as_of: dt.date | None = None
    previous_grade: str | None = None
    previous_as_of: dt.date | None = None
    consent_status: str = "none"  # a ConsentStatus value (lower case), "none", or the gate's refusal code
    consent_id: str | None = None
    disclosed: bool = False
    score: Decimal | None = None
    willingness: Decimal | None = None
    capability: Decimal | None = None
    performance: Decimal | None = None
    segment_percentile: Decimal | None = None
    province_percentile: Decimal | None = None
    # what the consent gate needs; not shown
    consent: Consent | None = field(default=None, repr=False)
    evaluation: Evaluation | None = field(default=None, repr=False)

    @property
    def uscc(self) -> str:
        return self.sub.uscc

    @property
    def name(self) -> str:
        return self.sub.name

    @property
    def level(self) -> int:
        return self.sub.level

    @property
    def kind(self) -> RelationKind:
        return self.sub.kind

    @property
    def share(self) -> Decimal:
        return self.sub.share

    @property
    def change(self) -> int | None:
        """Steps up (+) or down (−) since the previous evaluation; None when either is NR or missing."""
        if self.grade in GRADES and self.previous_grade in GRADES:
            return GRADES.index(str(self.previous_grade)) - GRADES.index(str(self.grade))
        return None

    @property
    def changed(self) -> bool:
        return self.previous_grade is not None and self.grade != self.previous_grade


@dataclass
class Benchmark:
    group: Enterprise
    as_of: dt.date
    subsidiaries: int
    evaluated: int
    distribution: dict[str, int]
    level1: int
    level1_aaa: int
    aaa_share: Decimal | None  # AAA among the level-1 subsidiaries evaluated (NR counts as not AAA)
    target: Decimal
    changes: list[SubsidiaryRow]
    rows: list[SubsidiaryRow]  # every subsidiary, disclosed or not
    disclosed: int
    dimension_means: dict[str, Decimal | None]

    @property
    def distribution_rows(self) -> list[dict[str, object]]:
        return [{"grade": g, "count": n} for g, n in self.distribution.items()]

    @property
    def disclosed_rows(self) -> list[SubsidiaryRow]:
        return [r for r in self.rows if r.disclosed]

    @property
    def meets_target(self) -> bool:
        return self.aaa_share is not None and self.aaa_share >= self.target


# --- who may look -------------------------------------------------------------------------------

def group_institution(session: Session, group: Enterprise) -> Institution | None:
    return session.scalar(sa.select(Institution).where(Institution.uscc == group.uscc,
                                                        Institution.kind == InstitutionKind.group))


def group_of(session: Session, user: User, uscc: str) -> Enterprise:
    """The group ``uscc`` names, if ``user`` may look at it: operators any group, a group's
    credit manager only their own (403 otherwise, for every other firm)."""
    if user.role not in (Role.operator, Role.group):
        raise RoleDenied("此操作仅限集团信用管理人员与征信机构")
    code = uscc.strip().upper()
    if user.role == Role.group:
        own = session.get(Enterprise, user.enterprise_id)
        if own is None or own.uscc != code:
            raise GroupDenied("只能查看本集团及其子公司")
        return own
    return get_enterprise(session, code)


def own_group(session: Session, user: User) -> Enterprise:
    if user.role != Role.group or user.enterprise_id is None:
        raise RoleDenied("此页面仅限集团信用管理人员")
    group = session.get(Enterprise, user.enterprise_id)
    assert group is not None
    return group


# --- the rows ------------------------------------------------------------------------------------

def _evaluations(session: Session, ids: list[int]) -> tuple[dict[int, Evaluation], dict[int, Evaluation]]:
    """The current evaluation of each firm, and the one before it."""
    current: dict[int, Evaluation] = {}
    previous: dict[int, Evaluation] = {}
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        current.update((e.enterprise_id, e) for e in session.scalars(
            sa.select(Evaluation).where(Evaluation.enterprise_id.in_(chunk), Evaluation.current.is_(True))))
        ranked = (sa.select(Evaluation.id, sa.func.row_number().over(
            partition_by=Evaluation.enterprise_id,
            order_by=(Evaluation.as_of.desc(), Evaluation.evaluated_at.desc(), Evaluation.id.desc())).label("n"))
            .where(Evaluation.enterprise_id.in_(chunk), Evaluation.current.is_(False)).subquery())
        previous.update((e.enterprise_id, e) for e in session.scalars(
            sa.select(Evaluation).join(ranked, ranked.c.id == Evaluation.id).where(ranked.c.n == 1)))
    return current, previous


def _consents(session: Session, institution: Institution | None, ids: list[int]) -> dict[int, Consent]:
    """Each subsidiary's 集团信用管理 consent to the group: the active one, else the newest."""
    if institution is None or not ids:
        return {}
    found: dict[int, Consent] = {}
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        for c in session.scalars(sa.select(Consent).where(
                Consent.institution_id == institution.id, Consent.enterprise_id.in_(chunk),
                Consent.purpose == Purpose.group_credit_management).order_by(Consent.created_at, Consent.id)):
            held = found.get(c.enterprise_id)
            if held is None or held.status != ConsentStatus.active:
                found[c.enterprise_id] = c
    return found


def subsidiary_rows(session: Session, group: Enterprise, *, as_of: dt.date | None = None) -> list[SubsidiaryRow]:
    """Every subsidiary of ``group`` (every level) with its public facts and its consent to
    the group; nothing beyond them yet (``disclose`` adds that)."""
    subs = subsidiaries(session, group.id, as_of=as_of)
    ids = [s.enterprise_id for s in subs]
    firms: dict[int, Enterprise] = {}
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        firms.update((e.id, e) for e in session.scalars(sa.select(Enterprise).where(Enterprise.id.in_(chunk))))
    firms[group.id] = group
    current, previous = _evaluations(session, ids)
    consents = _consents(session, group_institution(session, group), ids)
    rows = []
    for s in subs:
        ent = firms[s.enterprise_id]
        cur, prev, consent = current.get(s.enterprise_id), previous.get(s.enterprise_id), consents.get(s.enterprise_id)
        rows.append(SubsidiaryRow(
            sub=s, parent_uscc=firms[s.parent_id].uscc if s.parent_id in firms else "",
            segment=str(ent.segment), province=ent.province_code,
            grade=cur.grade if cur else None, as_of=cur.as_of if cur else None,
            previous_grade=prev.grade if prev else None, previous_as_of=prev.as_of if prev else None,
            consent_status=str(consent.status).lower() if consent else "none",
            consent_id=consent.consent_id if consent else None, consent=consent, evaluation=cur))
    return rows


def _parents_by_id(session: Session, rows: list[SubsidiaryRow]) -> None:
    """Fill the direct parents' codes the rows did not find (a parent that is itself a subsidiary)."""
    by_id = {r.sub.enterprise_id: r.uscc for r in rows}
    for r in rows:
        if not r.parent_uscc:
            r.parent_uscc = by_id.get(r.sub.parent_id, "")


def _score_counts(session: Session, month: dt.date, column: Any, value: str
                  ) -> tuple[list[Decimal], list[int], int]:
    """The scores of the firms evaluated in ``month`` whose ``column`` is ``value``, as sorted
    distinct scores with cumulative counts (at most 10,001 of them, whatever the firms)."""
    end = clock.add_months(month, 1)
    rows = session.execute(
        sa.select(Evaluation.score, sa.func.count())
        .join(Enterprise, Enterprise.id == Evaluation.enterprise_id)
        .where(Evaluation.current.is_(True), Evaluation.score.is_not(None), Evaluation.as_of >= month,
               Evaluation.as_of < end, column == value)
        .group_by(Evaluation.score).order_by(Evaluation.score)).all()
    scores: list[Decimal] = []
    cumulative: list[int] = []
    total = 0
    for score, n in rows:
        total += int(n)
        scores.append(Decimal(str(score)))
        cumulative.append(total)
    return scores, cumulative, total


def percentile(score: Decimal, counts: tuple[list[Decimal], list[int], int]) -> Decimal | None:
    """The share of the firms scoring below ``score``, ties counted half, in per cent (0–100)."""
    scores, cumulative, total = counts
    if not total:
        return None
    i = bisect.bisect_left(scores, score)
    below = cumulative[i - 1] if i else 0
    ties = (cumulative[i] - below) if i < len(scores) and scores[i] == score else 0
    return (Decimal(100) * (Decimal(below) + Decimal(ties) / 2) / Decimal(total)).quantize(Decimal("0.1"))


def _fill_numbers(session: Session, rows: Iterable[SubsidiaryRow]) -> None:
    cache: dict[tuple[dt.date, str, str], tuple[list[Decimal], list[int], int]] = {}
    for r in rows:
        ev = r.evaluation
        r.disclosed = True
        if ev is None:
            continue
        r.score, r.willingness, r.capability, r.performance = ev.score, ev.willingness, ev.capability, ev.performance
        if ev.score is None:
            continue
        month = clock.month_start(ev.as_of)
        for attr, column, value in (("segment_percentile", Enterprise.segment, r.segment),
                                    ("province_percentile", Enterprise.province_code, r.province)):
            key = (month, attr, value)
            if key not in cache:
                cache[key] = _score_counts(session, month, column, value)
            setattr(r, attr, percentile(ev.score, cache[key]))


def disclose(session: Session, user: User, rows: list[SubsidiaryRow], *, resource: str,
             request_id: str | None = None) -> None:
    """Add what lies beyond the public facts to the rows ``user`` may see so: an operator
    every row; a group's credit manager each row whose subsidiary's 集团信用管理 consent lets
    the gate through (one query-log entry and audit event per subsidiary; a refusal is
    audited and leaves the row public, its ``consent_status`` the refusal's code)."""
    if user.role == Role.operator:
        _fill_numbers(session, rows)
        return
    open_rows = []
    for r in rows:
        if r.consent is None or r.consent.status != ConsentStatus.active:
            continue
        try:
            with session.begin_nested():
                authorize_access(session, Caller.of_group_user(user, r.consent), r.uscc,
                                 Purpose.group_credit_management, {SECTION}, resource=resource,
                                 request_id=request_id)
        except Refused as exc:
            r.consent_status = exc.code
            if exc.audit is not None:
                audit.write(session, exc.audit)
            continue
        open_rows.append(r)
    _fill_numbers(session, open_rows)


def page_rows(rows: list[SubsidiaryRow], page: int, per_page: int) -> list[SubsidiaryRow]:
    return rows[(page - 1) * per_page: page * per_page]


def sort_rows(rows: list[SubsidiaryRow]) -> list[SubsidiaryRow]:
    return sorted(rows, key=lambda r: (r.level, r.parent_uscc, r.uscc))


def list_subsidiaries(session: Session, user: User, group: Enterprise, *, page: int, per_page: int,
                      resource: str, request_id: str | None = None) -> tuple[list[SubsidiaryRow], int]:
    """One page of a group's subsidiaries (level, then parent, then code), each disclosed as
    far as ``user`` may see it; with the total."""
    rows = sort_rows(subsidiary_rows(session, group))
    _parents_by_id(session, rows)
    shown = page_rows(rows, page, per_page)
    disclose(session, user, shown, resource=resource, request_id=request_id)
    return shown, len(rows)


def subsidiary(session: Session, user: User, group: Enterprise, uscc: str, *, resource: str,
               request_id: str | None = None) -> SubsidiaryRow:
    """One subsidiary of ``group``; any other firm is refused (403), known or not."""
    verdict = check_uscc(uscc, allow_legacy=True)
    if not verdict.ok:
        raise InvalidInput("子公司的统一社会信用代码无效", errors={"subsidiary": [f"{verdict.error}。"]})
    code = verdict.code
    rows = [r for r in subsidiary_rows(session, group) if r.uscc == code]
    if not rows:
        raise NotASubsidiary(f"{code} 不是{group.name}的子公司")
    _parents_by_id(session, rows)
    disclose(session, user, rows, resource=resource, request_id=request_id)
    return rows[0]


def benchmark(session: Session, user: User, group: Enterprise, *, resource: str,
              request_id: str | None = None) -> Benchmark:
    """The group dashboard's numbers: the grade distribution of every subsidiary (public),
    the share of AAA among the level-1 subsidiaries against the target, the grade changes
    since the previous evaluation, and 横向对标 for each subsidiary the user may see beyond
    its public facts (with the means of the three dimensions over them)."""
    rows = sort_rows(subsidiary_rows(session, group))
    _parents_by_id(session, rows)
    disclose(session, user, rows, resource=resource, request_id=request_id)
    graded = Counter(r.grade for r in rows if r.grade is not None)
    level1 = [r for r in rows if r.level == 1 and r.grade is not None]
    aaa = sum(1 for r in level1 if r.grade == "AAA")
    means: dict[str, Decimal | None] = {}
    disclosed = [r for r in rows if r.disclosed]
    for dim in ("willingness", "capability", "performance"):
        values = [getattr(r, dim) for r in disclosed if getattr(r, dim) is not None]
        means[dim] = (sum(values, Decimal(0)) / len(values)).quantize(Decimal("0.01")) if values else None
    return Benchmark(
        group=group, as_of=clock.today(), subsidiaries=len(rows), evaluated=sum(graded.values()),
        distribution={g: graded.get(g, 0) for g in DISTRIBUTION_GRADES}, level1=len(level1), level1_aaa=aaa,
        aaa_share=(Decimal(aaa) / len(level1)).quantize(Decimal("0.0001")) if level1 else None,
        target=AAA_TARGET, changes=[r for r in rows if r.changed], rows=rows, disclosed=len(disclosed),
        dimension_means=means)


def by_level(rows: Iterable[SubsidiaryRow]) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for r in rows:
        counts[r.level] += 1
    return dict(sorted(counts.items()))
