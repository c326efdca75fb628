"""Cash application end to end: a camt.053 statement imported against real orders on the test worker, the
matched ones paid through ``payment_received``, the rest in the exception queue until finance applies it,
and the ledger right at every step (on SQLite and PostgreSQL)."""

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities import ledger
from activities.cash_application import apply_by_hand, deliver, store_statement
from models.activity_io import CashApplied, MatchReceipts
from models.contract import Customer, InvoiceView, OrderStatus
from models.tables import AuditEntry, CashApplication, CashReceipt, CustomerBankAccount, LedgerEntry
from o2c.statements import parse_statement
from tests.books import check_books
from tests.harness import eventually, keep_history, running_worker, start
from tests.support import Database, sample_order
from tests.test_workflow_paths import ship_all
from workflows.cash_application import CashApplicationWorkflow

ACCOUNT = "DE89370400440532013000"


def camt053(entries: Sequence[tuple[str, str, str, str, str]], statement_id: str = "S-1") -> bytes:
    """A camt.053.001.02 statement; entries are (amount, payer, payer IBAN, structured ref, free text)."""
    rows = []
    for n, (amount, payer, iban, ref, text) in enumerate(entries, start=1):
        account = f"<DbtrAcct><Id><IBAN>{iban}</IBAN></Id></DbtrAcct>" if iban else ""
        remittance = f"<Strd><CdtrRefInf><Ref>{ref}</Ref></CdtrRefInf></Strd>" if ref else f"<Ustrd>{text}</Ustrd>"
        rows.append(
            f"<Ntry><Amt Ccy='USD'>{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>"
            f"<BookgDt><Dt>{date.today().isoformat()}</Dt></BookgDt><AcctSvcrRef>B-{statement_id}-{n}</AcctSvcrRef>"
            "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>"
            f"<NtryDtls><TxDtls><RltdPties><Dbtr><Nm>{payer}</Nm></Dbtr>{account}</RltdPties>"
            f"<RmtInf>{remittance}</RmtInf></TxDtls></NtryDtls></Ntry>"
        )
    return (
        "<?xml version='1.0' encoding='UTF-8'?>"
        "<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.02'><BkToCstmrStmt>"
        "<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-11-20T18:00:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>{statement_id}</Id><CreDtTm>2026-11-20T18:00:00</CreDtTm>"
        f"<Acct><Id><IBAN>{ACCOUNT}</IBAN></Id></Acct>{''.join(rows)}</Stmt></BkToCstmrStmt></Document>"
    ).encode()


async def _invoiced(
    env: WorkflowEnvironment, task_queue: str, customer: Customer
) -> tuple[WorkflowHandle[Any, Any], str, InvoiceView]:
    """An order of 49.48 USD, shipped and invoiced: its handle, id and invoice."""
    order = sample_order(customer=customer)
    handle = await start(env.client, order, task_queue)
    await handle.signal("shipment_dispatched", ship_all([("WIDGET", 2), ("GADGET", 1)]))
    view = await eventually(handle, lambda s: s.status == OrderStatus.INVOICED, "invoiced")
    return handle, order.order_id, view.invoices[0]


async def _run(env: WorkflowEnvironment, task_queue: str, key: str | None, record: str = "") -> CashApplied:
    handle = await env.client.start_workflow(
        CashApplicationWorkflow.run,
        MatchReceipts(statement_key=key, requested_by="test"),
        id=f"cash-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        result_type=CashApplied,
    )
    result = await handle.result()
    if record:
        await keep_history(handle, record)
    return result


def _check_books(db: Database) -> dict[str, int]:
    """The books' invariants (tests/books.py), and here all unapplied cash sits on receipts."""
    balances = check_books(db.engine).get("USD", {})
    with Session(db.engine) as session:
        unapplied = session.exec(
            select(func.coalesce(func.sum(CashReceipt.unapplied_minor), 0)).where(CashReceipt.amount_minor > 0)
        ).one()
    assert -balances.get(ledger.UNAPPLIED_CASH, 0) == unapplied
    return balances


async def test_statement_applied_by_reference_number_and_by_hand(
    time_env: WorkflowEnvironment, database: Database, task_queue: str
) -> None:
    acme = Customer(id="C-ACME", name="Acme Trading GmbH", email="ap@acme.example")
    globex = Customer(id="C-GLOBEX", name="Globex Ltd", email="ap@globex.example")
    async with running_worker(time_env.client, database, task_queue):
        by_ref, _, first = await _invoiced(time_env, task_queue, acme)
        by_number, _, second = await _invoiced(time_env, task_queue, globex)
        by_hand, by_hand_id, _ = await _invoiced(time_env, task_queue, acme)
        data = camt053(
            [
                ("49.48", "ACME TRADING", "DE02120300000000202051", first.payment_reference, ""),
                ("49.48", "Globex", "", "", f"payment {second.number.replace('-000', ' ')}"),
                ("49.48", "Somebody Else", "", "", "for the widgets"),  # the amount ties: not guessed
                ("7.00", "Unknown Payer", "", "", "no idea"),
            ]
        )
        statement = parse_statement(data)
        stored, _ = store_statement(database.engine, statement, "test")
        assert stored.new_lines == 4
        record = "cash_application_sqlite" if database.kind == "sqlite" else ""
        result = await _run(time_env, task_queue, stored.key, record=record)
        assert (result.receipts, result.applied, result.unapplied, result.delivered) == (4, 2, 2, 2)
        assert (await by_ref.result()).status == OrderStatus.PAID
        assert (await by_number.result()).status == OrderStatus.PAID
        _check_books(database)

        # The same statement again (and a rematch) changes nothing.
        again, _ = store_statement(database.engine, parse_statement(data), "test")
        assert again.key == stored.key
        assert (await _run(time_env, task_queue, stored.key)).receipts == 0
        rematched = await _run(time_env, task_queue, None)
        assert rematched.applied == 0 and rematched.unapplied == 2

        with Session(database.engine) as session:
            queue = session.exec(select(CashReceipt).where(CashReceipt.status == "unapplied")).all()
            tie = next(r for r in queue if r.amount_minor == 4948)
            assert tie.reason  # the engine says why it did not guess
            learned = session.exec(select(CustomerBankAccount.account)).all()
            assert learned == ["DE02120300000000202051"]

        # Finance applies the tied one by hand: the order is paid, the audit trail says who.
        application = apply_by_hand(database.engine, tie.id, by_hand_id, None, "fin", "customer rang", "r1")
        assert (
            apply_by_hand(database.engine, tie.id, by_hand_id, None, "fin", "customer rang", "r1").id == application.id
        )
        delivered = await deliver(database.engine, time_env.client, None)
        assert delivered.delivered == 1
        assert (await by_hand.result()).status == OrderStatus.PAID
        balances = _check_books(database)
        assert balances[ledger.CASH] == 3 * 4948 + 700
        assert balances[ledger.UNAPPLIED_CASH] == -700
        with Session(database.engine) as session:
            assert session.exec(
                select(AuditEntry).where(AuditEntry.event == "cash_applied", AuditEntry.actor == "fin")
            ).all()
            journals = session.exec(
                select(LedgerEntry.journal).where(col(LedgerEntry.journal).startswith("receipt:"))
            ).all()
            assert len(set(journals)) == 4


async def test_overpayment_partial_and_closed_order(
    time_env: WorkflowEnvironment, sqlite_db: Database, task_queue: str
) -> None:
    acme = Customer(id="C-ACME", name="Acme Trading GmbH", email="ap@acme.example")
    async with running_worker(time_env.client, sqlite_db, task_queue):
        over, over_id, first = await _invoiced(time_env, task_queue, acme)
        part, part_id, second = await _invoiced(time_env, task_queue, acme)
        data = camt053(
            [
                ("60.00", "ACME", "", first.payment_reference, ""),
                ("20.00", "ACME", "", second.payment_reference, ""),
            ]
        )
        stored, _ = store_statement(sqlite_db.engine, parse_statement(data), "test")
        result = await _run(time_env, task_queue, stored.key)
        assert result.applied == 2
        assert (await over.result()).status == OrderStatus.PAID
        view = await eventually(part, lambda s: s.totals.paid == Decimal("20.00"), "part paid")
        assert view.totals.due == Decimal("29.48")
        with Session(sqlite_db.engine) as session:
            overpaid = session.exec(select(CashReceipt).where(CashReceipt.amount_minor == 6000)).one()
            assert (overpaid.status, overpaid.unapplied_minor) == ("part_applied", 1052)
            assert "held as the customer's credit" in overpaid.reason
        _check_books(sqlite_db)

        # The credit left over goes to the next invoice by hand; to a closed order it is refused and kept.
        refused = apply_by_hand(sqlite_db.engine, overpaid.id, over_id, None, "fin", "", "r2")
        assert (await deliver(sqlite_db.engine, time_env.client, [refused.id or 0])).refused == 1
        apply_by_hand(sqlite_db.engine, overpaid.id, part_id, None, "fin", "credit to next invoice", "r3")
        await deliver(sqlite_db.engine, time_env.client, None)
        view = await eventually(part, lambda s: s.totals.paid == Decimal("30.52"), "credit applied")
        with Session(sqlite_db.engine) as session:
            statuses = session.exec(select(CashApplication.status).order_by(col(CashApplication.id))).all()
        assert statuses == ["delivered", "delivered", "refused", "delivered"]
        _check_books(sqlite_db)
