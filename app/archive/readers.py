"""Streaming readers for provider files: CSV, JSON (an array) and NDJSON.

Rows are yielded one at a time (never the whole file in memory); a row that cannot be
parsed becomes a ``RowError`` so the ingestion report names it instead of dropping it.
CSV: the envelope columns ``provider_ref, uscc, category, ended_on``; every other column
is a payload field (empty cells are left out; list fields separate values with ``;``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import ijson

from app.archive.ingestion_results import JsonLine, RowError

ENVELOPE_COLUMNS = ("provider_ref", "uscc", "category", "ended_on")
FORMATS = ("csv", "json", "ndjson")


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "ndjson"):
        return "ndjson"
    if suffix in FORMATS:
        return suffix
    raise ValueError(f"无法从扩展名 .{suffix} 判断文件格式，请用 --format 指定 csv、json 或 ndjson")


def iter_csv(fh: IO[str], *, envelope: bool = True) -> Iterator[Any]:
    reader = csv.reader(fh)
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(reader)]
    except StopIteration:
        return
    dupes = {h for h in header if header.count(h) > 1}
    if dupes:
        raise ValueError(f"CSV 表头有重复列：{', '.join(sorted(dupes))}")
    for line_no, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            yield RowError(f"第 {line_no} 行有 {len(cells)} 列，表头为 {len(header)} 列")
            continue
        row = {h: c.strip() for h, c in zip(header, cells, strict=True) if c.strip() != ""}
        if not envelope:
            yield row
            continue
        out: dict[str, Any] = {k: row.pop(k) for k in ENVELOPE_COLUMNS if k in row}
        out["payload"] = row
        yield out


def iter_ndjson(fh: IO[str], *, lazy: bool = False) -> Iterator[Any]:
    """Parsed lines; with ``lazy``, ``JsonLine``s that ingestion parses where it validates."""
    for line_no, line in enumerate(fh, start=1):
        if not line.strip():
            continue
        raw = JsonLine(line_no, line.rstrip("\n"))
        yield raw if lazy else raw.parse()


def iter_json_array(fh: IO[bytes]) -> Iterator[Any]:
    try:
        yield from ijson.items(fh, "item", use_float=False)
    except ijson.JSONError as exc:
        yield RowError(f"JSON 文件格式错误，自此处起无法继续解析（解析器信息：{exc}）")


def iter_file(path: Path, fmt: str | None = None, *, envelope: bool = True, lazy: bool = False) -> Iterator[Any]:
    fmt = fmt or detect_format(path)
    if fmt == "json":
        with path.open("rb") as fh:
            yield from iter_json_array(fh)
    elif fmt == "ndjson":
        with path.open("r", encoding="utf-8-sig") as fh:
            yield from iter_ndjson(fh, lazy=lazy)
    elif fmt == "csv":
        with path.open("r", encoding="utf-8-sig", newline="") as fh:
            yield from iter_csv(fh, envelope=envelope)
    else:
        raise ValueError(f"不支持的格式 {fmt}")


def iter_stream(fh: IO[bytes], fmt: str, *, envelope: bool = True, lazy: bool = False) -> Iterator[Any]:
    """The same, from an open binary stream (stdin, a pipe)."""
    if fmt == "json":
        yield from iter_json_array(fh)
    else:
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="" if fmt == "csv" else None)
        yield from (iter_csv(text, envelope=envelope) if fmt == "csv" else iter_ndjson(text, lazy=lazy))
