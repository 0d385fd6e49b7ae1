"""Archive schemas: what comes in (registrations, record envelopes) and what goes out.

Output schemas whitelist their fields: the public enterprise view carries registration
facts only; personal fields appear only in the detail view for operators and the firm.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from app.archive.categories import UsccField
from app.archive.models import (
    Category,
    EnterpriseStatus,
    Polarity,
    RecordStatus,
    RelationKind,
    Segment,
)
from app.archive.regions import describe_region
from app.core.pagination import PageMetaSchema, PageSchema, page_of
from app.core.schemas_base import Amount, Day, Int, PageArgs, PastDate, StrictSchema, one_of, text

ID_NUMBER = r"^\d{17}[\dX]$"
PHONE = r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$"


class EnterpriseInSchema(StrictSchema):
    """A registration (operator API, enterprise import)."""

    uscc = fields.String(required=True)  # checked by the service (legacy allow-list rules)
    name = text(200)
    segment = fields.String(required=True, validate=one_of(list(Segment)))
    registered_capital = Amount()
    paid_in_capital = Amount()  # 实缴资本
    founded_on = PastDate()
    status = fields.String(load_default="active", validate=one_of(list(EnterpriseStatus)))
    address = text(300, required=False)
    legal_rep_name = text(50, required=False)
    legal_rep_id = fields.String(
        validate=validate.Regexp(ID_NUMBER, error="法定代表人身份证号应为 18 位。")
    )
    contact_phone = fields.String(validate=validate.Regexp(PHONE, error="联系电话格式不正确。"))


PROVIDER_REF_CHARS = 128  # credit_record.provider_ref (and ingestion_refusal.provider_ref)
PROVIDER_REF_PATTERN = r"\A[A-Za-z0-9._:/\-]{1,128}\Z"
_PROVIDER_REF = re.compile(PROVIDER_REF_PATTERN)


def check_provider_ref(value: str) -> None:
    """1–128 ASCII letters, digits or ``._:/-``; a longer one is named as too long."""
    if len(value) > PROVIDER_REF_CHARS:
        raise ValidationError(f"长度为 {len(value)}，超过 {PROVIDER_REF_CHARS} 位的上限"
                              f"（应为 1–{PROVIDER_REF_CHARS} 位字母、数字或 ._:/- ）。")
    if not _PROVIDER_REF.match(value):
        raise ValidationError(f"应为 1–{PROVIDER_REF_CHARS} 位字母、数字或 ._:/- 。")


class RecordInSchema(StrictSchema):
    """The envelope of one record in a batch; ``payload`` is checked per category."""

    provider_ref = fields.String(
        required=True, validate=check_provider_ref,
        metadata={"pattern": "^[A-Za-z0-9._:/\\-]{1,128}$", "minLength": 1, "maxLength": PROVIDER_REF_CHARS},
    )
    # The firm the record is about, which must be registered: a legacy pilot code that an
    # import let in names its firm here too (codes inside payloads stay strict).
    uscc = UsccField(required=True, allow_legacy=True)
    category = fields.String(required=True, validate=one_of(list(Category)))
    payload = fields.Dict(required=True)
    # When the behaviour ended, if the provider knows better than the payload; null or
    # absent: derived from the payload.
    ended_on = PastDate(allow_none=True)


class EnterprisePublicSchema(StrictSchema):
    uscc = fields.String()
    name = fields.String()
    segment = fields.String()
    region_code = fields.String()
    region = fields.Function(lambda e: describe_region(e["region_code"] if isinstance(e, dict) else e.region_code))
    registered_capital = Amount(allow_none=True)
    paid_in_capital = Amount(allow_none=True)
    founded_on = fields.Date(allow_none=True)
    status = fields.String()


class EnterpriseDetailSchema(EnterprisePublicSchema):
    """For operators and the firm itself: adds the decrypted personal fields."""

    address = fields.String(allow_none=True)
    legal_rep_name = fields.String(allow_none=True)
    legal_rep_id = fields.String(allow_none=True)
    contact_phone = fields.String(allow_none=True)
    legacy_uscc = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class EnterpriseSearchArgs(PageArgs):
    q = fields.String(load_default=None, validate=validate.Length(max=100))
    segment = fields.String(load_default=None, validate=one_of(list(Segment)))
    province = fields.String(
        load_default=None, validate=validate.Regexp(r"^\d{2}$", error="省份代码应为 2 位数字。")
    )


class EnterprisePageSchema(PageSchema):
    items = page_of(EnterprisePublicSchema)


class RecordOutSchema(StrictSchema):
    id = fields.Integer()
    provider = fields.Function(lambda r: r.provider.code)
    provider_ref = fields.String()
    category = fields.String()
    polarity = fields.String()
    severity = fields.Integer()
    occurred_on = fields.Date()
    ended_on = fields.Date(allow_none=True)
    expires_on = fields.Date(allow_none=True)
    status = fields.String()
    disputed = fields.Function(lambda r: r.status == RecordStatus.disputed)
    version = fields.Integer()
    payload = fields.Dict()
    received_at = fields.DateTime()
    updated_at = fields.DateTime()


class RecordFilterArgs(PageArgs):
    category = fields.String(load_default=None, validate=one_of(list(Category)))
    polarity = fields.String(load_default=None, validate=one_of(list(Polarity)))
    status = fields.String(load_default=None, validate=one_of(list(RecordStatus)))
    include_expired = fields.Boolean(load_default=False)
    occurred_from = fields.Date(load_default=None)
    occurred_to = fields.Date(load_default=None)

    @validates_schema(skip_on_field_errors=True)
    def _range(self, data: dict[str, Any], **_: Any) -> None:
        if data["occurred_from"] and data["occurred_to"] and data["occurred_to"] < data["occurred_from"]:
            raise ValidationError({"occurred_to": ["结束日期不能早于开始日期。"]})


class RecordPageSchema(PageSchema):
    items = page_of(RecordOutSchema)


class RowResultSchema(StrictSchema):
    index = fields.Integer()
    provider_ref = fields.String(allow_none=True)
    status = fields.String()
    record_id = fields.Integer(allow_none=True)
    version = fields.Integer(allow_none=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class BatchResultSchema(StrictSchema):
    run_id = fields.Integer()
    committed = fields.Boolean()
    mode = fields.String()
    total = fields.Integer()
    accepted = fields.Integer()
    unchanged = fields.Integer()
    corrected = fields.Integer()
    refused = fields.Integer()
    reevaluated = fields.Integer(metadata={"description": "本批写入或更正了记录、随即重新评价的企业数"})
    rows = fields.List(fields.Nested(RowResultSchema))


class BatchArgs(StrictSchema):
    mode = fields.String(load_default="partial", validate=one_of(("partial", "all_or_nothing")))


class RetentionResultSchema(StrictSchema):
    expired = Int()
    as_of = fields.Date()


class RunArgs(PageArgs):
    provider = fields.String(load_default=None, validate=validate.Length(max=64))
    refused_only = fields.Boolean(load_default=False)


class RefusalSchema(StrictSchema):
    row_index = fields.Integer()
    provider_ref = fields.String(allow_none=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class RunSchema(StrictSchema):
    id = fields.Integer()
    provider = fields.Function(lambda r: r.provider.code)
    source = fields.String()
    filename = fields.String(allow_none=True)
    mode = fields.String()
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    total = fields.Integer()
    accepted = fields.Integer()
    unchanged = fields.Integer()
    corrected = fields.Integer()
    refused = fields.Integer()
    committed = fields.Boolean()


class RunPageSchema(PageSchema):
    items = page_of(RunSchema)


class RunRowSchema(StrictSchema):
    record_id = fields.Integer()
    provider_ref = fields.String()
    uscc = fields.String()
    name = fields.String()
    category = fields.String()
    version = fields.Integer()
    status = fields.String(metadata={"description": "accepted 新增、corrected 更正、superseded 本批写入的版本已被后续批次更正"})


class RunDetailSchema(RunSchema):
    refusals = fields.List(fields.Nested(RefusalSchema))
    rows = fields.List(fields.Nested(RunRowSchema))
    rows_meta = fields.Nested(PageMetaSchema)


# --- enterprise relations (集团与子公司) ------------------------------------------------------

class ShareField(fields.Field):
    """A shareholding in per cent, ``0 < share <= 100``, at most 4 decimals, as ``Decimal``
    (a JSON number or a plain numeric string)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise ValidationError("应为持股比例（百分数，如 51 或 33.3333）。")
        text_value = str(value).strip()
        if not re.fullmatch(r"[+-]?[0-9]{1,3}(?:\.[0-9]+)?", text_value):
            raise ValidationError("应为持股比例（百分数，如 51 或 33.3333），用普通数字写法。")
        share = Decimal(text_value)
        if not Decimal(0) < share <= Decimal(100):
            raise ValidationError("持股比例应大于 0 且不超过 100。")
        if share != share.quantize(Decimal("0.0001")):
            raise ValidationError("持股比例最多 4 位小数。")
        return share

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(Decimal(value).normalize().quantize(Decimal("0.0001")))


class RelationInSchema(StrictSchema):
    """One row of a relation batch: from ``valid_from`` the parent holds the child so
    (replacing what held before); with ``valid_to``, the holding ended that day."""

    parent_uscc = UsccField(required=True, allow_legacy=True)
    child_uscc = UsccField(required=True, allow_legacy=True)
    kind = fields.String(required=True, validate=one_of(list(RelationKind)),
                         metadata={"description": "wholly_owned 全资、controlling 控股、minority 参股"})
    share = ShareField(load_default=None, metadata={"description": "持股比例（百分数，字符串），全资可省略（即 100）",
                                                    "type": "string", "nullable": True})
    valid_from = Day(required=True)
    valid_to = Day(load_default=None, allow_none=True)
    provider_ref = text(64, required=False, load_default=None, allow_none=True)

    @validates_schema(skip_on_field_errors=True)
    def _rules(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        if data["parent_uscc"] == data["child_uscc"]:
            errors["child_uscc"] = ["企业不能持有自身。"]
        if data["kind"] == RelationKind.wholly_owned:
            if data["share"] is None:
                data["share"] = Decimal(100)
            elif data["share"] != 100:
                errors["share"] = ["全资即持股 100%。"]
        elif data["share"] is None:
            errors["share"] = ["控股、参股须给出持股比例。"]
        if data["valid_to"] is not None and data["valid_to"] < data["valid_from"]:
            errors["valid_to"] = ["结束日期不能早于开始日期。"]
        if errors:
            raise ValidationError(errors)


class RelationOutSchema(StrictSchema):
    id = fields.Integer()
    parent_uscc = fields.Function(lambda r: r.parent.uscc)
    parent_name = fields.Function(lambda r: r.parent.name)
    child_uscc = fields.Function(lambda r: r.child.uscc)
    child_name = fields.Function(lambda r: r.child.name)
    kind = fields.String()
    share = ShareField()
    valid_from = fields.Date()
    valid_to = fields.Date(allow_none=True)
    filed_by = fields.Function(lambda r: f"provider:{r.provider.code}" if r.provider is not None
                               else f"operator:{r.operator}")
    provider_ref = fields.String(allow_none=True)
    ended_by = fields.String(allow_none=True)
    created_at = fields.DateTime()


class RelationBatchResultSchema(StrictSchema):
    total = fields.Integer()
    added = fields.Integer(metadata={"description": "新增的关系（含变更后新增的一行）"})
    ended = fields.Integer(metadata={"description": "结束的关系（含因变更而结束的旧行）"})
    unchanged = fields.Integer(metadata={"description": "与现有关系相同、未作改动的行"})
    relations = fields.List(fields.Nested(RelationOutSchema))


class RelationListArgs(PageArgs):
    uscc = UsccField(load_default=None, allow_legacy=True,
                     metadata={"description": "只看该企业作为母公司或子公司的关系"})
    include_ended = fields.Boolean(load_default=False)


class RelationPageSchema(PageSchema):
    items = page_of(RelationOutSchema)
