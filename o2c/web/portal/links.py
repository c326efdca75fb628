"""Sign-in links: who an email address may sign in as, a fresh single-use token for each, and redeeming a
token once (the UPDATE that marks it used is the only check that counts, so two tabs cannot both use it)."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, or_, update
from sqlmodel import Session, col, select

from models.tables import Customer, PortalSignInLink
from o2c.platform.db import run_transaction, snapshot

MAX_CUSTOMERS_PER_EMAIL = 5


@dataclass(frozen=True)
class IssuedLink:
    id: int
    token: str
    customer_id: str
    customer_name: str
    email: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def customers_for_email(engine: Engine, email: str) -> list[Customer]:
    """The customers whose billing email, or main email, this is (in any case)."""
    wanted = email.strip().casefold()
    if not wanted or "@" not in wanted:
        return []
    with snapshot(engine) as session:
        query = (
            select(Customer)
            .where(or_(func.lower(Customer.billing_email) == wanted, func.lower(Customer.email) == wanted))
            .order_by(col(Customer.id))
            .limit(MAX_CUSTOMERS_PER_EMAIL)
        )
        return list(session.exec(query).all())


def issue_links(engine: Engine, email: str, minutes: int, now: datetime | None = None) -> list[IssuedLink]:
    """One new link per customer the address belongs to; none for an unknown address."""
    customers = customers_for_email(engine, email)
    return _issue(engine, customers, email.strip(), minutes, now) if customers else []


def issue_link_for(engine: Engine, customer_id: str, minutes: int, now: datetime | None = None) -> IssuedLink | None:
    """A new link for one customer, as if sent to their billing email (``o2c dev --demo`` prints one)."""
    with snapshot(engine) as session:
        customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    [link] = _issue(engine, [customer], customer.billing_email or customer.email, minutes, now)
    return link


def _issue(
    engine: Engine, customers: list[Customer], email: str, minutes: int, now: datetime | None
) -> list[IssuedLink]:
    now = now or datetime.now(UTC)
    tokens = {c.id: secrets.token_urlsafe(32) for c in customers}

    def write(session: Session) -> list[IssuedLink]:
        issued = []
        for customer in customers:
            row = PortalSignInLink(
                token_sha256=token_hash(tokens[customer.id]),
                customer_id=customer.id,
                email=email,
                created_at=now,
                expires_at=now + timedelta(minutes=minutes),
            )
            session.add(row)
            session.flush()
            assert row.id is not None
            issued.append(IssuedLink(row.id, tokens[customer.id], customer.id, customer.name, row.email))
        return issued

    return run_transaction(engine, write)


def redeem(engine: Engine, token: str, now: datetime | None = None) -> str | None:
    """The customer a valid, unused, unexpired token signs in as; the token is used up by this call."""
    if not token or len(token) > 200:
        return None
    now = now or datetime.now(UTC)
    digest = token_hash(token)
    use = (
        update(PortalSignInLink)
        .where(
            col(PortalSignInLink.token_sha256) == digest,
            col(PortalSignInLink.used_at).is_(None),
            col(PortalSignInLink.expires_at) > now,
        )
        .values(used_at=now)
        .returning(col(PortalSignInLink.customer_id))
    )
    customer_id = run_transaction(engine, lambda session: session.execute(use).scalar_one_or_none())
    return str(customer_id) if customer_id is not None else None
