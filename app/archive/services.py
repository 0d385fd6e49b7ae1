"""Archive services: registering enterprises, reading the archive, ingesting records,
retention and re-encryption.  Plain functions taking a session; they flush, never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from app.archive.categories import CATEGORIES, RETENTION_YEARS, add_years
from app.archive.errors import (
    EnterpriseExists,
    EnterpriseNotFound,
    InvalidUscc,
    ProviderNotFound,
)
from app.archive.models import (
    CATEGORY_LABELS,
    ENCRYPTED_COLUMNS,
    Category,
    CreditRecord,
    CreditRecordVersion,
    DataProvider,
    Enterprise,
    IngestionRefusal,
    IngestionRun,
    Polarity,
    ProviderKind,
    RecordStatus,
)
from app.archive.schemas import EnterpriseInSchema, RecordInSchema
from app.archive.uscc import check_uscc, province_code_of, region_code_of
from app.crypto import FieldCipher
from app.db import Page, paginate, utcnow
from app.errors import InvalidInput, flatten_messages
from app.schemas_base import today_cn

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
    for key in ("name", "segment", "registered_capital", "founded_on", "status", "address", "legacy_uscc"):
        if key in data:
            setattr(ent, key, data[key])
    ent.region_code = region_code_of(ent.uscc)
    ent.province_code = province_code_of(ent.uscc)
    for key, column in PERSONAL_FIELDS.items():
        if key in data:
            setattr(ent, column, cipher.encrypt(data[key], table="enterprise", column=column, row=ent.uscc))


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
        "uscc", "name", "segment", "region_code", "registered_capital", "founded_on", "status",
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
        if len(term) == 18 and term.isalnum():
            stmt = stmt.where(Enterprise.uscc == term.upper())
        else:
            escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(
                sa.or_(
                    Enterprise.name.like(f"%{escaped}%", escape="\\"),
                    Enterprise.uscc.like(f"{escaped.upper()}%", escape="\\"),
                )
            )
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
    session: Session, *, code: str, name: str, kind: str, categories: Iterable[str]
) -> DataProvider:
    cats = sorted(set(categories))
    unknown = [c for c in cats if c not in CATEGORIES]
    if unknown:
        raise InvalidInput("未知的记录类别", errors={"categories": [f"未知类别：{', '.join(unknown)}"]})
    if kind not in ProviderKind.__members__:
        raise InvalidInput("未知的数据源类型", errors={"kind": [f"应为 {', '.join(ProviderKind)} 之一"]})
    if session.scalar(sa.select(DataProvider.id).where(DataProvider.code == code)):
        raise InvalidInput("数据源编码已存在", errors={"code": [f"{code} 已存在。"]})
    provider = DataProvider(code=code, name=name, kind=ProviderKind(kind), categories=cats)
    session.add(provider)
    session.flush()
    return provider


def get_provider(session: Session, code: str) -> DataProvider:
    provider = session.scalar(sa.select(DataProvider).where(DataProvider.code == code))
    if provider is None:
        raise ProviderNotFound(f"没有编码为 {code} 的数据源")
    return provider


# --- ingestion --------------------------------------------------------------------------


class RowError:
    """A row a reader could not even parse (bad JSON line, bad CSV shape)."""

    def __init__(self, message: str) -> None:
        self.message = message


@dataclass
class RowResult:
    index: int
    status: str  # accepted | unchanged | corrected | refused | rolled_back
    provider_ref: str | None = None
    record_id: int | None = None
    version: int | None = None
    errors: dict[str, list[str]] | None = None


@dataclass
class BatchResult:
    run_id: int
    mode: str
    committed: bool = False
    total: int = 0
    accepted: int = 0
    unchanged: int = 0
    corrected: int = 0
    refused: int = 0
    rows: list[RowResult] = field(default_factory=list)
    refusals: list[RowResult] = field(default_factory=list)


@dataclass
class _Valid:
    index: int
    ref: str
    uscc: str
    category: str
    polarity: Polarity
    severity: int
    occurred_on: dt.date
    ended_on: dt.date | None
    expires_on: dt.date | None
    payload: dict[str, Any]
    digest: str


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def content_digest(uscc: str, category: str, payload: Mapping[str, Any], ended_on: dt.date | None) -> str:
    canonical = json.dumps(
        [uscc, category, payload, ended_on.isoformat() if ended_on else None],
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


_ENVELOPE = RecordInSchema()


def validate_record(provider: DataProvider, raw: Any) -> _Valid | dict[str, list[str]]:
    """Validate one row of a batch; the normalised record, or its errors by field."""
    if isinstance(raw, RowError):
        return {"_row": [raw.message]}
    if not isinstance(raw, Mapping):
        return {"_row": ["每行应为一个 JSON 对象。"]}
    try:
        env = _ENVELOPE.load(raw)
    except ValidationError as exc:
        errors = flatten_messages(exc.messages)
        spec = CATEGORIES.get(str(raw.get("category")))
        if spec is not None and isinstance(raw.get("payload"), Mapping) and "payload" not in errors:
            try:  # report the payload's errors in the same answer
                spec.schema.load(raw["payload"])
            except ValidationError as payload_exc:
                errors.update(flatten_messages(payload_exc.messages, "payload"))
        return errors
    category = env["category"]
    if not provider.may_submit(category):
        return {"category": [f"数据源 {provider.code} 无权报送“{CATEGORY_LABELS[Category(category)]}”（{category}）类记录。"]}
    spec = CATEGORIES[category]
    try:
        payload = spec.schema.load(env["payload"])
    except ValidationError as exc:
        return flatten_messages(exc.messages, "payload")
    cls = spec.classify(payload)
    ended_on = env.get("ended_on") or cls.ended_on
    if ended_on is not None and ended_on < cls.occurred_on:
        return {"ended_on": [f"结束日期 {ended_on} 不能早于发生日期 {cls.occurred_on}。"]}
    expires_on = None
    if cls.polarity == Polarity.bad:
        expires_on = add_years(ended_on or cls.occurred_on, RETENTION_YEARS)
    payload_json = _jsonable(payload)
    return _Valid(
        index=-1, ref=env["provider_ref"], uscc=env["uscc"], category=category,
        polarity=cls.polarity, severity=cls.severity, occurred_on=cls.occurred_on,
        ended_on=ended_on, expires_on=expires_on, payload=payload_json,
        digest=content_digest(env["uscc"], category, payload_json, env.get("ended_on")),
    )


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[tuple[int, Any]]]:
    chunk: list[tuple[int, Any]] = []
    for item in enumerate(rows):
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Ingestor:
    """Writes validated rows of one batch chunk by chunk inside one transaction."""

    def __init__(self, session: Session, provider: DataProvider, run: IngestionRun,
                 result: BatchResult, keep_rows: bool, today: dt.date) -> None:
        self.session = session
        self.provider = provider
        self.run = run
        self.result = result
        self.keep_rows = keep_rows
        self.today = today
        self.now = utcnow()
        self.enterprise_ids: dict[str, int] = {}

    def _emit(self, row: RowResult) -> None:
        setattr(self.result, row.status, getattr(self.result, row.status) + 1)
        if row.status == "refused":
            self.result.refusals.append(row)
        if self.keep_rows:
            self.result.rows.append(row)

    def _lookup_enterprises(self, usccs: set[str]) -> None:
        missing = [u for u in usccs if u not in self.enterprise_ids]
        if len(self.enterprise_ids) > 200_000:
            self.enterprise_ids.clear()
        for i in range(0, len(missing), 900):
            part = missing[i : i + 900]
            self.enterprise_ids.update(
                self.session.execute(
                    sa.select(Enterprise.uscc, Enterprise.id).where(Enterprise.uscc.in_(part))
                ).all()
            )

    def _existing(self, refs: list[str]) -> dict[str, tuple[int, str]]:
        found: dict[str, tuple[int, str]] = {}
        for i in range(0, len(refs), 900):
            part = refs[i : i + 900]
            for rid, ref, digest in self.session.execute(
                sa.select(CreditRecord.id, CreditRecord.provider_ref, CreditRecord.content_digest)
                .where(CreditRecord.provider_id == self.provider.id, CreditRecord.provider_ref.in_(part))
            ):
                found[ref] = (rid, digest)
        return found

    def _status_for(self, v: _Valid) -> RecordStatus:
        if v.expires_on is not None and v.expires_on <= self.today:
            return RecordStatus.expired
        return RecordStatus.active

    def _insert(self, pending: list[tuple[_Valid, RowResult]], known: dict[str, tuple[int, str]]) -> None:
        if not pending:
            return
        params = [
            {
                "enterprise_id": self.enterprise_ids[v.uscc], "provider_id": self.provider.id,
                "provider_ref": v.ref, "category": v.category, "polarity": v.polarity,
                "severity": v.severity, "occurred_on": v.occurred_on, "ended_on": v.ended_on,
                "expires_on": v.expires_on, "status": self._status_for(v), "payload": v.payload,
                "content_digest": v.digest, "version": 1, "run_id": self.run.id,
                "received_at": self.now, "updated_at": self.now,
            }
            for v, _ in pending
        ]
        # Table-level insert: every row has the same keys, so one multi-row statement per
        # batch (the ORM bulk path splits rows whose None keys differ into tiny statements).
        table = CreditRecord.__table__
        ids = self.session.scalars(
            sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), params
        ).all()
        for (v, row), rid in zip(pending, ids, strict=True):
            row.record_id = rid
            known[v.ref] = (rid, v.digest)
            self._emit(row)
        pending.clear()

    def _correct(self, record_id: int, v: _Valid) -> int:
        rec = self.session.get_one(CreditRecord, record_id)
        self.session.add(
            CreditRecordVersion(
                record_id=rec.id, version=rec.version, polarity=rec.polarity, severity=rec.severity,
                occurred_on=rec.occurred_on, ended_on=rec.ended_on, expires_on=rec.expires_on,
                payload=rec.payload, content_digest=rec.content_digest, run_id=rec.run_id,
                received_at=rec.received_at, superseded_at=self.now, superseded_by_run_id=self.run.id,
            )
        )
        if rec.enterprise_id != self.enterprise_ids[v.uscc]:
            rec.enterprise_id = self.enterprise_ids[v.uscc]
        rec.category = Category(v.category)
        rec.polarity, rec.severity = v.polarity, v.severity
        rec.occurred_on, rec.ended_on, rec.expires_on = v.occurred_on, v.ended_on, v.expires_on
        rec.payload, rec.content_digest = v.payload, v.digest
        rec.version += 1
        rec.run_id = self.run.id
        rec.updated_at = self.now
        if rec.status not in (RecordStatus.disputed, RecordStatus.revoked):
            rec.status = (
                RecordStatus.expired if self._status_for(v) == RecordStatus.expired
                else RecordStatus.corrected
            )
        self.session.flush()
        return rec.version

    def chunk(self, rows: list[tuple[int, Any]]) -> None:
        valid: list[_Valid] = []
        for index, raw in rows:
            self.result.total += 1
            outcome = validate_record(self.provider, raw)
            if isinstance(outcome, dict):
                ref = raw.get("provider_ref") if isinstance(raw, Mapping) else None
                self._emit(RowResult(index, "refused", ref if isinstance(ref, str) else None, errors=outcome))
                continue
            outcome.index = index
            valid.append(outcome)
        if not valid:
            return
        self._lookup_enterprises({v.uscc for v in valid})
        known = self._existing(list({v.ref for v in valid}))
        pending: list[tuple[_Valid, RowResult]] = []
        pending_refs: set[str] = set()
        for v in valid:
            row = RowResult(v.index, "accepted", v.ref)
            if v.uscc not in self.enterprise_ids:
                row.status = "refused"
                row.errors = {"uscc": [f"企业 {v.uscc} 未在信用档案中登记，请先登记企业。"]}
                self._emit(row)
                continue
            if v.ref in pending_refs:  # the same ref twice in one chunk: write the first
                self._insert(pending, known)
                pending_refs.clear()
            prev = known.get(v.ref)
            if prev is None:
                pending.append((v, row))
                pending_refs.add(v.ref)
            elif prev[1] == v.digest:
                row.status, row.record_id = "unchanged", prev[0]
                self._emit(row)
            else:
                row.status, row.record_id = "corrected", prev[0]
                row.version = self._correct(prev[0], v)
                known[v.ref] = (prev[0], v.digest)
                self._emit(row)
        self._insert(pending, known)


def ingest_records(
    session: Session,
    provider: DataProvider,
    rows: Iterable[Any],
    *,
    source: str = "api",
    filename: str | None = None,
    mode: str = "partial",
    chunk_size: int = 1000,
    keep_rows: bool = True,
    on_chunk: Callable[[BatchResult], None] | None = None,
) -> BatchResult:
    """Validate and write a provider's batch.

    Good rows are written in one transaction (the caller's) while refused rows are reported
    with their index, field and reason.  ``mode="all_or_nothing"`` writes nothing when any
    row is refused.  Resending a row with the same ``provider_ref`` and content changes
    nothing; new content supersedes the old, which is kept as a version.
    """
    run = IngestionRun(provider_id=provider.id, source=source, filename=filename, mode=mode)
    session.add(run)
    session.flush()
    result = BatchResult(run_id=run.id, mode=mode)
    ingestor = _Ingestor(session, provider, run, result, keep_rows, today_cn())
    savepoint = session.begin_nested()
    try:
        for chunk in _chunks(rows, chunk_size):
            ingestor.chunk(chunk)
            if on_chunk is not None:
                on_chunk(result)
    except BaseException:
        savepoint.rollback()
        raise
    result.rows.sort(key=lambda r: r.index)
    result.refusals.sort(key=lambda r: r.index)
    if mode == "all_or_nothing" and result.refused:
        savepoint.rollback()
        for row in result.rows:
            if row.status != "refused":
                row.status, row.record_id, row.version = "rolled_back", None, None
        result.accepted = result.unchanged = result.corrected = 0
    else:
        savepoint.commit()
        result.committed = True
    if result.refusals:
        session.execute(
            sa.insert(IngestionRefusal),
            [
                {"run_id": run.id, "row_index": r.index, "provider_ref": r.provider_ref, "errors": r.errors}
                for r in result.refusals
            ],
        )
    run.total, run.accepted, run.unchanged = result.total, result.accepted, result.unchanged
    run.corrected, run.refused, run.committed = result.corrected, result.refused, result.committed
    run.finished_at = utcnow()
    session.flush()
    return result


# --- retention --------------------------------------------------------------------------


def expire_records(session: Session, as_of: dt.date | None = None) -> int:
    """Mark negative records past their retention date as expired (idempotent)."""
    as_of = as_of or today_cn()
    res = session.execute(
        sa.update(CreditRecord)
        .where(
            CreditRecord.polarity == Polarity.bad,
            CreditRecord.expires_on.is_not(None),
            CreditRecord.expires_on <= as_of,
            CreditRecord.status.in_([RecordStatus.active, RecordStatus.corrected, RecordStatus.disputed]),
        )
        .values(status=RecordStatus.expired, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(res.rowcount or 0)  # type: ignore[attr-defined]


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
