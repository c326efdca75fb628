"""SQLite's writer thread survives a unit of work whose commit fails: that caller gets the error, the next
caller is served. (A unit that failed at commit was answered twice, the thread died of InvalidStateError
and every later write in the process waited for ever.)"""

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from models.tables import Customer
from o2c.platform.db import run_transaction
from tests.support import Database


def _customer(customer_id: str) -> Customer:
    return Customer(id=customer_id, name="Ada", email="ada@example.com", currency="USD", created_at=datetime.now(UTC))


def test_a_unit_failing_at_commit_gets_its_error_and_the_writer_serves_on(sqlite_db: Database) -> None:
    run_transaction(sqlite_db.engine, lambda session: session.add(_customer("C-1")))
    with pytest.raises(IntegrityError):  # raised by the commit, after the work itself returned
        run_transaction(sqlite_db.engine, lambda session: session.add(_customer("C-1")))
    done: list[str] = []
    writer = threading.Thread(target=lambda: done.append(run_transaction(sqlite_db.engine, _add_and_name)))
    writer.start()
    writer.join(timeout=10)
    assert done == ["C-2"], "the writer thread no longer serves"
    with Session(sqlite_db.engine) as session:
        assert session.get(Customer, "C-2") is not None


def _add_and_name(session: Session) -> str:
    session.add(_customer("C-2"))
    return "C-2"
