"""A work queue as the home page shows it: how many items wait and how old the oldest is."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from o2c.access import Permission


@dataclass(frozen=True)
class QueueSize:
    count: int
    oldest: datetime | None  # when the oldest item began waiting


@dataclass(frozen=True)
class Queue:
    key: str
    title: str
    url: str
    permission: Permission  # who works it (everyone with VIEW sees its size)
    size: Callable[[Engine], QueueSize]
