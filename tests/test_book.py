"""``o2c bench book`` at a tiny size on PostgreSQL: the counts asked for, books that balance and agree with
the book of record (tests/books.py), open invoices whose open amount is what is left of them, amounts in
each currency's exponent, and a database with orders refused unless forced (then emptied first)."""

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from models.activity_io import CreditAssessment
from models.money import exponent
from o2c.devtools.book import BookExists, bench_book, load
from o2c.devtools.book_plan import Size
from o2c.platform.db import make_engine
from tests.books import check_books
from tests.support import drop_postgres_schema, fresh_postgres_schema, postgres_available

SIZE = {"customers": 200, "invoices": 2_000, "open": 400, "years": 2, "seed": 11}


@pytest.fixture
def book_url() -> Iterator[str]:
    problem = postgres_available()
    if problem:
        if os.environ.get("O2C_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(problem)
        pytest.skip(f"SKIPPED on PostgreSQL: {problem}")
    schema, url = fresh_postgres_schema()
    yield url
    drop_postgres_schema(schema)


COUNTS = {
    "customers": "SELECT count(*) FROM customers",
    "invoices": "SELECT count(*) FROM invoices",
    "open": "SELECT count(*) FROM invoices WHERE open_minor > 0",
    "orders": "SELECT count(*) FROM orders",
    "ledger": "SELECT count(*) FROM ledger_entries",
    "queue": "SELECT count(*) FROM cash_receipts WHERE status = 'unapplied'",
    "holds": "SELECT count(*) FROM orders WHERE status = 'CREDIT_HOLD'",
}


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {name: connection.execute(text(query)).scalar_one() for name, query in COUNTS.items()}


def test_a_tiny_book_balances_and_is_not_loaded_twice(book_url: str, tmp_path: Path) -> None:
    size = Size(**SIZE)
    assert bench_book(book_url, size, force=False) == 0
    engine = make_engine(book_url)
    try:
        loaded = counts(engine)
        assert loaded["customers"] == 200
        assert loaded["invoices"] == 2_000
        assert loaded["open"] == 400
        assert loaded["orders"] > 2_000  # and some not invoiced yet
        assert loaded["holds"] >= 1 and loaded["queue"] >= 1

        balances = check_books(engine)  # trial balance zero, receivables = open invoices, journals = events
        assert set(balances) == {"EUR", "USD", "GBP", "JPY"}
        with engine.connect() as connection:
            trial = connection.execute(
                text("SELECT currency, sum(debit_minor) - sum(credit_minor) FROM ledger_entries GROUP BY currency")
            ).all()
            assert trial and all(balance == 0 for _, balance in trial)
            unexplained = connection.execute(
                text(
                    "SELECT i.number FROM invoices i WHERE i.open_minor > 0 AND i.open_minor <> i.total_minor "
                    "- coalesce((SELECT sum(amount_minor + discount_minor) FROM payment_applications p "
                    "WHERE p.invoice_number = i.number), 0) "
                    "- coalesce((SELECT sum(total_minor) FROM credit_notes c WHERE c.invoice_number = i.number), 0)"
                )
            ).all()
            assert unexplained == []
            credited = connection.execute(
                text(
                    "SELECT count(*) FROM credit_notes c JOIN invoices i ON i.number = c.invoice_number "
                    "WHERE i.open_minor > 0"
                )
            ).scalar_one()
            assert credited > 0, "some open invoices carry a credit note"
            whale_open = connection.execute(
                text("SELECT count(*) FROM invoices WHERE customer_id = 'CUST-000000' AND open_minor > 0")
            ).scalar_one()
            assert whale_open >= SIZE["open"] // 40
            for currency, price in connection.execute(
                text("SELECT o.currency, l.unit_price FROM order_lines l JOIN orders o ON o.id = l.order_id")
            ):
                assert -Decimal(price).as_tuple().exponent == exponent(currency), (currency, price)  # type: ignore[operator]
            hold = connection.execute(
                text("SELECT assessment FROM credit_decisions WHERE decision = 'hold' LIMIT 1")
            ).scalar_one()
            assert CreditAssessment.model_validate_json(hold).decision == "hold"

        assert bench_book(book_url, size, force=False) == 1  # refused: the book is there
        with engine.begin() as connection, pytest.raises(BookExists):
            load(connection, tmp_path, force=False)
        assert counts(engine) == loaded
        assert bench_book(book_url, size, force=True) == 0  # emptied first, and the same seed makes the same book
        assert counts(engine) == loaded
    finally:
        engine.dispose()
