"""What ingestion answers for each row and for the batch."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.core.errors import json_error_text

# --- what a refusal records -----------------------------------------------------------------
# A refused row is refused for what it holds, so what is recorded of it (its reference, its
# error fields and messages, which may quote it) must be stored whatever it holds: the same
# on SQLite and PostgreSQL, and never the reason a whole batch fails.

BATCH_ROW = -1  # the row_index of a refusal of the batch as a whole (its errors under "_batch")
CUT = "…"  # ends (or, for a path, begins) a value cut to fit where it is recorded
REPLACEMENT = "\ufffd"
# U+0000 (PostgreSQL's text and jsonb refuse it) and lone surrogates (JSON can spell "\ud800",
# no encoding can store it): replaced by U+FFFD, wherever they come from.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
ERROR_FIELDS = 50  # error fields recorded per refused row; the rest are counted under "_row"
ERROR_MESSAGES = 20  # messages recorded per field
ERROR_KEY_CHARS = 200
ERROR_MESSAGE_CHARS = 500


def recordable(text: str, limit: int, *, keep_tail: bool = False) -> str:
    """``text`` as every backend stores it and every client reads it: U+0000 and lone
    surrogates replaced by U+FFFD, and at most ``limit`` characters, a longer text cut with
    ``…`` where it was cut (the end kept instead of the beginning with ``keep_tail``: a path's
    file name says more than its first directories).  Idempotent."""
    if _UNSTORABLE.search(text):
        text = _UNSTORABLE.sub(REPLACEMENT, text)
    if len(text) <= limit:
        return text
    return CUT + text[len(text) - limit + 1:] if keep_tail else text[:limit - 1] + CUT


def recordable_errors(errors: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """A row's errors by field, as a refusal records them: fields and messages ``recordable``
    (an unknown field is named by the provider's own key, a message may quote a value), at
    most ``ERROR_FIELDS`` fields of at most ``ERROR_MESSAGES`` messages, the rest counted."""
    out: dict[str, list[str]] = {}
    items = list(errors.items())
    shown = items if len(items) <= ERROR_FIELDS else items[:ERROR_FIELDS - 1]
    for key, messages in shown:
        listed = list(messages)
        if len(listed) > ERROR_MESSAGES:
            listed = [*listed[:ERROR_MESSAGES - 1], f"另有 {len(listed) - ERROR_MESSAGES + 1} 条错误未列出。"]
        kept = [recordable(str(m), ERROR_MESSAGE_CHARS) for m in listed]
        out.setdefault(recordable(str(key), ERROR_KEY_CHARS), []).extend(kept)
    if len(shown) < len(items):
        out.setdefault("_row", []).append(f"另有 {len(items) - len(shown)} 个字段的错误未列出。")
    return out


# --- results ----------------------------------------------------------------------------


class RowError:
    """A row a reader could not even parse (bad JSON line, bad CSV shape)."""

    def __init__(self, message: str) -> None:
        self.message = message


class JsonLine:
    """One NDJSON line, parsed where it is validated (in a worker process, with ``workers``)."""

    __slots__ = ("line_no", "text")

    def __init__(self, line_no: int, text: str) -> None:
        self.line_no = line_no
        self.text = text

    def __reduce__(self) -> tuple[type[JsonLine], tuple[int, str]]:
        return JsonLine, (self.line_no, self.text)

    def parse(self) -> Any:
        try:
            return json.loads(self.text, parse_float=Decimal)
        except ValueError as exc:
            return RowError(f"第 {self.line_no} 行不是合法的 JSON：{json_error_text(exc)}。")
        except RecursionError:
            return RowError(f"第 {self.line_no} 行的 JSON 嵌套过深。")


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
    reevaluated: int = 0  # firms re-evaluated after the batch (submit_batch)
    analysed: bool = False  # the planner's statistics refreshed after a large load (submit_batch)
    rows: list[RowResult] = field(default_factory=list)
    refusals: list[RowResult] = field(default_factory=list)


