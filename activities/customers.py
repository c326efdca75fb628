"""The customer master: credit limit and currency, risk class, default terms, billing contact, block.

Each change is one transaction: the customer's row (locked, so it never interleaves with a credit check),
one ``customer_changes`` row per field changed and an audit entry. The change id makes a retry (or a
resend by finance) find the change already made and answer the same.
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from activities.context import business_error, log
from activities.credit import lock_customer
from activities.records import audit
from models.activity_io import ChangeCustomerRequest, ErrorType
from models.contract import ChangeCustomer, CustomerChanged, FieldChange
from models.money import MoneyError, check_precision, from_minor, to_minor
from models.tables import AuditEntry, Customer, CustomerChange
from o2c.platform.config import Settings
from o2c.platform.db import transaction

# Changes to these reach the accounts-receivable team by email: they are what invoices are made from.
BILLING_FIELDS = frozenset(
    {"name", "email", "billing_name", "billing_email", "billing_address", "vat_id", "payment_terms"}
)
PLAIN_FIELDS = (
    "name",
    "email",
    "currency",
    "risk_class",
    "billing_name",
    "billing_email",
    "billing_address",
    "vat_id",
    "dunning_segment",
)


def current_values(customer: Customer) -> dict[str, str | None]:
    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    values = {name: text(getattr(customer, name)) for name in PLAIN_FIELDS}
    values["credit_limit"] = (
        None if customer.credit_limit_minor is None else str(from_minor(customer.credit_limit_minor, customer.currency))
    )
    values["payment_terms"] = customer.payment_terms
    values["blocked"] = "true" if customer.blocked else "false"
    return values


def describe_changes(customer_id: str, changes: list[FieldChange], by: str, reason: str) -> str:
    lines = [f"{c.field}: {c.old if c.old is not None else '(none)'} -> {c.new}" for c in changes]
    return f"customer {customer_id}, changed by {by} ({reason}):\n" + "\n".join(lines)


class CustomerActivities:
    def __init__(self, engine: Engine, settings: Settings, segments: frozenset[str] = frozenset()) -> None:
        self._engine = engine
        self._settings = settings
        self._segments = segments

    @activity.defn(name="change_customer")
    def change_customer(self, request: ChangeCustomerRequest) -> CustomerChanged:
        change, change_id = request.change, request.change_id
        with transaction(self._engine) as session:
            done = self._already_done(session, change, change_id)
            if done is not None:
                return done
            created = session.get(Customer, change.customer_id) is None
            customer = (
                self._create(session, change) if created else lock_customer(session, self._engine, change.customer_id)
            )
            before = {} if created else current_values(customer)
            self._apply(customer, change)
            customer.updated_at = datetime.now(UTC)
            session.add(customer)
            after = current_values(customer)
            changes = [
                FieldChange(field=name, old=before.get(name), new=value)
                for name, value in after.items()
                if before.get(name) != value and (not created or value is not None)
            ]
            for item in changes:
                session.add(
                    CustomerChange(
                        change_id=change_id,
                        customer_id=customer.id,
                        field=item.field,
                        old_value=item.old,
                        new_value=item.new,
                        actor=change.by,
                        reason=change.reason,
                        created_at=customer.updated_at,
                    )
                )
            audit(
                session,
                f"customer-change:{change_id}",
                None,
                "customer_created" if created else "customer_changed",
                change.by,
                describe_changes(customer.id, changes, change.by, change.reason),
            )
        log(None, customer_id=change.customer_id, change_id=change_id).info(
            "customer master changed", fields=[c.field for c in changes], created=created
        )
        return CustomerChanged(
            customer_id=change.customer_id,
            change_id=change_id,
            created=created,
            changes=changes,
            billing_changed=any(c.field in BILLING_FIELDS for c in changes) and not created,
            accounts_receivable_notified=False,
        )

    def _already_done(self, session: Session, change: ChangeCustomer, change_id: str) -> CustomerChanged | None:
        entry = session.exec(select(AuditEntry).where(AuditEntry.dedupe_key == f"customer-change:{change_id}")).first()
        if entry is None:
            return None
        rows = session.exec(
            select(CustomerChange).where(CustomerChange.change_id == change_id).order_by(col(CustomerChange.id))
        ).all()
        if rows and rows[0].customer_id != change.customer_id:
            raise business_error(ErrorType.INVALID_CHANGE, f"change id {change_id} was used for another customer")
        changes = [FieldChange(field=r.field, old=r.old_value, new=r.new_value) for r in rows]
        created = entry.event == "customer_created"
        return CustomerChanged(
            customer_id=change.customer_id,
            change_id=change_id,
            created=created,
            changes=changes,
            billing_changed=any(c.field in BILLING_FIELDS for c in changes) and not created,
            accounts_receivable_notified=False,
        )

    def _create(self, session: Session, change: ChangeCustomer) -> Customer:
        missing = [name for name in ("name", "email", "currency") if getattr(change, name) is None]
        if missing:
            raise business_error(
                ErrorType.INVALID_CHANGE,
                f"customer {change.customer_id} is not in the master yet; creating it needs {', '.join(missing)}",
            )
        assert change.name is not None
        assert change.currency is not None
        default_limit = Decimal(self._settings.default_credit_limit).quantize(Decimal(1))
        customer = Customer(
            id=change.customer_id,
            name=change.name,
            email=str(change.email),
            currency=change.currency,
            credit_limit_minor=to_minor(default_limit, change.currency),
            created_at=datetime.now(UTC),
        )
        session.add(customer)
        session.flush()
        return customer

    def _apply(self, customer: Customer, change: ChangeCustomer) -> None:
        if change.currency is not None and change.currency != customer.currency and change.credit_limit is None:
            raise business_error(
                ErrorType.INVALID_CHANGE,
                f"the credit limit is in {customer.currency}: "
                f"give the new limit in {change.currency} together with the currency",
            )
        currency = change.currency or customer.currency
        if change.credit_limit is not None:
            try:
                check_precision(change.credit_limit, currency, "credit limit")
            except MoneyError as exc:
                raise business_error(ErrorType.INVALID_CHANGE, str(exc)) from exc
            customer.credit_limit_minor = to_minor(change.credit_limit, currency)
        customer.currency = currency
        if change.dunning_segment is not None:
            if change.dunning_segment not in self._segments:
                known = ", ".join(sorted(self._segments)) or "none: the dunning policy file defines no segments"
                raise business_error(
                    ErrorType.INVALID_CHANGE, f"no dunning segment {change.dunning_segment!r} (known: {known})"
                )
            customer.dunning_segment = change.dunning_segment
        for name in ("name", "billing_name", "billing_address", "vat_id"):
            value = getattr(change, name)
            if value is not None:
                setattr(customer, name, value)
        for name in ("email", "billing_email"):
            value = getattr(change, name)
            if value is not None:
                setattr(customer, name, str(value))
        if change.risk_class is not None:
            customer.risk_class = change.risk_class.value
        if change.payment_terms is not None:
            customer.payment_terms = change.payment_terms.model_dump_json()
        if change.blocked is not None:
            customer.blocked = change.blocked
