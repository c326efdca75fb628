"""Loads the order policy finance configures: durations from settings, dunning steps from a JSON file."""

import json
from datetime import timedelta

from pydantic import ValidationError

from models.policy import DEFAULT_DUNNING, CreditRules, DunningPolicy, OrderPolicy
from o2c.config import Settings


class PolicyFileError(ValueError):
    pass


def load_dunning_policy(text: str, source: str) -> DunningPolicy:
    try:
        return DunningPolicy.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise PolicyFileError(f"{source}: not JSON ({exc})") from exc
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            if len(error["loc"]) >= 2 and error["loc"][0] == "steps" and isinstance(error["loc"][1], int):
                where = f"step {error['loc'][1] + 1} ({'.'.join(str(p) for p in error['loc'][2:])})"
            problems.append(f"{where or 'policy'}: {error['msg']}")
        raise PolicyFileError(f"{source}: " + "; ".join(problems)) from exc


def load_order_policy(settings: Settings) -> OrderPolicy:
    dunning = DEFAULT_DUNNING
    if settings.dunning_policy_file is not None:
        path = settings.dunning_policy_file
        dunning = load_dunning_policy(path.read_text(), str(path))
    return OrderPolicy(
        credit_hold_expiry=timedelta(days=settings.credit_hold_expiry_days),
        credit_hold_reminder=timedelta(days=settings.credit_hold_reminder_days),
        credit_recheck_before_invoicing=settings.credit_recheck_before_invoicing,
        fulfillment_alert=timedelta(days=settings.fulfillment_alert_days),
        dunning=dunning,
    )


def load_credit_rules(settings: Settings) -> CreditRules:
    """The credit rules from settings; a bad value fails the worker at start, naming the setting."""
    try:
        return CreditRules(
            overdue_hold_days=settings.credit_overdue_hold_days,
            review_risk_classes=frozenset(
                part.strip() for part in settings.credit_review_risk_classes.split(",") if part.strip()
            ),
            risk_score_hold=settings.credit_risk_score_hold,
            risk_lookback_days=settings.credit_risk_lookback_days,
            risk_scorer=settings.credit_risk_scorer,
        )
    except ValidationError as exc:
        problems = [f"O2C_CREDIT_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()]
        raise PolicyFileError("; ".join(problems)) from exc
