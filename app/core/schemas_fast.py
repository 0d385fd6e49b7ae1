"""A fast path for loading clean input through a marshmallow schema.

``Schema.load`` spends most of its time in generic machinery (error stores, hook lookups,
partial/unknown handling, an ``And`` object per field per call) rather than in our fields
and validators.  Bulk ingestion loads millions of small, mostly valid payloads, so
``FastLoader`` runs the *same* field objects — their ``_deserialize``, their validators,
the schema's ``@validates_schema`` methods — directly, and gives up (returns ``None``) at
the first sign of trouble: an unknown or missing key, a ``None``, any ``ValidationError``.
The caller then calls ``schema.load``, which is what produces the error messages.

So the fast path never decides that input is bad, and on good input it returns what
``schema.load`` returns (``tests/app/test_schemas_fast.py`` checks both over every category
and thousands of generated payloads).  Schemas using features it does not mirror
(pre/post-load hooks, field-level ``@validates``, ``data_key``/``attribute``, field
pre/post-load functions, collection validators, ``pass_original``) are never fast-pathed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import RAISE, Schema, ValidationError
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA
from marshmallow.fields import Field
from marshmallow.utils import missing

_FieldSpec = tuple[str, Field, bool, Any, bool, tuple[Callable[[Any], Any], ...]]


class FastLoader:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        hooks = schema._hooks  # marshmallow's resolved decorator registry
        validators = []
        supported = (
            schema.unknown == RAISE and not schema.many and not schema.partial
            and not hooks[PRE_LOAD] and not hooks[POST_LOAD] and not hooks[VALIDATES]
        )
        for attr_name, pass_many, kwargs in hooks[VALIDATES_SCHEMA]:
            if pass_many or kwargs.get("pass_original"):
                supported = False
            validators.append(getattr(schema, attr_name))
        specs: list[_FieldSpec] = []
        for name, fld in schema.load_fields.items():
            if fld.data_key is not None or fld.attribute is not None or fld.pre_load or fld.post_load:
                supported = False
            specs.append((name, fld, fld.required, fld.load_default, fld.allow_none, tuple(fld.validators)))
        self.supported = supported
        self.names = frozenset(name for name, *_ in specs)
        self.specs = tuple(specs)
        self.schema_validators = tuple(validators)

    def load(self, data: Any) -> dict[str, Any] | None:
        """What ``schema.load(data)`` returns, or ``None``: then call ``schema.load``."""
        if not self.supported or type(data) is not dict or not data.keys() <= self.names:
            return None
        out: dict[str, Any] = {}
        try:
            for name, fld, required, default, allow_none, validators in self.specs:
                value = data.get(name, missing)
                if value is missing:
                    if required:
                        return None
                    value = default() if callable(default) else default
                    if value is not missing:
                        out[name] = value
                    continue
                if value is None:
                    if not allow_none:
                        return None
                    out[name] = None
                    continue
                value = fld._deserialize(value, name, data)
                for validator in validators:
                    validator(value)
                out[name] = value
            for schema_validator in self.schema_validators:
                schema_validator(out, partial=None, many=False, unknown=RAISE)
        except ValidationError:
            return None
        return out
