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

import functools
import json
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from importlib import resources
from pathlib import Path
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from app.archive.models import Category
from app.core.errors import flatten_messages, json_error_text
from app.core.schemas_base import JsonBool, StrictSchema, one_of

GRADES = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C")
FIVE_GRADES = ("AAA", "AA", "A", "B", "C")  # regional practice (Anhui, Hunan)
NOT_RATED = "NR"  # 不予评级（信息不足）
NOT_RATED_LABEL = "不予评级（信息不足）"
GRADE_LABELS = {
    "AAA": "信用极好", "AA": "信用优良", "A": "信用较好", "BBB": "信用一般", "BB": "信用欠佳",
    "B": "信用较差", "CCC": "信用很差", "CC": "信用极差", "C": "信用缺失", NOT_RATED: "信息不足",
}
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
    "timeliness": "按期履约程度（按金额加权，逾期按天数折减；设有半衰期时按时间衰减）",
    "paid_in_capital": "实缴资本（万元；实缴未知时按认缴资本折算）",
}
ENTERPRISE_MEASURES = {"years_in_business", "registered_capital", "paid_in_capital"}
TIMELY_CATEGORIES = {"utility", "contract", "loan"}
SEGMENTS = ("generation", "grid", "construction", "supplier", "retail", "consumer", "integrated")
SCALES = {"nine": GRADES, "five": FIVE_GRADES}
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
    # count: only records valid on the evaluation day (payload valid_from ≤ day ≤ valid_to);
    # the look-back does not apply (a licence granted long ago and still valid counts)
    valid_on_day = JsonBool(load_default=False)
    # count: each record weighs weight_map[payload[weight_field]] (weight_default otherwise)
    weight_field = fields.String()
    weight_map = fields.Dict(keys=fields.String(), values=fields.Float(validate=validate.Range(min=0, max=100)))
    weight_default = fields.Float(load_default=1.0, validate=validate.Range(min=0, max=100))
    # count: records with the same values of these payload fields count once
    distinct_by = fields.List(fields.String(), load_default=list)
    # timeliness: days late at which a record counts as wholly missed
    full_penalty_days = fields.Integer(load_default=90, validate=validate.Range(min=1, max=3650))
    # paid_in_capital: the share of subscribed capital counted where paid-in is unknown
    # (absent: unknown)
    subscribed_ratio = fields.Float(validate=validate.Range(min=0, max=1))
    # consumption_trend: months with a bill needed in each of the two years compared
    min_months = fields.Integer(load_default=0, validate=validate.Range(min=0, max=12))

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        measure = data["measure"]
        if measure == "timeliness" and not set(data["categories"]) <= TIMELY_CATEGORIES:
            raise ValidationError({"categories": ["timeliness 只适用于 " + "、".join(sorted(TIMELY_CATEGORIES)) + "。"]})
        if (data.get("valid_on_day") or data.get("weight_field") or data["distinct_by"]) and measure != "count":
            raise ValidationError({"measure": ["valid_on_day、weight_field、distinct_by 只用于 count 度量。"]})
        if bool(data.get("weight_field")) != bool(data.get("weight_map")):
            raise ValidationError({"weight_map": ["weight_field 与 weight_map 须同时给出。"]})
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
    # payload numbers at least these values (overdue_days ≥ 90, fine_amount ≥ 100 万元 …)
    at_least = fields.Dict(keys=fields.String(), values=fields.Float(), load_default=dict)
    # payload fields that must be absent or empty (a write-off not settled: settled_on)
    absent = fields.List(fields.String(), load_default=list)
    # the latest this many records of the categories all match (three bills in arrears running)
    min_streak = fields.Integer(validate=validate.Range(min=1, max=36))

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("on_list") and not data["categories"]:
            raise ValidationError({"categories": ["封顶规则须指定名单或记录类别。"]})
        if data.get("min_streak") and data.get("latest_only"):
            raise ValidationError({"min_streak": ["min_streak 与 latest_only 不能同时使用。"]})


class DefaultDefinitionSchema(StrictSchema):
    days_past_due = fields.Integer(load_default=90, validate=validate.Range(min=1, max=360))
    written_off = JsonBool(load_default=True)
    horizon_months = fields.Integer(load_default=12, validate=validate.Range(min=1, max=60))
    label = fields.String(load_default="逾期 90 天及以上或核销")


class EvidenceSchema(StrictSchema):
    """The minimum evidence for a grade; below it the outcome is NR (不予评级，信息不足)."""

    min_known_factors = fields.Integer(required=True, validate=validate.Range(min=1, max=50))
    min_coverage = fields.Float(required=True, validate=validate.Range(min=0, max=1))
    min_history_months = fields.Integer(required=True, validate=validate.Range(min=0, max=120))


class SegmentOverrideSchema(StrictSchema):
    label = fields.String()
    dimension_weights = fields.Dict(keys=fields.String(validate=one_of(DIMENSIONS)),
                                    values=fields.Float(validate=validate.Range(min=0, max=1)))
    factor_weights = fields.Dict(keys=fields.String(), values=fields.Float(validate=validate.Range(min=0, max=1)))
    grades = fields.List(fields.Nested(GradeSchema))


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
    # the event the grade predicts, for back-testing (``powercredit scorecard validate``)
    default_definition = fields.Nested(DefaultDefinitionSchema, load_default=lambda: DefaultDefinitionSchema().load({}))
    # coverage and 不予评级: present → a factor counts only where a source covers it
    evidence = fields.Nested(EvidenceSchema)
    serves = fields.List(fields.String(validate=one_of(SEGMENTS)), validate=validate.Length(min=1),
                         load_default=lambda: list(SEGMENTS))
    segments = fields.Dict(keys=fields.String(validate=one_of(SEGMENTS)), values=fields.Nested(SegmentOverrideSchema),
                           load_default=dict)

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
        scale = tuple(g["grade"] for g in data["grades"])
        problem = _grade_problem(data["grades"])
        if problem:
            errors["grades"] = [problem]
        assigned = [g for members in data["supervision"].values() for g in members]
        if sorted(assigned) != sorted(scale):
            errors["supervision"] = ["每个等级应恰好归入一个监管类别。"]
        for cap_index, cap in enumerate(data["caps"]):
            if cap["max_grade"] not in scale:
                errors[f"caps[{cap_index}].max_grade"] = [f"{cap['max_grade']} 不在本评分卡的等级序列中。"]
        factor_dims = {f["key"]: d["key"] for d in dims for f in d["factors"]}
        for seg, override in data["segments"].items():
            if seg not in data["serves"]:
                errors[f"segments.{seg}"] = ["本评分卡不适用于该板块（serves 中没有）。"]
            dim_weights = {d["key"]: d["weight"] for d in dims} | override.get("dimension_weights", {})
            if abs(sum(dim_weights.values()) - 1) > WEIGHT_TOLERANCE:
                errors[f"segments.{seg}.dimension_weights"] = ["维度权重之和应为 1。"]
            unknown = sorted(set(override.get("factor_weights", {})) - set(factor_dims))
            if unknown:
                errors[f"segments.{seg}.factor_weights"] = [f"未知因子：{', '.join(unknown)}"]
                continue
            for dim in dims:
                total = sum(override.get("factor_weights", {}).get(f["key"], f["weight"]) for f in dim["factors"])
                if abs(total - 1) > WEIGHT_TOLERANCE:
                    errors[f"segments.{seg}.factor_weights"] = [f"维度 {dim['key']} 的因子权重之和应为 1，实为 {total:g}。"]
            if "grades" in override:
                seg_scale = tuple(g["grade"] for g in override["grades"])
                problem = _grade_problem(override["grades"]) or (
                    None if seg_scale == scale else "板块等级序列应与评分卡一致。")
                if problem:
                    errors[f"segments.{seg}.grades"] = [problem]
        if errors:
            raise ValidationError(errors)


def _grade_problem(grades: list[dict[str, Any]]) -> str | None:
    scale = tuple(g["grade"] for g in grades)
    if scale not in SCALES.values():
        return "应按 " + "、".join(GRADES) + "（九级）或 " + "、".join(FIVE_GRADES) + "（五级）的顺序各列一次。"
    if any(a["min_score"] <= b["min_score"] for a, b in zip(grades, grades[1:], strict=False)):
        return "各级最低分应严格递减。"
    if grades[-1]["min_score"] != 0:
        return "最低一级（C）的最低分应为 0。"
    return None


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
    valid_on_day: bool = False
    weight_field: str | None = None
    weight_map: dict[str, float] = dc_field(default_factory=dict)
    weight_default: float = 1.0
    distinct_by: tuple[str, ...] = ()
    full_penalty_days: int = 90
    subscribed_ratio: float | None = None
    min_months: int = 0

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
    at_least: dict[str, float] = dc_field(default_factory=dict)
    absent: tuple[str, ...] = ()
    min_streak: int | None = None

    @property
    def reads_payload(self) -> bool:
        return bool(self.where or self.at_least or self.absent)


@dataclass(frozen=True)
class Evidence:
    min_known_factors: int
    min_coverage: float
    min_history_months: int


@dataclass(frozen=True)
class DefaultDefinition:
    """A default: a loan ``days_past_due`` or more days overdue, or written off, within
    ``horizon_months`` after the evaluation."""

    days_past_due: int = 90
    written_off: bool = True
    horizon_months: int = 12
    label: str = "逾期 90 天及以上或核销"


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
    default_definition: DefaultDefinition = DefaultDefinition()
    evidence: Evidence | None = None  # coverage, renormalisation and NR (power-v2 on)
    serves: tuple[str, ...] = SEGMENTS
    variants: dict[str, Scorecard] = dc_field(default_factory=dict)  # per-segment weights/thresholds
    segment: str | None = None  # set on a variant: the segment it is for

    @property
    def scale(self) -> tuple[str, ...]:
        return tuple(g for g, _ in self.thresholds)

    def for_segment(self, segment: str) -> Scorecard:
        """The scorecard as it applies to a firm of ``segment`` (its own weights and grade
        lines where the file gives them)."""
        return self.variants.get(segment, self)

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
        cats = {c for f in self.factors
                if f.where or f.field or f.measure in ("consumption_trend", "timeliness")
                or f.valid_on_day or f.weight_field or f.distinct_by
                for c in f.categories}
        cats |= {c for cap in self.caps if cap.reads_payload for c in cap.categories}
        if self.evidence is not None:  # a loan's status counts from its 数据日期 (reported_on)
            cats |= {"loan"} & self.categories()
        return cats

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
            half_life_years=f.get("half_life_years"), reason=f["reason"], valid_on_day=f["valid_on_day"],
            weight_field=f.get("weight_field"), weight_map=dict(f.get("weight_map") or {}),
            weight_default=f["weight_default"], distinct_by=tuple(f["distinct_by"]),
            full_penalty_days=f["full_penalty_days"], subscribed_ratio=f.get("subscribed_ratio"),
            min_months=f["min_months"],
        )
        for dim in data["dimensions"] for f in dim["factors"]
    )
    caps = tuple(
        Cap(key=c["key"], label=c["label"], max_grade=c["max_grade"], on_list=c.get("on_list"),
            categories=tuple(c["categories"]), min_severity=c.get("min_severity"),
            where={k: tuple(v) for k, v in c["where"].items()}, within_years=c.get("within_years"),
            latest_only=c["latest_only"], at_least=dict(c["at_least"]), absent=tuple(c["absent"]),
            min_streak=c.get("min_streak"))
        for c in data["caps"]
    )
    card = Scorecard(
        id=data["id"], version=data["version"], name=data["name"], lookback_years=data["lookback_years"],
        dimension_weights={d["key"]: d["weight"] for d in data["dimensions"]}, factors=factors,
        thresholds=tuple((g["grade"], g["min_score"]) for g in data["grades"]), caps=caps,
        supervision={grade: cls for cls, members in data["supervision"].items() for grade in members},
        digest_source=json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
        description=data["description"], default_definition=DefaultDefinition(**data["default_definition"]),
        evidence=Evidence(**data["evidence"]) if data.get("evidence") else None, serves=tuple(data["serves"]),
    )
    variants = {}
    for seg, override in data["segments"].items():
        weights = override.get("factor_weights", {})
        variants[seg] = replace(
            card, segment=seg,
            dimension_weights=card.dimension_weights | override.get("dimension_weights", {}),
            factors=tuple(replace(f, weight=weights.get(f.key, f.weight)) for f in factors),
            thresholds=tuple((g["grade"], g["min_score"]) for g in override["grades"])
            if "grades" in override else card.thresholds,
        )
    object.__setattr__(card, "variants", variants)
    return card


PROJECT_SCORECARDS = Path(__file__).resolve().parent / "scorecards"  # bundled; regional/ holds examples


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


@functools.cache
def _bundled_by_version() -> dict[str, Scorecard]:
    return {c.version: c for c in bundled_scorecards()}


def scorecard_by_version(version: str) -> Scorecard:
    """A bundled scorecard by its version (read once); ``ScorecardNotFound`` for another."""
    from app.scoring.errors import ScorecardNotFound

    card = _bundled_by_version().get(version)
    if card is None:
        raise ScorecardNotFound(f"没有版本为 {version} 的评分卡")
    return card
