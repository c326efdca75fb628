"""Approval limits as data: the most a role may write off or refund alone, per currency."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from models.tables import ApprovalLimit
from o2c.access.roles import Role

ACTIONS = ("write_off", "refund")


@dataclass(frozen=True)
class LimitCheck:
    allowed: bool
    limit_minor: int | None  # None: no limit (a finance manager)
    reason: str


def set_limit(engine: Engine, role: Role, action: str, currency: str, max_minor: int, by: str) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action}; limits exist for {', '.join(ACTIONS)}")
    if max_minor < 0:
        raise ValueError("a limit is zero or more")
    with Session(engine) as session:
        row = session.exec(
            select(ApprovalLimit).where(
                ApprovalLimit.role == role.value, ApprovalLimit.action == action, ApprovalLimit.currency == currency
            )
        ).first()
        if row is None:
            row = ApprovalLimit(
                role=role.value,
                action=action,
                currency=currency,
                max_minor=max_minor,
                set_by=by,
                updated_at=datetime.now(UTC),
            )
            session.add(row)
        else:
            row.max_minor, row.set_by, row.updated_at = max_minor, by, datetime.now(UTC)
        session.commit()


def check_limit(engine: Engine, roles: frozenset[Role], action: str, currency: str, amount_minor: int) -> LimitCheck:
    """May someone with these roles decide this amount alone? A finance manager may; anyone else up to the
    highest limit among their roles for this action and currency, and with no limit row, not at all."""
    if Role.FINANCE_MANAGER in roles:
        return LimitCheck(True, None, "a finance manager decides alone")
    with Session(engine) as session:
        rows = session.exec(
            select(ApprovalLimit.max_minor).where(
                ApprovalLimit.role.in_([role.value for role in roles]),  # type: ignore[attr-defined]
                ApprovalLimit.action == action,
                ApprovalLimit.currency == currency,
            )
        ).all()
    limit = max(rows, default=None)
    if limit is None:
        return LimitCheck(False, 0, f"your role has no {action.replace('_', '-')} limit in {currency}")
    if amount_minor > limit:
        return LimitCheck(False, limit, f"above your {action.replace('_', '-')} limit")
    return LimitCheck(True, limit, "within your limit")
