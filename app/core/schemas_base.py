"""Shared marshmallow building blocks: strict base schema, Chinese messages, typed fields.

Bodies refuse unknown fields; numbers are never silently truncated; dates in the past are
checked against today in China Standard Time.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from app.core import clock

# Chinese default messages for the field types we use (user-facing text is Chinese).
fields.Field.default_error_messages.update(
    {"required": "缺少必填字段。", "null": "不能为空值。", "validator_failed": "取值无效。"}
)
fields.String.default_error_messages.update({"invalid": "应为字符串。"})
fields.Date.default_error_messages.update({"invalid": "应为 YYYY-MM-DD 格式的日期。"})
fields.DateTime.default_error_messages.update({"invalid": "应为日期时间，例如 2026-12-31T18:00:00+08:00。"})
fields.Boolean.default_error_messages.update({"invalid": "应为布尔值 true 或 false。"})
fields.List.default_error_messages.update({"invalid": "应为列表。"})
fields.Dict.default_error_messages.update({"invalid": "应为对象。"})
fields.Integer.default_error_messages.update({"invalid": "应为整数。"})
fields.Nested.default_error_messages.update({"type": "应为对象。"})
fields.Number.default_error_messages.update({"invalid": "应为数字。", "too_large": "数值过大。"})
fields.Decimal.default_error_messages.update({"special": "应为有限的数字。"})
fields.Email.default_error_messages.update({"invalid": "应为有效的电子邮件地址。"})
fields.URL.default_error_messages.update({"invalid": "应为有效的网址。"})
# The validators' own defaults (a validator given its own ``error`` keeps it).
validate.Length.message_min = "长度至少为 {min}。"
validate.Length.message_max = "长度至多为 {max}。"
validate.Length.message_all = "长度应在 {min} 到 {max} 之间。"
validate.Length.message_equal = "长度应为 {equal}。"
validate.Range.message_min = "应{min_op} {{min}}。"
validate.Range.message_max = "应{max_op} {{max}}。"
validate.Range.message_all = "应{min_op} {{min}} 且{max_op} {{max}}。"
validate.Range.message_gte = "不小于"
validate.Range.message_gt = "大于"
validate.Range.message_lte = "不大于"
validate.Range.message_lt = "小于"
validate.OneOf.default_message = "应为以下取值之一：{choices}。"
validate.Regexp.default_message = "格式不正确。"


class StrictSchema(Schema):
    """Refuses unknown fields, with a Chinese message."""

    class Meta:
        unknown = RAISE

    error_messages = {"unknown": "未知字段。", "type": "应为 JSON 对象。"}


def one_of(choices: Any) -> validate.OneOf:
    values = [str(c) for c in choices]
    return validate.OneOf(values, error="取值应为以下之一：" + "、".join(values) + "。")


# Bidirectional overrides and isolates: they make a text display differently from what it
# says (a signatory's title shown reversed), and no credit record needs them.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def no_nul(value: str) -> None:
    """Text every database can store: no U+0000 (PostgreSQL refuses it) and no lone
    surrogates (JSON can spell them, "\\ud800", but no encoding can store them); and no
    bidirectional controls."""
    if "\x00" in value:
        raise ValidationError("不能包含空字符（U+0000）。")
    if not _BIDI_CONTROLS.isdisjoint(value):
        raise ValidationError("不能包含双向文本控制字符（如 U+202E）。")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError("含有无法编码的字符（孤立的 UTF-16 代理项）。") from exc


def visible(value: str) -> None:
    """At least one character that shows: not only spaces, zero-width or other format
    characters (a signatory of two U+200B is no signatory)."""
    if all(unicodedata.category(c)[0] in "CZ" for c in value):
        raise ValidationError("不能只有空白或不可见字符。")


def text(max_len: int, *, required: bool = True, **kw: Any) -> fields.String:
    return fields.String(
        required=required,
        validate=[validate.Length(min=1, max=max_len, error=f"长度应为 1–{max_len} 个字符。"), no_nul, visible],
        **kw,
    )


# The range of a BIGINT (SQLite's INTEGER, PostgreSQL's int8): beyond it no id or count exists,
# and the drivers raise OverflowError rather than find nothing.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class Int(fields.Integer):
    """An integer: JSON integers or (for CSV) ASCII digit strings; never floats or booleans,
    never beyond a BIGINT."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,25}", value.strip()):
            value = int(value.strip())
        if not isinstance(value, int):
            raise self.make_error("invalid")
        if not INT64_MIN <= value <= INT64_MAX:
            raise self.make_error("too_large")
        return value


# Larger than any real amount (¥100 trillion) and safely inside a BIGINT of fen.
MAX_AMOUNT = Decimal(10) ** 14


_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")  # ASCII digits only (not ０-９ or other scripts')


class Amount(fields.Field):
    """A non-negative amount with at most ``places`` decimals, as ``Decimal``.

    Accepts JSON numbers (parsed as Decimal, never float; ``1e3`` is kept as ``1000``) and
    numeric strings in plain notation (``"1000.50"``; not ``"1e3"``, ``"1,000"`` or ``"1000元"``).
    """

    def __init__(self, *, places: int = 2, positive: bool = False, fixed: bool = False, **kw: Any) -> None:
        """``fixed``: always ``places`` decimals (``"100000"`` → ``100000.00``), as a money
        column stores and every later read gives it (not for record payloads, whose
        canonical form keeps what the provider sent)."""
        super().__init__(**kw)
        self.places = places
        self.positive = positive
        self.fixed = fixed

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise ValidationError("应为数字金额。")
        if isinstance(value, str) and not _PLAIN_NUMBER.fullmatch(value.strip()):
            raise ValidationError("应为数字金额，用普通数字写法（如 1000 或 1000.50），不接受科学计数法、千分位、空格或单位。")
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValidationError("应为数字金额。") from exc
        if not amount.is_finite():
            raise ValidationError("应为有限数字。")
        if amount < 0:
            raise ValidationError("金额不能为负数。")
        if self.positive and amount == 0:
            raise ValidationError("金额应大于 0。")
        if amount >= MAX_AMOUNT:
            raise ValidationError("金额过大（应小于 10^14）。")
        try:
            exact = amount == amount.quantize(Decimal(1).scaleb(-self.places))
        except InvalidOperation:
            exact = False
        if not exact:
            raise ValidationError(f"最多 {self.places} 位小数。")
        if self.fixed:
            amount = amount.quantize(Decimal(1).scaleb(-self.places))
        elif amount.as_tuple().exponent > 0:  # type: ignore[operator]  # a JSON number such as 1e3: kept as 1000
            amount = amount.quantize(Decimal(1))
        return amount.copy_abs() if amount == 0 else amount  # "-0" is 0

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(value)


class Day(fields.Date):
    """A calendar date no earlier than 1949 (due dates and validity ends may lie ahead)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.date:
        day = super()._deserialize(value, attr, data, **kwargs)
        if day.year < 1949:
            raise ValidationError("日期早于 1949 年，不可能。")
        return day


class PastDate(fields.Date):
    """A date that has already happened (today counts)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.date:
        day = super()._deserialize(value, attr, data, **kwargs)
        if day > clock.today():
            raise ValidationError(f"日期 {day.isoformat()} 晚于今天，不能是未来日期。")
        if day.year < 1949:
            raise ValidationError("日期早于 1949 年，不可能。")
        return day


class Moment(fields.DateTime):
    """An ISO 8601 date-time; without an offset it is Beijing time.  A bare date means the
    end of that day (Beijing time)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.datetime:
        if isinstance(value, str) and len(value.strip()) == 10:
            try:
                day = dt.date.fromisoformat(value.strip())
            except ValueError as exc:
                raise ValidationError("应为 ISO 8601 日期或日期时间。") from exc
            return dt.datetime.combine(day, dt.time(23, 59, 59), clock.BEIJING).astimezone(dt.UTC)
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=clock.BEIJING)
        if not 1949 <= moment.year <= 9000:
            raise ValidationError("时间超出合理范围。")
        try:
            return moment.astimezone(dt.UTC)
        except OverflowError as exc:
            raise ValidationError("时间超出合理范围。") from exc


class Month(fields.String):
    """``YYYY-MM``, not in the future; loads to the first day of that month.  The month's
    first day, ``YYYY-MM-01``, is accepted too: it is how the archive stores and serves a
    month, so a record read back can be sent again (a correction) as it is."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.date:  # type: ignore[override]
        raw = super()._deserialize(value, attr, data, **kwargs)
        m = re.fullmatch(r"(\d{4})-(\d{2})(?:-01)?", raw.strip())
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise ValidationError("应为 YYYY-MM 格式的月份（或该月 1 日，YYYY-MM-01）。")
        day = dt.date(int(m.group(1)), int(m.group(2)), 1)
        if day > clock.today().replace(day=1):
            raise ValidationError(f"月份 {raw} 晚于本月，不能是未来月份。")
        if day.year < 1949:
            raise ValidationError("月份早于 1949 年，不可能。")
        return day

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else value.strftime("%Y-%m")


class StrList(fields.List):
    """A list of strings; CSV cells give them separated by ``;`` or ``|``."""

    def __init__(self, inner: fields.Field, **kw: Any) -> None:
        super().__init__(inner, **kw)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[Any]:
        if isinstance(value, str):
            value = [v.strip() for v in re.split(r"[;|；]", value) if v.strip()]
        return super()._deserialize(value, attr, data, **kwargs)


class KeyedDict(fields.Dict):
    """A ``Dict`` whose errors are named as the body names them: a bad key as
    ``grade_terms.ZZ``, a bad value's field as ``grade_terms.AA.rate_discount`` (not
    marshmallow's ``grade_terms.ZZ.key`` / ``grade_terms.AA.value.rate_discount``)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[Any, Any]:
        try:
            return super()._deserialize(value, attr, data, **kwargs)  # type: ignore[no-any-return]
        except ValidationError as exc:
            if not isinstance(exc.messages, dict):
                raise
            messages: dict[Any, Any] = {}
            for key, parts in exc.messages.items():
                if not isinstance(parts, dict):
                    messages[key] = parts
                    continue
                if "key" in parts:
                    messages[key] = list(parts["key"])
                if "value" in parts:
                    inner = parts["value"]
                    if key in messages:  # both: the key's messages beside the value's
                        inner = ({**inner, "_schema": messages[key] + list(inner.get("_schema", []))}
                                 if isinstance(inner, dict) else messages[key] + list(inner))
                    messages[key] = inner
            raise ValidationError(messages, valid_data=exc.valid_data) from exc


class JsonBool(fields.Boolean):
    """A JSON body's boolean: ``true`` or ``false`` only (not ``"yes"``, ``1`` or ``"false"``)."""

    truthy = {True}
    falsy = {False}
    default_error_messages = {"invalid": "应为 true 或 false。"}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if value is not True and value is not False:  # 1 == True and hash(1) == hash(True): sets would take it
            raise self.make_error("invalid")
        return value


class Flag(fields.Boolean):
    truthy = {True, "true", "True", "TRUE", "1", "是", "yes"}
    falsy = {False, "false", "False", "FALSE", "0", "否", "no"}


class PageArgs(StrictSchema):
    """Query-string pagination shared by every list endpoint."""

    page = Int(load_default=1, validate=validate.Range(min=1, max=1_000_000, error="页码应为 1–1000000。"))
    per_page = Int(
        load_default=20, validate=validate.Range(min=1, max=100, error="每页条数应为 1–100。")
    )


class With:
    """An object seen with extra attributes by an output schema (a record with its files,
    an entry with its events), without setting them on the ORM instance."""

    def __init__(self, obj: Any, **extra: Any) -> None:
        self._obj = obj
        self.__dict__.update(extra)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._obj, name)
