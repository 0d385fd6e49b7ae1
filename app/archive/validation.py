"""Validating a provider's rows (step 1 of ``app.archive.ingestion``): the envelope, the
provider's right to the category, the category's strict payload schema, the derived polarity,
severity and dates, and a content digest over the canonical JSON — in worker processes a few
chunks ahead of the writer when asked."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from marshmallow import ValidationError

from app.archive.categories import CATEGORIES, RETENTION_YEARS
from app.archive.ingestion_results import JsonLine, RowError, recordable, recordable_errors
from app.archive.models import (
    CATEGORY_LABELS,
    Category,
    DataProvider,
    Polarity,
)
from app.archive.schemas import PROVIDER_REF_CHARS, PROVIDER_REF_PATTERN, RecordInSchema
from app.archive.uscc import check_uscc
from app.core import clock
from app.core.errors import flatten_messages
from app.core.workers import make_pool

# --- validation -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderRights:
    """What validation needs to know about a provider (picklable, for worker processes)."""

    code: str
    active: bool
    categories: frozenset[str]

    @classmethod
    def of(cls, provider: DataProvider) -> ProviderRights:
        return cls(provider.code, provider.active, frozenset(provider.categories))

    def may_submit(self, category: str) -> bool:
        return self.active and category in self.categories


class Valid(NamedTuple):
    """A validated, normalised record: what gets written (a tuple: cheap to pickle)."""

    row: int  # index of the row in its batch
    ref: str
    uscc: str
    category: str
    polarity: str
    severity: int
    # Dates as ISO text, as written (text sorts as dates do; cheap to pickle and to COPY).
    occurred_on: str
    ended_on: str | None
    expires_on: str | None
    payload_json: str  # canonical JSON (sorted keys), stored as is
    digest: str

    @property
    def payload(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.payload_json)
        return loaded


@dataclass(slots=True)
class Refused:
    index: int
    ref: str | None
    errors: dict[str, list[str]]


def _json_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def content_digest(uscc: str, category: str, payload: Mapping[str, Any], ended_on: dt.date | None) -> str:
    """SHA-256 over ``[uscc, category, payload, ended_on]`` as canonical JSON (sorted keys,
    no spaces, UTF-8; amounts and dates as strings)."""
    return _digest(uscc, category, _CANONICAL.encode(payload), ended_on)


def _digest(uscc: str, category: str, payload_json: str, ended_on: dt.date | None) -> str:
    # Byte for byte the canonical JSON of the list, with the payload encoded only once
    # (uscc and category are validated ASCII codes: nothing to escape).
    end = f'"{ended_on.isoformat()}"' if ended_on else "null"
    return hashlib.sha256(f'["{uscc}","{category}",{payload_json},{end}]'.encode()).hexdigest()


_ENVELOPE = RecordInSchema()
_ENVELOPE_KEYS = frozenset(("provider_ref", "uscc", "category", "payload"))
_REF = re.compile(PROVIDER_REF_PATTERN)


def _fast_envelope(raw: Mapping[str, Any]) -> tuple[str, str, str, Mapping[str, Any]] | None:
    """The envelope of the common, clean row without marshmallow's per-field machinery.

    Accepts only what ``RecordInSchema`` accepts unchanged; anything else (extra or missing
    keys, ``ended_on``, a code that needs normalising) goes through the schema, which is
    what produces error messages.
    """
    if raw.keys() != _ENVELOPE_KEYS:
        return None
    ref, uscc, category, payload = raw["provider_ref"], raw["uscc"], raw["category"], raw["payload"]
    if not (type(ref) is str and type(uscc) is str and type(category) is str and isinstance(payload, dict)):
        return None
    if category not in CATEGORIES or not _REF.match(ref):
        return None
    verdict = check_uscc(uscc, allow_legacy=True)  # as RecordInSchema: the firm must be in the archive anyway
    if not verdict.ok or verdict.code != uscc:
        return None
    return ref, uscc, category, payload


def validate_record(provider: ProviderRights | DataProvider, raw: Any, index: int = -1) -> Valid | dict[str, list[str]]:
    """Validate row ``index`` of a batch; the normalised record, or its errors by field."""
    if isinstance(raw, JsonLine):
        raw = raw.parse()
    if isinstance(raw, RowError):
        return {"_row": [raw.message]}
    if not isinstance(raw, Mapping):
        return {"_row": ["每行应为一个 JSON 对象。"]}
    fast = _fast_envelope(raw)
    if fast is not None:
        ref, uscc, category, raw_payload = fast
        given_end: dt.date | None = None
    else:
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
        ref, uscc, category, raw_payload = env["provider_ref"], env["uscc"], env["category"], env["payload"]
        given_end = env.get("ended_on")
    if not provider.may_submit(category):
        return {"category": [f"数据源 {provider.code} 无权报送“{CATEGORY_LABELS[Category(category)]}”（{category}）类记录。"]}
    spec = CATEGORIES[category]
    payload = spec.fast.load(raw_payload)  # clean payloads; anything doubtful goes through load
    if payload is None:
        try:
            payload = spec.schema.load(raw_payload)
        except ValidationError as exc:
            return flatten_messages(exc.messages, "payload")
    cls = spec.classify(payload)
    ended_on = given_end or cls.ended_on
    if ended_on is not None and ended_on < cls.occurred_on:
        return {"ended_on": [f"结束日期 {ended_on} 不能早于发生日期 {cls.occurred_on}。"]}
    expires_on = None
    # Five years from the end of the behaviour; behaviour still going on has no end yet.
    if cls.polarity == Polarity.bad and (ended_on is not None or not cls.ongoing):
        expires_on = clock.add_years(ended_on or cls.occurred_on, RETENTION_YEARS)
    payload_json = _CANONICAL.encode(payload)
    return Valid(
        row=index, ref=ref, uscc=uscc, category=category, polarity=cls.polarity.value,
        severity=cls.severity, occurred_on=cls.occurred_on.isoformat(),
        ended_on=ended_on.isoformat() if ended_on else None,
        expires_on=expires_on.isoformat() if expires_on else None,
        payload_json=payload_json, digest=_digest(uscc, category, payload_json, given_end),
    )


Validated = tuple[list[Valid], list[Refused]]


def validate_chunk(rights: ProviderRights, rows: list[tuple[int, Any]]) -> Validated:
    """Validate a chunk of ``(index, raw)`` rows: the valid ones and the refused ones."""
    valid: list[Valid] = []
    refused: list[Refused] = []
    for index, raw in rows:
        if isinstance(raw, JsonLine):
            raw = raw.parse()
        outcome = validate_record(rights, raw, index)
        if isinstance(outcome, Valid):
            valid.append(outcome)
        else:
            refused.append(_refusal(index, raw, outcome))
    return valid, refused


def _refusal(index: int, raw: Any, errors: dict[str, list[str]]) -> Refused:
    """Row ``index`` refused: its reference and errors as they are reported and recorded
    (``recordable``: whatever the row held, they fit ``ingestion_refusal``)."""
    ref = raw.get("provider_ref") if isinstance(raw, Mapping) else None
    return Refused(index, recordable(ref, PROVIDER_REF_CHARS) if isinstance(ref, str) else None,
                   recordable_errors(errors))


@dataclass(slots=True)
class _LineBlock:
    """A chunk of NDJSON lines packed for a worker: one string, not thousands of objects."""

    first_index: int
    line_nos: list[int]
    text: str  # the lines joined by "\n" (none contains one)

    @classmethod
    def pack(cls, chunk: list[tuple[int, Any]]) -> _LineBlock | list[tuple[int, Any]]:
        first = chunk[0][0]
        if all(type(raw) is JsonLine for _, raw in chunk) and chunk[-1][0] - first == len(chunk) - 1:
            return cls(first, [raw.line_no for _, raw in chunk], "\n".join([raw.text for _, raw in chunk]))
        return chunk

    def rows(self) -> list[tuple[int, Any]]:
        lines = self.text.split("\n")
        return [(self.first_index + i, JsonLine(no, line))
                for i, (no, line) in enumerate(zip(self.line_nos, lines, strict=True))]


WorkerResult = tuple[list[tuple[Any, ...]], list[Refused]]


def _validate_in_worker(rights: ProviderRights, rows: _LineBlock | list[tuple[int, Any]]) -> WorkerResult:
    # Plain tuples cross the process boundary several times faster than named ones.
    valid, refused = validate_chunk(rights, rows.rows() if isinstance(rows, _LineBlock) else rows)
    return [tuple(v) for v in valid], refused


def _from_worker(future: Future[WorkerResult]) -> Validated:
    plain, refused = future.result()
    return [Valid._make(v) for v in plain], refused


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[tuple[int, Any]]]:
    chunk: list[tuple[int, Any]] = []
    for item in enumerate(rows):
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def validate_rows(rights: ProviderRights, rows: Iterable[Any], chunk_size: int,
               workers: int) -> Iterator[Validated]:
    """Validated chunks, in order; with ``workers`` > 1 and more than one chunk, validated in
    a process pool a few chunks ahead of the writer (bounded: memory stays flat)."""
    chunks = _chunks(rows, chunk_size)
    first = next(chunks, None)
    if first is None:
        return
    second = next(chunks, None)
    if workers <= 1 or second is None:
        yield validate_chunk(rights, first)
        if second is not None:
            yield validate_chunk(rights, second)
            for chunk in chunks:
                yield validate_chunk(rights, chunk)
        return
    pool = make_pool(workers)
    try:
        ahead: deque[Future[WorkerResult]] = deque()
        ahead.append(pool.submit(_validate_in_worker, rights, _LineBlock.pack(first)))
        ahead.append(pool.submit(_validate_in_worker, rights, _LineBlock.pack(second)))
        for chunk in chunks:
            ahead.append(pool.submit(_validate_in_worker, rights, _LineBlock.pack(chunk)))
            # At most 2 chunks per worker in flight; what is ready is handed on early as
            # long as every worker still has a chunk to chew on.
            while len(ahead) > workers * 2 or (len(ahead) > workers and ahead[0].done()):
                yield _from_worker(ahead.popleft())
        while ahead:
            yield _from_worker(ahead.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


