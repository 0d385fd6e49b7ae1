"""Scorecards as data: the three dimensions of the 信用电力指数, their factors, points
functions, grade thresholds, hard caps and supervision classes, loaded from a versioned JSON
file in ``app/scoring/scorecards/`` and checked strictly at load time.

A factor turns the records of some categories into one *measure* (a share of good records,
a weighted count of bad ones, the latest value of a payload field, years in business …) and
the measure into 0–100 points by ``bands`` (the points of the highest band whose ``from``
the measure reaches) or by ``map`` (for a categorical value).  Records older than the
look-back window do not count; with ``half_life_years`` a record's weight halves every so
many years.  Changing a weight or a band means editing the file and bumping ``version``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from app.archive.models import Category
from app.core.errors import flatten_messages, json_error_text
from app.core.schemas_base import JsonBool, StrictSchema, one_of

GRADES = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C")
DIMENSIONS = {"willingness": "守信意愿", "capability": "守信能力", "performance": "守信表现"}
SUPERVISION_CLASSES = ("A", "B", "C", "D")
MEASURES = {
    "good_share": "好记录占比（设有半衰期时按时间衰减加权）",
    "bad_weight": "不良记录加权数（严重程度 × 时间衰减）",
    "count": "记录数（设有半衰期时按时间衰减加权）",
    "latest_value": "最近一条记录的字段值",
    "years_in_business": "成立年限",
    "registered_capital": "注册资本（万元）",
    "consumption_trend": "近 12 个月用电量同比变化（%）",
}
ENTERPRISE_MEASURES = {"years_in_business", "registered_capital"}
WEIGHT_TOLERANCE = 1e-6


class ScorecardError(ValueError):
    """A scorecard file that must not be used; the message names the bad entry."""


class BandSchema(StrictSchema):
    from_ = fields.Float(required=True, data_key="from")
    points = fields.Float(required=True, validate=validate.Range(min=0, max=100, error="分值应为 0–100。"))


class FactorSchema(StrictSchema):
    key = fields.String(required=True, validate=validate.Regexp(r"\A[a-z][a-z0-9_]{1,47}\Z",
                                                                 error="应为小写字母、数字和下划线。"))
    label = fields.String(required=True, validate=validate.Length(min=1, max=60))
    weight = fields.Float(required=True, validate=validate.Range(min=0, max=1, min_inclusive=False,
                                                                 error="权重应在 (0, 1] 内。"))
    measure = fields.String(required=True, validate=one_of(MEASURES))
    categories = fields.List(fields.String(validate=one_of(list(Category))), load_default=list)
    where = fields.Dict(keys=fields.String(), values=fields.List(fields.Raw()), load_default=dict)
    field = fields.String()  # latest_value: the payload field
    bands = fields.List(fields.Nested(BandSchema))
    map = fields.Dict(keys=fields.String(), values=fields.Float(validate=validate.Range(min=0, max=100)))
    missing_points = fields.Float(required=True, validate=validate.Range(min=0, max=100))
    lookback_years = fields.Integer(validate=validate.Range(min=1, max=10))
    half_life_years = fields.Float(validate=validate.Range(min=0.1, max=20))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        measure = data["measure"]
        if measure not in ENTERPRISE_MEASURES and not data["categories"]:
            raise ValidationError({"categories": [f"度量 {measure} 须指定记录类别。"]})
        if measure == "latest_value":
            if not data.get("field"):
                raise ValidationError({"field": ["latest_value 须指定 payload 字段。"]})
            if not data.get("map"):
                raise ValidationError({"map": ["latest_value 须给出取值到分值的映射。"]})
        elif not data.get("bands"):
            raise ValidationError({"bands": [f"度量 {measure} 须给出分段（bands）。"]})
        bands = data.get("bands") or []
        starts = [b["from_"] for b in bands]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise ValidationError({"bands": ["分段起点应严格递增。"]})


class DimensionSchema(StrictSchema):
    key = fields.String(required=True, validate=one_of(DIMENSIONS))
    weight = fields.Float(required=True, validate=validate.Range(min=0, max=1, min_inclusive=False))
    factors = fields.List(fields.Nested(FactorSchema), required=True, validate=validate.Length(min=1))


class GradeSchema(StrictSchema):
    grade = fields.String(required=True, validate=one_of(GRADES))
    min_score = fields.Float(required=True, validate=validate.Range(min=0, max=100))


class CapSchema(StrictSchema):
    key = fields.String(required=True)
    label = fields.String(required=True)
    max_grade = fields.String(required=True, validate=one_of(GRADES))
    on_list = fields.String(validate=one_of(("black", "watch")))
    categories = fields.List(fields.String(validate=one_of(list(Category))), load_default=list)
    min_severity = fields.Integer(validate=validate.Range(min=0, max=3))
    where = fields.Dict(keys=fields.String(), values=fields.List(fields.Raw()), load_default=dict)
    within_years = fields.Integer(validate=validate.Range(min=1, max=10))
    latest_only = JsonBool(load_default=False)

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("on_list") and not data["categories"]:
            raise ValidationError({"categories": ["封顶规则须指定名单或记录类别。"]})


class ScorecardSchema(StrictSchema):
    id = fields.String(required=True, validate=validate.Regexp(r"\A[a-z0-9][a-z0-9.-]{1,63}\Z",
                                                                error="应为 2–64 位小写字母、数字、点或连字符。"))
    version = fields.String(required=True, validate=validate.Regexp(r"\A\d+(\.\d+){0,2}\Z",
                                                                     error="版本号应为 1、1.2 或 1.2.3 形式。"))
    name = fields.String(required=True)
    description = fields.String(load_default="")
    lookback_years = fields.Integer(required=True, validate=validate.Range(min=1, max=10))
    dimensions = fields.List(fields.Nested(DimensionSchema), required=True)
    grades = fields.List(fields.Nested(GradeSchema), required=True)
    caps = fields.List(fields.Nested(CapSchema), load_default=list)
    supervision = fields.Dict(keys=fields.String(validate=one_of(SUPERVISION_CLASSES)),
                              values=fields.List(fields.String(validate=one_of(GRADES))), required=True)

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, Any] = {}
        dims = data["dimensions"]
        if sorted(d["key"] for d in dims) != sorted(DIMENSIONS):
            errors["dimensions"] = ["须且只须包含 willingness、capability、performance 三个维度。"]
        if abs(sum(d["weight"] for d in dims) - 1) > WEIGHT_TOLERANCE:
            errors["dimensions"] = [f"维度权重之和应为 1，实为 {sum(d['weight'] for d in dims):g}。"]
        seen: set[str] = set()
        for i, dim in enumerate(dims):
            total = sum(f["weight"] for f in dim["factors"])
            if abs(total - 1) > WEIGHT_TOLERANCE:
                errors[f"dimensions[{i}].factors"] = [f"维度 {dim['key']} 的因子权重之和应为 1，实为 {total:g}。"]
            for j, factor in enumerate(dim["factors"]):
                if factor["key"] in seen:
                    errors[f"dimensions[{i}].factors[{j}].key"] = [f"因子 {factor['key']} 重复。"]
                seen.add(factor["key"])
        grades = data["grades"]
        if [g["grade"] for g in grades] != list(GRADES):
            errors["grades"] = ["应按 " + "、".join(GRADES) + " 的顺序各列一次。"]
        elif any(a["min_score"] <= b["min_score"] for a, b in zip(grades, grades[1:], strict=False)):
            errors["grades"] = ["各级最低分应严格递减。"]
        elif grades[-1]["min_score"] != 0:
            errors["grades"] = ["最低一级（C）的最低分应为 0。"]
        assigned = [g for members in data["supervision"].values() for g in members]
        if sorted(assigned) != sorted(GRADES):
            errors["supervision"] = ["每个等级应恰好归入一个监管类别。"]
        if errors:
            raise ValidationError(errors)


@dataclass(frozen=True)
class Band:
    start: float
    points: float


@dataclass(frozen=True)
class Factor:
    key: str
    label: str
    dimension: str
    weight: float
    measure: str
    categories: tuple[str, ...]
    where: dict[str, tuple[Any, ...]]
    field: str | None
    bands: tuple[Band, ...]
    map: dict[str, float]
    missing_points: float
    lookback_years: int
    half_life_years: float | None
    reason: str

    def points_for(self, value: float | str | None) -> float:
        """Points for a measured value: ``map`` for categorical values, else the highest band
        whose start the value reaches (below the first band: that band's points)."""
        if value is None:
            return self.missing_points
        if self.map:
            return self.map.get(str(value), self.missing_points)
        assert isinstance(value, int | float)
        points = self.bands[0].points
        for band in self.bands:
            if value >= band.start:
                points = band.points
            else:
                break
        return points


@dataclass(frozen=True)
class Cap:
    key: str
    label: str
    max_grade: str
    on_list: str | None
    categories: tuple[str, ...]
    min_severity: int | None
    where: dict[str, tuple[Any, ...]]
    within_years: int | None
    latest_only: bool


@dataclass(frozen=True)
class Scorecard:
    id: str
    version: str
    name: str
    lookback_years: int
    dimension_weights: dict[str, float]
    factors: tuple[Factor, ...]
    thresholds: tuple[tuple[str, float], ...]
    caps: tuple[Cap, ...]
    supervision: dict[str, str]  # grade -> class
    digest_source: str  # the canonical JSON it was built from
    description: str = ""

    def grade_for(self, score: float) -> str:
        for grade, minimum in self.thresholds:
            if score >= minimum:
                return grade
        return GRADES[-1]

    @staticmethod
    def worse(a: str, b: str) -> str:
        return a if GRADES.index(a) >= GRADES.index(b) else b

    def payload_categories(self) -> set[str]:
        """Categories whose payload fields the scorecard reads (the rest need no payload)."""
        cats = {c for f in self.factors if f.where or f.field or f.measure == "consumption_trend"
                for c in f.categories}
        return cats | {c for cap in self.caps if cap.where for c in cap.categories}

    def categories(self) -> set[str]:
        cats = {c for f in self.factors for c in f.categories}
        return cats | {c for cap in self.caps for c in cap.categories}


def parse_scorecard(raw: Any, source: str = "scorecard") -> Scorecard:
    """Build a scorecard from its JSON data; ``ScorecardError`` names every bad entry."""
    try:
        data = ScorecardSchema().load(raw)
    except ValidationError as exc:
        problems = "；".join(f"{path}: {'，'.join(msgs)}" for path, msgs in flatten_messages(exc.messages).items())
        raise ScorecardError(f"评分卡 {source} 无效：{problems}") from exc
    factors = tuple(
        Factor(
            key=f["key"], label=f["label"], dimension=dim["key"], weight=f["weight"], measure=f["measure"],
            categories=tuple(f["categories"]), where={k: tuple(v) for k, v in f["where"].items()},
            field=f.get("field"), bands=tuple(Band(b["from_"], b["points"]) for b in f.get("bands") or ()),
            map=dict(f.get("map") or {}), missing_points=f["missing_points"],
            lookback_years=f.get("lookback_years", data["lookback_years"]),
            half_life_years=f.get("half_life_years"), reason=f["reason"],
        )
        for dim in data["dimensions"] for f in dim["factors"]
    )
    caps = tuple(
        Cap(key=c["key"], label=c["label"], max_grade=c["max_grade"], on_list=c.get("on_list"),
            categories=tuple(c["categories"]), min_severity=c.get("min_severity"),
            where={k: tuple(v) for k, v in c["where"].items()}, within_years=c.get("within_years"),
            latest_only=c["latest_only"])
        for c in data["caps"]
    )
    return Scorecard(
        id=data["id"], version=data["version"], name=data["name"], lookback_years=data["lookback_years"],
        dimension_weights={d["key"]: d["weight"] for d in data["dimensions"]}, factors=factors,
        thresholds=tuple((g["grade"], g["min_score"]) for g in data["grades"]), caps=caps,
        supervision={grade: cls for cls, members in data["supervision"].items() for grade in members},
        digest_source=json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
        description=data["description"],
    )


def load_scorecard(path: Path | None = None, name: str = "power-v1.json") -> Scorecard:
    """The scorecard at ``path``, or the bundled one called ``name``."""
    if path is None:
        text = resources.files("app.scoring").joinpath("scorecards", name).read_text("utf-8")
        source = name
    else:
        text, source = path.read_text("utf-8"), str(path)
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ScorecardError(f"评分卡 {source} 不是合法的 JSON：{json_error_text(exc)}") from exc
    return parse_scorecard(raw, source)


def bundled_scorecards() -> list[Scorecard]:
    """Every scorecard shipped in ``app/scoring/scorecards/``, by version."""
    folder = resources.files("app.scoring").joinpath("scorecards")
    cards = [load_scorecard(name=entry.name) for entry in folder.iterdir() if entry.name.endswith(".json")]
    return sorted(cards, key=lambda c: tuple(int(p) for p in c.version.split(".")))
