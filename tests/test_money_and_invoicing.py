"""Pure rules: currency exponents, rounding, due dates, RF references, contract validation."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from models.contract import PaymentTerms, PlaceOrder
from models.invoicing import due_date, early_payment_discount, is_valid_rf_reference, line_amounts, rf_reference
from models.money import MoneyError, from_minor, to_minor
from tests.support import sample_order


@pytest.mark.parametrize(
    ("currency", "amount", "minor"), [("JPY", "1234", 1234), ("USD", "12.34", 1234), ("KWD", "1.234", 1234)]
)
def test_exponents(currency: str, amount: str, minor: int) -> None:
    assert to_minor(Decimal(amount), currency) == minor
    assert from_minor(minor, currency) == Decimal(amount)


@pytest.mark.parametrize(("currency", "amount"), [("JPY", "10.5"), ("USD", "1.005"), ("KWD", "0.0001")])
def test_too_many_decimals_refused(currency: str, amount: str) -> None:
    with pytest.raises(MoneyError, match="more decimals"):
        to_minor(Decimal(amount), currency)


@pytest.mark.parametrize(
    ("currency", "price", "qty", "discount", "tax", "expected"),
    [
        ("USD", "19.99", 3, "0", "8.25", (5997, 0, 5997, 495)),  # 494.75 rounds half up
        ("JPY", "333", 3, "10", "10", (999, 100, 899, 90)),  # 99.9 -> 100, 89.9 -> 90
        ("KWD", "1.005", 7, "0", "5", (7035, 0, 7035, 352)),  # 351.75 fils -> 352
    ],
)
def test_line_rounding_in_three_currencies(
    currency: str, price: str, qty: int, discount: str, tax: str, expected: tuple[int, int, int, int]
) -> None:
    amounts = line_amounts(qty, Decimal(price), Decimal(discount), Decimal(tax), currency)
    assert (amounts.gross_minor, amounts.discount_minor, amounts.net_minor, amounts.tax_minor) == expected
    assert amounts.net_minor == amounts.gross_minor - amounts.discount_minor


def test_due_dates() -> None:
    assert due_date(date(2026, 1, 15), 0, False) == date(2026, 1, 15)
    assert due_date(date(2026, 1, 15), 30, False) == date(2026, 2, 14)
    assert due_date(date(2026, 1, 15), 30, True) == date(2026, 2, 28)
    assert early_payment_discount(10000, Decimal(2), 10, date(2026, 1, 1), "USD") == (200, date(2026, 1, 11))


def test_rf_reference() -> None:
    assert is_valid_rf_reference("RF18 5390 0754 7034")
    assert not is_valid_rf_reference("RF18539007547035")
    ref = rf_reference("INV2026000123")
    assert ref.startswith("RF") and is_valid_rf_reference(ref)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=21))
def test_rf_reference_always_valid(body: str) -> None:
    assert is_valid_rf_reference(rf_reference(body))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lines": []}, "at least 1 item"),
        ({"currency": "XYZ"}, "unknown currency"),
        ({"currency": "usd"}, "String should match pattern"),
        ({"customer": {"id": "C1", "name": "A", "email": "not-an-email"}}, "email"),
        ({"payment_method": "card_on_file"}, "stripe_payment_method"),
        ({"payment_terms": {"net_days": 10, "discount_percent": "2", "discount_days": 20}}, "discount window"),
    ],
)
def test_bad_orders_refused(change: dict[str, object], message: str) -> None:
    data = sample_order().model_dump(mode="json") | change
    with pytest.raises(ValidationError, match=message):
        PlaceOrder.model_validate(data)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"quantity": 0}, "greater than 0"),
        ({"unit_price": "-1"}, "greater than or equal to 0"),
        ({"unit_price": "1.001"}, "more decimals than USD"),
        ({"unit_price": "999999999999999999"}, "plausible"),
        ({"unit_price": "NaN"}, "finite"),
    ],
)
def test_bad_lines_refused(line: dict[str, object], message: str) -> None:
    data = sample_order().model_dump(mode="json")
    data["lines"][0] |= line
    with pytest.raises(ValidationError, match=message):
        PlaceOrder.model_validate(data)


def test_payment_terms_default_net_30() -> None:
    assert PaymentTerms().net_days == 30
