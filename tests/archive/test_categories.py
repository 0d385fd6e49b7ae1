"""Unit tests for the record categories: the registry, one valid payload per category and
the bad payloads each schema refuses (no database). The payloads are in
``tests/archive/payloads.py``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from marshmallow import ValidationError

from app.archive.categories import CATEGORIES, Classification
from app.archive.models import Category, Polarity
from tests.archive.payloads import (
    ALL_CATEGORIES,
    BAD_PAYLOADS,
    LAST_YEAR,
    PREV_MONTH,
    TODAY,
    USCC,
    _valid,
    classify,
    load,
    month_end,
    payload,
)

# --- registry ----------------------------------------------------------------------------



def test_registry_covers_every_category() -> None:
    assert set(CATEGORIES) == set(ALL_CATEGORIES) == {c.value for c in Category}
    assert set(_valid()) == set(CATEGORIES)
    for name, spec in CATEGORIES.items():
        assert spec.category.value == name


# --- one valid payload per category --------------------------------------------------------

VALID_EXPECTATIONS = {
    "tax": (Polarity.good, 0, dt.date(LAST_YEAR, 12, 31), None),
    "contract": (Polarity.good, 0, TODAY - dt.timedelta(days=40), TODAY - dt.timedelta(days=40)),
    "quality": (Polarity.good, 0, TODAY - dt.timedelta(days=15), None),
    "safety": (Polarity.bad, 1, TODAY - dt.timedelta(days=100), TODAY - dt.timedelta(days=20)),
    "environment": (Polarity.bad, 2, TODAY - dt.timedelta(days=60), TODAY - dt.timedelta(days=10)),
    "licence": (Polarity.good, 0, TODAY - dt.timedelta(days=100), TODAY + dt.timedelta(days=365 * 5)),
    "penalty": (Polarity.bad, 1, TODAY - dt.timedelta(days=30), TODAY - dt.timedelta(days=30)),
    "judicial": (Polarity.bad, 2, TODAY - dt.timedelta(days=300), None),
    "bidding": (Polarity.good, 0, TODAY - dt.timedelta(days=50), None),
    "commitment": (Polarity.good, 0, TODAY - dt.timedelta(days=5), None),
    "loan": (Polarity.good, 0, TODAY - dt.timedelta(days=400), None),
    "honour": (Polarity.good, 0, TODAY - dt.timedelta(days=90), None),
    "utility": (Polarity.good, 0, month_end(PREV_MONTH), TODAY),
}


@pytest.mark.parametrize("category", ALL_CATEGORIES, ids=ALL_CATEGORIES)
def test_valid_payload_loads_and_classifies(category: str) -> None:
    polarity, severity, occurred, ended = VALID_EXPECTATIONS[category]
    result = classify(category, payload(category))
    # Only the judgment, not (fully) performed, is behaviour still going on.
    assert result == Classification(polarity, severity, occurred, ended, ongoing=category == "judicial")


@pytest.mark.parametrize("category", ALL_CATEGORIES, ids=ALL_CATEGORIES)
def test_valid_payload_loads_typed_values(category: str) -> None:
    loaded = load(category, payload(category))
    body = payload(category)
    assert set(loaded) >= set(body)
    for key, value in loaded.items():
        if key.endswith("_on") or key == "valid_from" or key == "valid_to" or key == "due_on":
            assert isinstance(value, dt.date), key
        if key in ("amount", "amount_due", "consumption_kwh", "direct_loss", "penalty_amount"):
            assert isinstance(value, Decimal), key
            assert value == Decimal(body[key]), key


def test_amounts_are_decimal_never_float() -> None:
    loaded = load("contract", payload("contract", amount=0.1))
    assert loaded["amount"] == Decimal("0.1")
    assert isinstance(loaded["amount"], Decimal)


def test_utility_month_loads_to_first_day() -> None:
    loaded = load("utility", payload("utility"))
    assert loaded["month"] == PREV_MONTH
    assert loaded["consumption_kwh"] == Decimal("125000.125")


def test_int_accepts_digit_string_for_csv() -> None:
    loaded = load("tax", payload("tax", year=str(LAST_YEAR), points=" 95 "))
    assert loaded["year"] == LAST_YEAR
    assert loaded["points"] == 95


def test_penalty_types_accept_csv_separated_string() -> None:
    loaded = load("penalty", payload("penalty", penalty_types="warning;fine", fine_amount="1.5"))
    assert loaded["penalty_types"] == ["warning", "fine"]


def test_uscc_field_normalises_case() -> None:
    loaded = load("contract", payload("contract", counterparty_uscc=f" {USCC.lower()} "))
    assert loaded["counterparty_uscc"] == USCC


# --- bad payloads --------------------------------------------------------------------------






@pytest.mark.parametrize(("category", "drop", "changes", "field"), BAD_PAYLOADS)
def test_bad_payload_refused_on_field(
    category: str, drop: tuple[str, ...], changes: dict[str, Any], field: str
) -> None:
    body = payload(category, drop=drop, **changes)
    with pytest.raises(ValidationError) as info:
        load(category, body)
    messages = info.value.messages
    assert isinstance(messages, dict)
    assert field in messages, messages
    assert set(messages) == {field}, messages


@pytest.mark.parametrize("category", ALL_CATEGORIES, ids=ALL_CATEGORIES)
def test_every_category_refuses_unknown_field(category: str) -> None:
    with pytest.raises(ValidationError) as info:
        load(category, payload(category, surprise="x"))
    assert set(info.value.messages) == {"surprise"}
    assert info.value.messages["surprise"] == ["未知字段。"]


REQUIRED = {
    "tax": ["year", "grade"],
    "contract": ["contract_no", "counterparty_uscc", "amount", "due_on", "status"],
    "quality": ["product", "inspection_on", "result"],
    "safety": ["accident_on", "level"],
    "environment": ["event_on"],
    "licence": ["decision_doc_name", "decision_doc_no", "licence_category", "content",
                "decided_on", "valid_from", "authority", "authority_uscc"],
    "penalty": ["decision_no", "violation_type", "facts", "legal_basis", "penalty_types", "content",
                "decided_on", "publish_until", "authority", "authority_uscc"],
    "judicial": ["case_no", "court", "filed_on", "obligation", "performance"],
    "bidding": ["project", "bid_on", "result"],
    "commitment": ["text_version", "signed_on"],
    "loan": ["lender", "amount", "start_on", "end_on", "status"],
    "honour": ["award", "issuer", "awarded_on"],
    "utility": ["month", "consumption_kwh", "amount_due", "status"],
}


@pytest.mark.parametrize(
    ("category", "field"),
    [(c, f) for c in ALL_CATEGORIES for f in REQUIRED[c]],
    ids=[f"{c}-{f}" for c in ALL_CATEGORIES for f in REQUIRED[c]],
)
def test_missing_required_field_refused(category: str, field: str) -> None:
    body = payload(category)
    body.pop(field, None)
    with pytest.raises(ValidationError) as info:
        load(category, body)
    assert field in info.value.messages, info.value.messages
    assert info.value.messages[field] == ["缺少必填字段。"]


@pytest.mark.parametrize("category", ALL_CATEGORIES, ids=ALL_CATEGORIES)
def test_every_category_refuses_non_object(category: str) -> None:
    with pytest.raises(ValidationError):
        load(category, ["not", "an", "object"])  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["1e30", 1e30, "9" * 40], ids=["str-1e30", "float-1e30", "40-digits"])
def test_huge_amount_refused_with_validation_error(value: Any) -> None:
    """An absurdly large amount must be a ValidationError on its field, not a crash."""
    with pytest.raises(ValidationError) as info:
        load("contract", payload("contract", amount=value))
    assert set(info.value.messages) == {"amount"}
