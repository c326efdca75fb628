"""Gapless document numbers: one counter per series and year, moved inside the document's transaction."""

from sqlalchemy import text
from sqlmodel import Session


def next_number(session: Session, series: str, year: int) -> int:
    """Moves the series counter inside the caller's transaction: a rollback gives the number back."""
    session.execute(
        text(
            "INSERT INTO number_series (series, year, last_value) VALUES (:series, :year, 0) "
            "ON CONFLICT (series, year) DO NOTHING"
        ),
        {"series": series, "year": year},
    )
    value = session.execute(
        text(
            "UPDATE number_series SET last_value = last_value + 1 "
            "WHERE series = :series AND year = :year RETURNING last_value"
        ),
        {"series": series, "year": year},
    ).scalar_one()
    return int(value)
