"""Bank files slightly off the schema (issue #25, class 5): strict where money is concerned, refusing the file
and naming the place; tolerant elsewhere, with a warning naming the element and every transaction kept."""

from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from activities.cash_application import store_statement
from models.tables import AuditEntry, CashReceipt
from o2c.statements import StatementError, parse_statement
from tests.support import Database

FILES = Path(__file__).with_name("statements")
BIC = "camt053_v04_bic.xml"


def read(name: str) -> bytes:
    return (FILES / name).read_bytes()


def amounts_and_texts(name: str, data: bytes | None = None) -> list[tuple[int, str, str, str]]:
    statement = parse_statement(data if data is not None else read(name))
    return [(line.amount_minor, line.payer_name, line.payer_account, line.remittance) for line in statement.lines]


EXPECTED_LINES = [
    (11900, "ACME TRADING GMBH", "DE02120300000000202051", "Invoice INV-2026-000001"),
    (30050, "Globex Ltd", "", "Payment inv#2 thanks"),
]


def test_bic_instead_of_bicfi_imports_with_a_warning_and_every_transaction() -> None:
    statement = parse_statement(read(BIC))
    assert amounts_and_texts(BIC) == EXPECTED_LINES
    assert statement.warnings == (
        "Stmt[1]/Ntry[1]/NtryDtls/TxDtls[1]/RltdAgts/DbtrAgt/FinInstnId/BIC: <BIC> is not part of "
        "camt.053.001.04; ignored (2 times)",
    )


def test_unknown_element_in_a_party_is_ignored_with_a_warning() -> None:
    statement = parse_statement(read("camt053_v04_party_extra.xml"))
    assert amounts_and_texts("camt053_v04_party_extra.xml") == EXPECTED_LINES
    (warning,) = statement.warnings
    assert warning.startswith("Stmt[1]/Ntry[2]/NtryDtls/TxDtls[1]/RltdPties/Dbtr/LglForm: <LglForm>")


def test_a_file_on_the_schema_has_no_warnings() -> None:
    assert parse_statement(read("camt053_v02.xml")).warnings == ()
    fixed = read(BIC).replace(b"<BIC>", b"<BICFI>").replace(b"</BIC>", b"</BICFI>")
    assert parse_statement(fixed).warnings == ()


def test_a_value_off_the_schema_away_from_money_is_dropped_with_a_warning() -> None:
    data = read(BIC).replace(
        b"<Id>STMT-BIC-2026-11-20</Id>", b"<Id>STMT-BIC-2026-11-20</Id><ElctrncSeqNb>seven</ElctrncSeqNb>"
    )
    statement = parse_statement(data)
    assert amounts_and_texts(BIC, data) == EXPECTED_LINES
    assert any(w.startswith("Stmt[1]/ElctrncSeqNb: element <ElctrncSeqNb> holds 'seven'") for w in statement.warnings)


def test_bad_amount_refuses_the_file_naming_the_place() -> None:
    with pytest.raises(StatementError, match=r"^Stmt\[1\]/Ntry\[2\]/Amt: element <Amt> holds '300,50', not an amount"):
        parse_statement(read("camt053_v04_bad_amount.xml"))


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            (
                b'Ccy="EUR">119.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>',
                b'Ccy="EUR">1e2</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>',
            ),
            r"Stmt\[1\]/Ntry\[1\]/Amt: .*'1e2'",
        ),
        (
            (
                b'Ccy="EUR">300.50</Amt><CdtDbtInd>CRDT</CdtDbtInd>\n  ',
                b'Ccy="EUR">-300.50</Amt><CdtDbtInd>CRDT</CdtDbtInd>\n  ',
            ),
            r"TxDtls\[1\]/Amt: .*'-300.50'",
        ),
        (
            (b"<CdtDbtInd>CRDT</CdtDbtInd><Sts>", b"<CdtDbtInd>CREDIT</CdtDbtInd><Sts>"),
            r"Stmt\[1\]/Ntry\[1\]/CdtDbtInd: .*'CREDIT'",
        ),
        (
            (b"<BookgDt><Dt>2026-11-20</Dt></BookgDt>", b"<BookgDt><Dt>20.11.2026</Dt></BookgDt>"),
            r"Ntry\[1\]/BookgDt/Dt: .*'20.11.2026'",
        ),
        ((b'<Amt Ccy="EUR">119.00</Amt><CdtDbtInd>', b'<Amt Ccy="EURO">119.00</Amt><CdtDbtInd>'), r"Ntry\[1\].*EURO"),
        (
            (b"<RmtInf><Ustrd>Invoice INV-2026-000001</Ustrd></RmtInf>", b"<Rmt><Ustrd>INV-2026-000001</Ustrd></Rmt>"),
            r"TxDtls\[1\]/Rmt: .*carries Ustrd",
        ),
        (
            (b"<Dbtr><Nm>Globex Ltd</Nm>", b'<Dbtr><Nm>Globex Ltd</Nm><Amt Ccy="EUR">1.00</Amt>'),
            r"Dbtr/Amt: .*refused",
        ),
        ((b"<Sts>BOOK</Sts>", b"<Sts>BOOKED</Sts>"), r"Ntry\[1\]/Sts: .*'BOOKED'.*requires it"),
        (
            (b"<Dbtr><Nm>Globex Ltd</Nm>", b"<Dbtr><Nm>Globex Ltd</Nm><Amount>1.00</Amount>"),
            r"Dbtr/Amount: .*looks like money",
        ),
        ((b"<Refs><EndToEndId>", b"<Refs><Mine>x</Mine><EndToEndId>"), r"TxDtls\[1\]/Refs/Mine: .*refused"),
    ],
)
def test_off_schema_where_money_is_concerned_refuses_the_file(change: tuple[bytes, bytes], where: str) -> None:
    data = read(BIC)
    assert change[0] in data
    with pytest.raises(StatementError, match=where):
        parse_statement(data.replace(*change, 1))


def test_import_keeps_every_transaction_and_stores_the_warnings(sqlite_db: Database) -> None:
    statement = parse_statement(read(BIC))
    row, new = store_statement(sqlite_db.engine, statement, "finance")
    assert (new, row.lines, row.new_lines) == (True, 2, 2)
    with Session(sqlite_db.engine) as session:
        receipts = session.exec(select(CashReceipt).order_by(col(CashReceipt.amount_minor))).all()
        assert [(r.amount_minor, r.payer_name) for r in receipts] == [
            (11900, "ACME TRADING GMBH"),
            (30050, "Globex Ltd"),
        ]
        stored = session.exec(select(AuditEntry).where(AuditEntry.event == "statement_warnings")).one()
    assert stored.dedupe_key == f"statement-warnings:{row.key}"
    assert stored.detail == statement.warnings[0]
    assert "FinInstnId/BIC" in stored.detail


def test_cash_import_prints_the_warnings_of_a_tolerated_file(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from o2c.cli.cash_match import read_statement

    statement = read_statement(argparse.Namespace(statement=str(FILES / BIC), map=None, format=None))
    assert len(statement.lines) == 2
    assert "warning: Stmt[1]/Ntry[1]/NtryDtls/TxDtls[1]/RltdAgts/DbtrAgt/FinInstnId/BIC" in capsys.readouterr().err
