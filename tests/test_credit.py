"""The credit engine on both databases: the rules, the risk score, and two orders racing for one limit."""

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from activities.credit import CreditActivities, PaymentHistory, PaymentHistoryScorer, load_scorer
from models.activity_io import CreditAssessment, CreditRecheck, RiskScore
from models.policy import CreditRules
from models.tables import BalanceAdjustment, CreditDecision, Customer, Dispute, Order
from o2c.platform.config import Settings
from o2c.platform.db import transaction
from o2c.platform.policies import PolicyFileError, load_credit_rules
from tests.seed import add_customer, add_invoice, add_order
from tests.support import Database

TODAY = datetime.now(UTC).date()


def check(db: Database, order_id: str, rules: CreditRules | None = None, scorer: Any = None) -> CreditAssessment:
    """The order's credit check, as record_order runs it in its transaction."""
    credit = CreditActivities(db.engine, rules or CreditRules(), scorer)
    with transaction(db.engine) as session:
        return credit.assess_order(session, order_id)


def reserved(db: Database, order_id: str) -> int:
    with Session(db.engine) as session:
        order = session.get(Order, order_id)
        assert order is not None
        return order.credit_reserved_minor


# ----------------------------------------------------------------------------------------- rules


def test_within_limit_approved_and_reserved_with_figures(database: Database) -> None:
    add_customer(database)
    add_order(database, "OLD", 30_00, reserved_minor=30_00)  # approved, not yet invoiced
    add_invoice(database, "INV-1", add_order(database, "PAST", 20_00), 20_00, due=TODAY + timedelta(days=5))
    add_order(database, "O1", 40_00)
    assessment = check(database, "O1")
    assert assessment.decision == "approve"
    assert assessment.figures is not None
    assert (assessment.figures.open_receivables_minor, assessment.figures.approved_not_invoiced_minor) == (20_00, 30_00)
    assert assessment.exposure_minor == 90_00
    assert assessment.limit_minor == 100_00
    assert reserved(database, "O1") == 40_00
    with Session(database.engine) as session:
        row = session.exec(select(CreditDecision).where(CreditDecision.order_id == "O1")).one()
    assert (row.decision, row.decided_by, row.exposure_minor, row.limit_minor) == (
        "approve",
        "credit-engine",
        90_00,
        100_00,
    )


def test_over_limit_held_and_nothing_reserved(database: Database) -> None:
    add_customer(database)
    add_order(database, "OLD", 70_00, reserved_minor=70_00)
    add_order(database, "O1", 40_00)
    assessment = check(database, "O1")
    assert assessment.decision == "hold"
    assert "exceed the limit" in assessment.reason
    assert reserved(database, "O1") == 0


def test_blocked_customer_rejected(database: Database) -> None:
    add_customer(database, blocked=True)
    add_order(database, "O1", 1_00)
    assessment = check(database, "O1")
    assert (assessment.decision, assessment.reason) == ("reject", "customer is blocked")


def test_overdue_history_holds_past_the_configured_days(database: Database) -> None:
    add_customer(database)
    add_invoice(database, "INV-1", add_order(database, "PAST", 5_00), 5_00, due=TODAY - timedelta(days=20))
    add_order(database, "O1", 1_00)
    no_score = {"risk_score_hold": 101}  # 101: the score never holds, so only the overdue rule speaks
    assert check(database, "O1", CreditRules(overdue_hold_days=30, **no_score)).decision == "approve"
    add_order(database, "O2", 1_00)
    held = check(database, "O2", CreditRules(overdue_hold_days=10, **no_score))
    assert held.decision == "hold"
    assert "1 invoice(s) overdue by more than 10 days" in held.reason


def test_risk_class_review_holds(database: Database) -> None:
    add_customer(database, risk_class="review")
    add_order(database, "O1", 1_00)
    assert "risk class review requires review" in check(database, "O1").reason


def test_limit_in_another_currency_holds(database: Database) -> None:
    add_customer(database)
    add_order(database, "O1", 1_00, currency="EUR")
    assessment = check(database, "O1")
    assert assessment.decision == "hold"
    assert "credit limit is in USD" in assessment.reason


def test_late_payer_held_by_risk_score(database: Database) -> None:
    add_customer(database)
    for n in range(3):  # three invoices, each paid 25 days late
        due = TODAY - timedelta(days=100 - n)
        add_invoice(
            database, f"INV-{n}", add_order(database, f"PAST{n}", 1_00), 1_00, due, paid_on=due + timedelta(days=25)
        )
    add_order(database, "O1", 1_00)
    assessment = check(database, "O1")
    assert assessment.figures is not None
    risk = assessment.figures.risk
    assert (risk.invoices_considered, risk.late_payments, risk.avg_days_beyond_terms) == (3, 3, "25.0")
    assert risk.score == 90  # 2*25 + 40*1
    assert assessment.decision == "hold"
    assert "risk score 90" in assessment.reason


def test_a_written_off_invoice_counts_as_settled_when_written_off(database: Database) -> None:
    """Settled by a write-off 40 days past due (and a part payment 5 days past due before it): 40 days late.
    One statement reads every invoice's last payment and write-off, however many invoices there are."""
    add_customer(database)
    due = TODAY - timedelta(days=90)
    order = add_order(database, "PAST", 1_00)
    add_invoice(database, "INV-W", order, 1_00, due, paid_on=due + timedelta(days=5))
    with transaction(database.engine) as session:
        session.add(
            BalanceAdjustment(
                dedupe_key="wo-1",
                kind="write_off",
                order_id=order,
                invoice_number="INV-W",
                amount_minor=50,
                reason="uncollectable",
                actor="cfo",
                created_at=datetime.combine(due + timedelta(days=40), datetime.min.time(), UTC),
            )
        )
    add_order(database, "O1", 1_00)
    risk = check(database, "O1").figures.risk  # type: ignore[union-attr]
    assert (risk.invoices_considered, risk.late_payments, risk.avg_days_beyond_terms) == (1, 1, "40.0")


def test_punctual_payer_scores_zero_and_a_newcomer_has_no_score(database: Database) -> None:
    add_customer(database)
    add_order(database, "O1", 1_00)
    assert check(database, "O1").figures.risk.score is None  # type: ignore[union-attr]
    due = TODAY - timedelta(days=40)
    add_invoice(database, "INV-1", add_order(database, "PAST", 1_00), 1_00, due, paid_on=due - timedelta(days=2))
    add_order(database, "O2", 1_00)
    assert check(database, "O2").figures.risk.score == 0  # type: ignore[union-attr]


def test_disputes_raise_the_score() -> None:
    scorer = PaymentHistoryScorer()
    calm = scorer.score("C", PaymentHistory(invoices_considered=4, late_payments=1, days_beyond_terms=8, disputes=0))
    disputed = scorer.score(
        "C", PaymentHistory(invoices_considered=4, late_payments=1, days_beyond_terms=8, disputes=3)
    )
    assert (calm.score, disputed.score) == (14, 44)  # 2*2 + 40*0.25, then + 10*3


class Bureau:
    name = "acme-bureau"

    def score(self, customer_id: str, history: PaymentHistory) -> RiskScore:
        return RiskScore(score=75, source=self.name)


def bureau() -> Bureau:
    return Bureau()


def test_an_external_score_plugs_in(database: Database) -> None:
    add_customer(database)
    add_order(database, "O1", 1_00)
    assessment = check(database, "O1", scorer=load_scorer("tests.test_credit:bureau"))
    assert assessment.decision == "hold"
    assert "risk score 75 reaches 60 (acme-bureau)" in assessment.reason


def test_rules_come_from_settings_and_bad_ones_name_the_setting() -> None:
    rules = load_credit_rules(Settings(credit_overdue_hold_days=5, credit_review_risk_classes="high"))
    assert (rules.overdue_hold_days, rules.review_risk_classes) == (5, frozenset({"high"}))
    with pytest.raises(PolicyFileError, match="unknown risk classes"):
        load_credit_rules(Settings(credit_review_risk_classes="high,shaky"))
    with pytest.raises(ValueError, match=r"package\.module:factory"):
        load_scorer("bureau")


def test_a_retried_check_answers_what_it_first_decided(database: Database) -> None:
    add_customer(database)
    add_order(database, "O1", 60_00)
    first = check(database, "O1")
    add_order(database, "OTHER", 90_00, reserved_minor=90_00)  # would hold the order if it were decided again
    assert check(database, "O1") == first
    assert reserved(database, "O1") == 60_00


def test_recheck_unchanged_until_the_customer_changes(database: Database) -> None:
    add_customer(database)
    add_order(database, "O1", 60_00)
    check(database, "O1")
    credit = CreditActivities(database.engine, CreditRules())
    env = ActivityEnvironment()
    assert env.run(credit.recheck_credit, CreditRecheck(order_id="O1", round=1)).unchanged
    with transaction(database.engine) as session:
        customer = session.get(Customer, "C1")
        assert customer is not None
        customer.blocked = True
        session.add(customer)
    again = env.run(credit.recheck_credit, CreditRecheck(order_id="O1", round=2))
    assert (again.unchanged, again.decision) == (False, "reject")


def test_disputes_count_only_inside_the_window(database: Database) -> None:
    add_customer(database)
    add_order(database, "O1", 1_00)
    with transaction(database.engine) as session:
        for n, age in enumerate((10, 400)):
            session.add(
                Dispute(
                    order_id="O1",
                    dispute_id=f"D{n}",
                    amount_minor=1,
                    reason="damaged",
                    status="open",
                    opened_by="x",
                    opened_at=datetime.now(UTC) - timedelta(days=age),
                )
            )
    assert check(database, "O1").figures.risk.disputes == 1  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------ race


@pytest.fixture
def slow_assessment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Holds every assessment open a moment after reading the exposure: without the row lock, a second
    check would read the same exposure in that moment and both orders would pass."""
    from activities.credit import CreditEngine

    original = CreditEngine.assess

    def slow(self: CreditEngine, *args: Any) -> CreditAssessment:
        result = original(self, *args)
        time.sleep(0.3)
        return result

    monkeypatch.setattr(CreditEngine, "assess", slow)


def test_two_orders_racing_for_one_limit_do_not_both_pass(database: Database, slow_assessment: None) -> None:
    add_customer(database, limit_minor=100_00)
    add_order(database, "A", 60_00)
    add_order(database, "B", 60_00)
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def run(order_id: str) -> None:
        try:
            barrier.wait(timeout=5)
            results[order_id] = check(database, order_id).decision
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(order_id,)) for order_id in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert sorted(results.values()) == ["approve", "hold"], results
    assert reserved(database, "A") + reserved(database, "B") == 60_00


def test_orders_racing_through_record_order_never_pass_the_limit_together(
    database: Database, slow_assessment: None
) -> None:
    """New orders are checked by record_order in the transaction that writes them. Six orders of one
    customer placed at once, each within the limit, any three of them over it: the approvals
    never add up past the limit (each check waits for the one before it and sees its reservation)."""
    from activities.orders import OrderActivities
    from models.activity_io import OrderRecorded, RecordOrder
    from models.contract import Customer as OrderCustomer
    from models.policy import OrderPolicy
    from tests.support import sample_order

    limit = 100_00
    add_customer(database, limit_minor=limit)
    credit = CreditActivities(database.engine, CreditRules())
    orders = OrderActivities(database.engine, Settings(database_url=database.url), OrderPolicy(), credit)
    buyer = OrderCustomer(id="C1", name="Initech", email="ap@initech.example")
    placed = [sample_order(order_id=f"RACE-{n}", customer=buyer) for n in range(6)]
    barrier = threading.Barrier(len(placed))
    results: dict[str, OrderRecorded] = {}
    errors: list[BaseException] = []

    def place(order_id: int) -> None:
        request = RecordOrder(order=placed[order_id], placed_at=datetime.now(UTC))
        try:
            barrier.wait(timeout=5)
            results[request.order.order_id] = ActivityEnvironment().run(orders.record_order, request)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=place, args=(n,)) for n in range(len(placed))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    total = next(iter(results.values())).order_total_minor
    approved = sorted(i for i, r in results.items() if r.assessment and r.assessment.decision == "approve")
    held = [i for i, r in results.items() if r.assessment and r.assessment.decision == "hold"]
    assert total * 3 > limit >= total * 2, "the test needs exactly two orders to fit"
    assert (len(approved), len(held)) == (2, 4), results
    assert sum(reserved(database, order.order_id) for order in placed) == 2 * total <= limit
    assert sorted(i for i in results if reserved(database, i)) == approved


def test_record_order_runs_the_credit_check_in_its_own_transaction(database: Database) -> None:
    """record_order checks credit in the transaction that writes the order: the decision reserved and on
    record, and a retry answers the first attempt's decision."""
    from activities.orders import OrderActivities
    from models.activity_io import RecordOrder
    from models.policy import OrderPolicy
    from tests.support import sample_order

    credit = CreditActivities(database.engine, CreditRules())
    orders = OrderActivities(database.engine, Settings(database_url=database.url), OrderPolicy(), credit)
    order = sample_order(order_id="O-NEW")  # a new customer, created with the default credit limit
    request = RecordOrder(order=order, placed_at=datetime.now(UTC))
    env = ActivityEnvironment()
    first = env.run(orders.record_order, request)
    again = env.run(orders.record_order, request)
    assert first.assessment.decision == "approve"
    assert again.assessment == first.assessment
    assert reserved(database, "O-NEW") == first.order_total_minor
    with Session(database.engine) as session:
        decisions = session.exec(select(CreditDecision).where(CreditDecision.order_id == "O-NEW")).all()
    assert [d.dedupe_key for d in decisions] == ["credit-check:O-NEW"]
