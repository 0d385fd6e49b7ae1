"""What ingestion answers for each row and for the batch."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.core.errors import json_error_text

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


