"""Archive services: registering enterprises, reading the archive, ingesting records,
retention and re-encryption.  Plain functions taking a session; they flush, never commit.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.orm import Session, aliased

from app.archive.categories import CATEGORIES
from app.archive.errors import (
    EnterpriseExists,
    EnterpriseNotFound,
    InvalidUscc,
    ProviderNotFound,
)
from app.archive.models import (
    ENCRYPTED_COLUMNS,
    Coverage,
    CreditRecord,
    CreditRecordVersion,
    DataProvider,
    Enterprise,
    EnterpriseRelation,
    IngestionRun,
    Polarity,
    ProviderKind,
    RecordStatus,
    RelationKind,
    default_coverage,
)
from app.archive.regions import PROVINCES
from app.archive.schemas import EnterpriseInSchema
from app.archive.uscc import check_uscc, province_code_of, region_code_of
from app.core import clock, signals
from app.core.auth import RoleDenied, TenancyDenied
from app.core.crypto import DecryptionError, FieldCipher
from app.core.db import Page, paginate
from app.core.errors import InvalidInput, NotFound, flatten_messages

PERSONAL_FIELDS = {
    "legal_rep_name": "legal_rep_name_enc",
    "legal_rep_id": "legal_rep_id_enc",
    "contact_phone": "contact_phone_enc",
}

# --- enterprises ------------------------------------------------------------------------

_ENTERPRISE_IN = EnterpriseInSchema()


def load_enterprise(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a registration's fields (the USCC is checked on registration)."""
    try:
        return dict(_ENTERPRISE_IN.load(raw))
    except ValidationError as exc:
        raise InvalidInput("企业登记信息未通过校验", errors=flatten_messages(exc.messages)) from exc


def _check_code(data: dict[str, Any], allow_legacy: bool) -> list[str]:
    verdict = check_uscc(data["uscc"], allow_legacy=allow_legacy)
    if not verdict.ok:
        raise InvalidUscc(verdict.error or "统一社会信用代码无效", errors={"uscc": [verdict.error or ""]})
    data["uscc"] = verdict.code
    data["legacy_uscc"] = verdict.legacy
    return [verdict.warning] if verdict.warning else []


def _apply_enterprise(cipher: FieldCipher, ent: Enterprise, data: Mapping[str, Any]) -> None:
    for key in ("name", "segment", "registered_capital", "paid_in_capital", "founded_on", "status", "address", "legacy_uscc"):
        if key in data:
            setattr(ent, key, data[key])
    ent.region_code = region_code_of(ent.uscc)
    ent.province_code = province_code_of(ent.uscc)
    for key, column in PERSONAL_FIELDS.items():
        if key not in data:
            continue
        # An unchanged value keeps its ciphertext: re-encrypting (a new nonce) would rewrite the
        # row and mark the firm changed when nothing was. One that cannot be read is replaced.
        if _decrypts_to(cipher, getattr(ent, column), column, ent.uscc, data[key]):
            continue
        setattr(ent, column, cipher.encrypt(data[key], table="enterprise", column=column, row=ent.uscc))


def _decrypts_to(cipher: FieldCipher, stored: str | None, column: str, uscc: str, value: Any) -> bool:
    if stored is None:
        return False
    try:
        return cipher.decrypt(stored, table="enterprise", column=column, row=uscc) == value
    except DecryptionError:
        return False


def register_enterprise(
    session: Session, cipher: FieldCipher, data: dict[str, Any], *, allow_legacy: bool = False
) -> tuple[Enterprise, list[str]]:
    """A new registration from loaded data (strict USCC check unless ``allow_legacy``)."""
    data = dict(data)
    warnings = _check_code(data, allow_legacy)
    if session.scalar(sa.select(Enterprise.id).where(Enterprise.uscc == data["uscc"])):
        raise EnterpriseExists(f"企业 {data['uscc']} 已登记", errors={"uscc": ["已登记。"]})
    ent = Enterprise(uscc=data["uscc"])
    _apply_enterprise(cipher, ent, data)
    session.add(ent)
    session.flush()
    return ent, warnings


def upsert_enterprise(
    session: Session, cipher: FieldCipher, raw: Mapping[str, Any], *, allow_legacy: bool = True
) -> tuple[Enterprise, bool, list[str]]:
    """Import of existing firms: create or update by USCC; legacy codes allowed with warning."""
    data = load_enterprise(raw)
    warnings = _check_code(data, allow_legacy)
    ent = session.scalar(sa.select(Enterprise).where(Enterprise.uscc == data["uscc"]))
    created = ent is None
    if ent is None:
        ent = Enterprise(uscc=data["uscc"])
        session.add(ent)
    _apply_enterprise(cipher, ent, data)
    session.flush()
    return ent, created, warnings


def get_enterprise(session: Session, uscc: str) -> Enterprise:
    ent = session.scalar(sa.select(Enterprise).where(Enterprise.uscc == uscc.strip().upper()))
    if ent is None:
        raise EnterpriseNotFound(f"信用档案中没有统一社会信用代码为 {uscc} 的企业")
    return ent


def personal_fields(cipher: FieldCipher, ent: Enterprise) -> dict[str, str | None]:
    return {
        key: cipher.decrypt(getattr(ent, column), table="enterprise", column=column, row=ent.uscc)
        for key, column in PERSONAL_FIELDS.items()
    }


def enterprise_detail(cipher: FieldCipher, ent: Enterprise) -> dict[str, Any]:
    """Registration facts plus the decrypted personal fields (operators, the firm itself)."""
    public = (
        "uscc", "name", "segment", "region_code", "registered_capital", "paid_in_capital", "founded_on", "status",
        "address", "legacy_uscc", "created_at", "updated_at",
    )
    return {**{k: getattr(ent, k) for k in public}, **personal_fields(cipher, ent)}


def search_enterprises(
    session: Session, *, q: str | None, segment: str | None = None, province: str | None = None,
    page: int = 1, per_page: int = 20,
) -> Page[Enterprise]:
    stmt = sa.select(Enterprise)
    if q:
        term = q.strip()
        # A code as Chinese input methods type it (全角 ９１６２…Ｙ) is the same code; names are
        # matched as written (their full-width brackets are part of them).
        code = unicodedata.normalize("NFKC", term).upper().replace(" ", "")
        if len(code) == 18 and code.isascii() and code.isalnum():
            stmt = stmt.where(Enterprise.uscc == code)
        else:
            escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            matches = [Enterprise.name.like(f"%{escaped}%", escape="\\")]
            if code.isascii() and code.isalnum():
                matches.append(Enterprise.uscc.like(f"{code}%"))
            stmt = stmt.where(sa.or_(*matches))
    if segment:
        stmt = stmt.where(Enterprise.segment == segment)
    if province:
        stmt = stmt.where(Enterprise.province_code == province)
    return paginate(session, stmt.order_by(Enterprise.name, Enterprise.id), page, per_page)


def list_records(
    session: Session, ent: Enterprise, *, category: str | None = None, polarity: str | None = None,
    status: str | None = None, include_expired: bool = False, occurred_from: dt.date | None = None,
    occurred_to: dt.date | None = None, page: int = 1, per_page: int = 20,
) -> Page[CreditRecord]:
    stmt = sa.select(CreditRecord).where(CreditRecord.enterprise_id == ent.id)
    if category:
        stmt = stmt.where(CreditRecord.category == category)
    if polarity:
        stmt = stmt.where(CreditRecord.polarity == polarity)
    if status:
        stmt = stmt.where(CreditRecord.status == status)
    elif not include_expired:
        stmt = stmt.where(CreditRecord.status.not_in([RecordStatus.expired, RecordStatus.revoked]))
    if occurred_from:
        stmt = stmt.where(CreditRecord.occurred_on >= occurred_from)
    if occurred_to:
        stmt = stmt.where(CreditRecord.occurred_on <= occurred_to)
    stmt = stmt.order_by(CreditRecord.occurred_on.desc(), CreditRecord.id.desc())
    return paginate(session, stmt, page, per_page)


def category_counts(session: Session, ent: Enterprise) -> dict[str, dict[str, int]]:
    """The live records per category: ``{category: {"good": n, "bad": n, "neutral": n,
    "disputed": n, "total": n}}`` (expired and revoked records left out, as the list does)."""
    out: dict[str, dict[str, int]] = {}
    rows = session.execute(
        sa.select(sa.type_coerce(CreditRecord.category, sa.String()), sa.type_coerce(CreditRecord.polarity, sa.String()),
                  sa.func.count(), sa.func.sum(sa.case((CreditRecord.status == RecordStatus.disputed, 1), else_=0)))
        .where(CreditRecord.enterprise_id == ent.id,
               CreditRecord.status.not_in([RecordStatus.expired, RecordStatus.revoked]))
        .group_by(CreditRecord.category, CreditRecord.polarity))
    for category, polarity, n, disputed in rows:
        c = out.setdefault(category, {"good": 0, "bad": 0, "neutral": 0, "disputed": 0, "total": 0})
        c[polarity] += int(n)
        c["disputed"] += int(disputed or 0)
        c["total"] += int(n)
    return out


def record_history(session: Session, record: CreditRecord) -> list[CreditRecordVersion]:
    return list(
        session.scalars(
            sa.select(CreditRecordVersion)
            .where(CreditRecordVersion.record_id == record.id)
            .order_by(CreditRecordVersion.version)
        )
    )


# --- providers --------------------------------------------------------------------------


def create_provider(
    session: Session, *, code: str, name: str, kind: str, categories: Iterable[str],
    coverage: str | None = None, provinces: Iterable[str] | None = None,
) -> DataProvider:
    """Register a provider.  ``coverage`` (default by kind: see :class:`Coverage`) and
    ``provinces`` (region coverage; none: nationwide) say which firms it reports on, which
    decides whether its silence about a firm is evidence (scorecard coverage)."""
    cats = sorted(set(categories))
    unknown = [c for c in cats if c not in CATEGORIES]
    if unknown:
        raise InvalidInput("未知的记录类别", errors={"categories": [f"未知类别：{', '.join(unknown)}"]})
    if kind not in ProviderKind.__members__:
        raise InvalidInput("未知的数据源类型", errors={"kind": [f"应为 {', '.join(ProviderKind)} 之一"]})
    if session.scalar(sa.select(DataProvider.id).where(DataProvider.code == code)):
        raise InvalidInput("数据源编码已存在", errors={"code": [f"{code} 已存在。"]})
    if coverage is not None and coverage not in Coverage.__members__:
        raise InvalidInput("未知的覆盖方式", errors={"coverage": [f"应为 {', '.join(Coverage)} 之一"]})
    codes = sorted(set(provinces)) if provinces else None
    if codes is not None:
        bad = [p for p in codes if p not in PROVINCES]
        if bad:
            raise InvalidInput("未知的省级行政区划代码", errors={"provinces": [f"未知代码：{', '.join(bad)}"]})
        if (coverage or default_coverage(kind)) != Coverage.region:
            raise InvalidInput("只有按辖区覆盖的数据源才有省份", errors={"provinces": ["coverage 为 reported 时不应给出省份。"]})
    provider = DataProvider(code=code, name=name, kind=ProviderKind(kind), categories=cats,
                            coverage=str(Coverage(coverage) if coverage else default_coverage(kind)), provinces=codes)
    session.add(provider)
    session.flush()
    return provider


def get_provider(session: Session, code: str) -> DataProvider:
    provider = session.scalar(sa.select(DataProvider).where(DataProvider.code == code))
    if provider is None:
        raise ProviderNotFound(f"没有编码为 {code} 的数据源")
    return provider


# --- retention --------------------------------------------------------------------------


def expire_records(session: Session, as_of: dt.date | None = None) -> int:
    """Mark negative records past their retention date as expired (idempotent)."""
    as_of = as_of or clock.today()
    res = session.execute(
        sa.update(CreditRecord)
        .where(
            CreditRecord.polarity == Polarity.bad,
            CreditRecord.expires_on.is_not(None),
            CreditRecord.expires_on <= as_of,
            CreditRecord.status.in_([RecordStatus.active, RecordStatus.corrected, RecordStatus.disputed]),
        )
        .values(status=RecordStatus.expired, updated_at=clock.now())
        .returning(CreditRecord.id, CreditRecord.enterprise_id, CreditRecord.category, CreditRecord.severity)
        .execution_options(synchronize_session=False)
    )
    expired = [(rid, ent, str(cat), sev) for rid, ent, cat, sev in res]
    if expired:
        signals.records_expired.send(None, session=session, records=expired)
    return len(expired)


# --- key rotation -----------------------------------------------------------------------


def reencrypt_all(session: Session, old: FieldCipher, new: FieldCipher, batch: int = 500) -> int:
    """Re-encrypt every encrypted column with ``new``'s active key. Returns rows changed."""
    changed = 0
    columns = ENCRYPTED_COLUMNS["enterprise"]
    last_id = 0
    while True:
        ents = list(
            session.scalars(
                sa.select(Enterprise).where(Enterprise.id > last_id).order_by(Enterprise.id).limit(batch)
            )
        )
        if not ents:
            break
        for ent in ents:
            for column in columns:
                stored = getattr(ent, column)
                if stored is None or new.key_id_of(stored) == new.ring.active:
                    continue
                plain = old.decrypt(stored, table="enterprise", column=column, row=ent.uscc)
                setattr(ent, column, new.encrypt(plain, table="enterprise", column=column, row=ent.uscc))
                changed += 1
        session.flush()
        last_id = ents[-1].id
    return changed


# --- ingestion runs (the operator's record of what each batch did, row by row) ----------------

class RunNotFound(NotFound):
    code = "ingestion_run_not_found"


def list_runs(session: Session, page: int, per_page: int, provider: str | None = None,
              refused_only: bool = False) -> Page[IngestionRun]:
    stmt = sa.select(IngestionRun).order_by(IngestionRun.started_at.desc(), IngestionRun.id.desc())
    if provider:
        stmt = stmt.join(DataProvider, DataProvider.id == IngestionRun.provider_id).where(DataProvider.code == provider)
    if refused_only:
        stmt = stmt.where(sa.or_(IngestionRun.refused > 0, IngestionRun.committed.is_(False)))  # or refused whole
    return paginate(session, stmt, page, per_page)


def get_run(session: Session, run_id: int) -> IngestionRun:
    run = session.get(IngestionRun, run_id)
    if run is None:
        raise RunNotFound(f"没有编号为 {run_id} 的报送批次")
    return run


def run_rows(session: Session, run: IngestionRun, page: int, per_page: int) -> Page[dict[str, Any]]:
    """What the batch did to each row it wrote: records it created (``accepted``) or
    corrected (``corrected``) whose current version is still its own, and versions of its
    that a later batch has since superseded (``superseded``).  Refused rows are in
    ``run.refusals``; unchanged rows leave no trace beyond the run's count."""
    current = (sa.select(CreditRecord.id.label("record_id"), CreditRecord.provider_ref, CreditRecord.version,
                         sa.type_coerce(CreditRecord.category, sa.String()).label("category"),
                         Enterprise.uscc, Enterprise.name, sa.literal(False).label("superseded"))
               .join(Enterprise, Enterprise.id == CreditRecord.enterprise_id)
               .where(CreditRecord.run_id == run.id))
    old = (sa.select(CreditRecord.id.label("record_id"), CreditRecord.provider_ref, CreditRecordVersion.version,
                     sa.type_coerce(CreditRecord.category, sa.String()).label("category"),
                     Enterprise.uscc, Enterprise.name, sa.literal(True).label("superseded"))
           .join(CreditRecord, CreditRecord.id == CreditRecordVersion.record_id)
           .join(Enterprise, Enterprise.id == CreditRecord.enterprise_id)
           .where(CreditRecordVersion.run_id == run.id))
    union = sa.union_all(current, old).subquery()
    total = session.scalar(sa.select(sa.func.count()).select_from(union)) or 0
    rows = session.execute(sa.select(union).order_by(union.c.record_id, union.c.version)
                           .limit(per_page).offset((page - 1) * per_page)).mappings()
    items = [{**row, "status": "superseded" if row["superseded"] else ("accepted" if row["version"] == 1
                                                                       else "corrected")} for row in rows]
    return Page(items, page, per_page, int(total))


def require_archive_access(user: Any, enterprise: Enterprise) -> None:
    """Operators read every archive; a firm only its own; banks only through a consent."""
    if str(user.role) == "operator":
        return
    if str(user.role) == "firm":
        if user.enterprise_id != enterprise.id:
            raise TenancyDenied("企业用户只能查看本企业的信用档案")
        return
    raise RoleDenied("金融机构须经企业授权、通过征信报告接口查询，不能直接浏览信用档案")


# --- enterprise relations (集团与子公司; written by app.archive.relations) ------------------

MAX_RELATION_DEPTH = 32  # no real group is deeper; bounds the recursion should data ever loop


@dataclass(frozen=True)
class Subsidiary:
    """A firm a parent holds, directly (level 1, 二级公司) or through others (level 2, 三级公司 …)."""

    enterprise_id: int
    uscc: str
    name: str
    level: int
    parent_id: int  # the direct parent
    kind: RelationKind
    share: Decimal  # the direct parent's share, per cent


def relations_in_force(as_of: dt.date) -> sa.ColumnElement[bool]:
    """Relations that hold on ``as_of``: from ``valid_from`` up to the day before ``valid_to``."""
    rel = EnterpriseRelation
    return sa.and_(rel.valid_from <= as_of, sa.or_(rel.valid_to.is_(None), rel.valid_to > as_of))


def subsidiaries(session: Session, parent_id: int, *, as_of: dt.date | None = None) -> list[Subsidiary]:
    """Every firm ``parent_id`` holds on ``as_of`` (today by default), at every level, in one
    recursive query (the relation's parent index takes each level).  A firm reached by two
    paths is listed once, at its nearest level."""
    day = as_of or clock.today()
    rel = EnterpriseRelation
    tree = (sa.select(rel.child_id.label("enterprise_id"), rel.parent_id, rel.kind, rel.share,
                      sa.literal(1).label("level"))
            .where(rel.parent_id == parent_id, relations_in_force(day))
            .cte("tree", recursive=True))
    below = aliased(rel)
    tree = tree.union_all(
        sa.select(below.child_id, below.parent_id, below.kind, below.share, (tree.c.level + 1).label("level"))
        .join(tree, below.parent_id == tree.c.enterprise_id)
        .where(below.valid_from <= day, sa.or_(below.valid_to.is_(None), below.valid_to > day),
               tree.c.level < MAX_RELATION_DEPTH))
    rows = session.execute(
        sa.select(tree.c.enterprise_id, Enterprise.uscc, Enterprise.name, tree.c.level, tree.c.parent_id,
                  tree.c.kind, tree.c.share)
        .join(Enterprise, Enterprise.id == tree.c.enterprise_id)
        .order_by(tree.c.level, Enterprise.uscc))
    found: dict[int, Subsidiary] = {}
    for row in rows:
        if row.enterprise_id not in found and row.enterprise_id != parent_id:
            found[row.enterprise_id] = Subsidiary(row.enterprise_id, row.uscc, row.name, row.level, row.parent_id,
                                                  RelationKind(row.kind), Decimal(row.share))
    return list(found.values())


def group_parents(session: Session, enterprise_id: int, *, as_of: dt.date | None = None) -> list[int]:
    """The enterprise ids of every firm holding ``enterprise_id`` on ``as_of``, directly or
    through others (its parent, its parent's parent …), nearest first."""
    day = as_of or clock.today()
    rel = EnterpriseRelation
    up = (sa.select(rel.parent_id.label("enterprise_id"), sa.literal(1).label("level"))
          .where(rel.child_id == enterprise_id, relations_in_force(day))
          .cte("up", recursive=True))
    above = aliased(rel)
    up = up.union_all(
        sa.select(above.parent_id, (up.c.level + 1).label("level"))
        .join(up, above.child_id == up.c.enterprise_id)
        .where(above.valid_from <= day, sa.or_(above.valid_to.is_(None), above.valid_to > day),
               up.c.level < MAX_RELATION_DEPTH))
    seen: dict[int, None] = {}
    for parent in session.scalars(sa.select(up.c.enterprise_id).order_by(up.c.level, up.c.enterprise_id)):
        if parent != enterprise_id:
            seen.setdefault(parent, None)
    return list(seen)
