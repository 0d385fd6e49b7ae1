"""Page form plumbing shared by every package's pages: parse with the API's schemas, turn a
service's refusal into field errors (auditing it after the rollback), read the page number."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from app.core.errors import DomainError, InvalidInput, flatten_messages
from app.core.extensions import db_session
from app.core.refusals import refuse_later

Errors = dict[str, list[str]]


def load_form(schema: Schema, body: Any) -> tuple[dict[str, Any] | None, Errors]:
    """The loaded data, or the errors by field (dict values' paths without ``.value.``)."""
    try:
        return dict(schema.load(body)), {}
    except ValidationError as exc:
        return None, {k.replace(".value.", "."): v for k, v in flatten_messages(exc.messages).items()}


def domain_errors(exc: DomainError) -> Errors:
    """A service's refusal, for the form: its field errors, or the message at the top.  The
    request's work is rolled back; a refusal that is audited is written after that."""
    session = db_session()
    session.rollback()
    if exc.audit is not None:
        refuse_later(session, exc.audit)
    return dict(exc.errors) if exc.errors else {"_schema": [exc.detail]}


def filled(form: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The non-empty fields among ``keys`` (an empty optional field takes its default; an
    empty required one is reported as missing)."""
    return {k: form[k] for k in keys if form.get(k) not in (None, "")}


def page_no() -> int:
    """A page's ``?page=`` (1 when absent or not a plain ASCII number: ``²`` is a digit to
    ``str.isdigit`` but not to ``int``)."""
    raw = request.args.get("page", "1")
    return max(1, int(raw)) if raw.isascii() and raw.isdigit() and len(raw) < 8 else 1


def query_args(schema: Schema) -> dict[str, Any]:
    """A page's query string, read with the API's schema; bad values are a 422 page naming
    the parameter, as the API's are."""
    try:
        return dict(schema.load(request.args.to_dict()))
    except ValidationError as exc:
        raise InvalidInput("查询条件有误", errors=flatten_messages(exc.messages, "query")) from exc
