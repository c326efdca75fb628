"""Bank statements stored: the statement and its new lines, each line a receipt booked to unapplied cash, and
the warnings of a file slightly off its format in the audit log."""

from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import col, select

from activities.cash_application.queue import post_receipt
from activities.records import audit
from models.tables import (
    BankStatement,
    CashReceipt,
)
from o2c.matching import normalize_account
from o2c.platform.db import transaction
from o2c.statements import Statement


def store_statement(engine: Engine, statement: Statement, actor: str) -> tuple[BankStatement, bool]:
    """The statement and its lines in one transaction, and whether it is new; lines already known (the same
    file again, or a notification and then the day's statement) are not stored twice."""
    now = datetime.now(UTC)
    with transaction(engine) as session:
        existing = session.get(BankStatement, statement.key)
        if existing is not None:
            return existing, False
        ids = [line.id for line in statement.lines]
        known = set(session.exec(select(CashReceipt.id).where(col(CashReceipt.id).in_(ids))).all())
        row = BankStatement(
            key=statement.key,
            format=statement.format.value,
            statement_id=statement.statement_id[:400],
            account=statement.account[:200],
            digest=statement.digest,
            lines=len(statement.lines),
            new_lines=len(set(ids) - known),
            imported_by=actor,
            imported_at=now,
        )
        session.add(row)
        session.flush()
        for line in statement.lines:
            if line.id in known:
                continue
            known.add(line.id)
            receipt = CashReceipt(
                id=line.id,
                source="bank",
                statement_key=statement.key,
                location=line.where[:200],
                booked_on=line.booked_on,
                amount_minor=line.amount_minor,
                unapplied_minor=max(0, line.amount_minor),
                currency=line.currency,
                payer_name=line.payer_name[:200],
                payer_account=normalize_account(line.payer_account)[:64],
                reference=line.reference[:200],
                remittance=line.remittance[:2000],
                bank_reference=line.bank_reference[:120],
                end_to_end_id=line.end_to_end_id[:120],
                status="new" if line.amount_minor > 0 else "debit",
                created_at=now,
            )
            session.add(receipt)
            if line.amount_minor > 0:
                post_receipt(session, receipt)
        audit(
            session,
            f"statement:{statement.key}",
            None,
            "statement_imported",
            actor,
            f"{statement.format} {statement.statement_id} of {statement.account}: {len(ids)} lines",
        )
        if statement.warnings:
            # What the file had off its format and the import ignored: kept with the statement for whoever
            # asks the bank for a correct file (no money is ever among it: that refuses the file).
            audit(
                session,
                f"statement-warnings:{statement.key}",
                None,
                "statement_warnings",
                actor,
                "\n".join(statement.warnings),
            )
    return row, True
