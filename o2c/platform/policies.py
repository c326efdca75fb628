"""Loads the order policy finance configures: durations from settings, dunning steps from a JSON file."""

import json
from datetime import timedelta

from pydantic import ValidationError

from models.policy import DEFAULT_DUNNING, CreditRules, DunningPolicies, DunningPolicy, OrderPolicy
from o2c.platform.config import Settings


class PolicyFileError(ValueError):
    pass


def load_dunning_policy(text: str, source: str) -> DunningPolicy:
    return load_dunning_policies(text, source).default


def load_dunning_policies(text: str, source: str) -> DunningPolicies:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyFileError(f"{source}: not JSON ({exc})") from exc
    if isinstance(data, dict) and "steps" in data:
        data = {"default": data}
    try:
        return DunningPolicies.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_where(error['loc'])}: {error['msg']}" for error in exc.errors()]
        raise PolicyFileError(f"{source}: " + "; ".join(problems)) from exc


def _where(loc: tuple[int | str, ...]) -> str:
    """``default.steps.1.offset_days`` as a person reads it: ``step 2 (offset_days)`` of the default policy."""
    parts = list(loc)
    policy = "default policy"
    if parts[:1] == ["default"]:
        parts = parts[1:]
    elif parts[:1] == ["segments"] and len(parts) >= 2:
        policy, parts = f"segment {parts[1]}", parts[2:]
    if len(parts) >= 2 and parts[0] == "steps" and isinstance(parts[1], int):
        return f"{policy}, step {parts[1] + 1} ({'.'.join(str(p) for p in parts[2:]) or 'step'})"
    return f"{policy}: {'.'.join(str(p) for p in parts) or 'policy'}"


def load_policies(settings: Settings) -> DunningPolicies:
    if settings.dunning_policy_file is None:
        return DunningPolicies(default=DEFAULT_DUNNING)
    path = settings.dunning_policy_file
    return load_dunning_policies(path.read_text(), str(path))


def load_order_policy(settings: Settings) -> OrderPolicy:
    dunning = load_policies(settings).default
    return OrderPolicy(
        credit_hold_expiry=timedelta(days=settings.credit_hold_expiry_days),
        credit_hold_reminder=timedelta(days=settings.credit_hold_reminder_days),
        credit_recheck_before_invoicing=settings.credit_recheck_before_invoicing,
        card_retry_days=tuple(sorted(int(d) for d in settings.card_retry_days.split(",") if d)),
        email_max_attempts=settings.email_max_attempts,
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
