"""What every table shares: a timezone-aware timestamp column that must be set."""

from datetime import datetime

from sqlalchemy import Column, DateTime


def utc_column() -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=False)
