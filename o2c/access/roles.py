"""The roles of finance's people and what each may do. Every console action names one permission; a
role that lacks it is refused, whether it clicked a button or posted the form by hand."""

from enum import StrEnum


class Role(StrEnum):
    AR_CLERK = "ar_clerk"
    CREDIT_CONTROLLER = "credit_controller"
    COLLECTOR = "collector"
    FINANCE_MANAGER = "finance_manager"
    AUDITOR = "auditor"  # reads everything, decides nothing


class Permission(StrEnum):
    VIEW = "view"
    DECIDE_CREDIT = "decide_credit"  # approve or reject a credit hold
    APPLY_CASH = "apply_cash"  # apply an unapplied receipt to invoices
    RESOLVE_DISPUTE = "resolve_dispute"
    COLLECT = "collect"  # call notes, promises to pay, escalations
    REQUEST_WRITE_OFF = "request_write_off"  # up to the role's limit alone, above it a manager approves
    REQUEST_REFUND = "request_refund"
    APPROVE = "approve"  # a write-off or refund above someone's limit
    EDIT_CUSTOMER = "edit_customer"  # the customer master, through CustomerMasterChange


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.AR_CLERK: frozenset(
        {
            Permission.VIEW,
            Permission.APPLY_CASH,
            Permission.RESOLVE_DISPUTE,
            Permission.REQUEST_WRITE_OFF,
            Permission.REQUEST_REFUND,
            Permission.EDIT_CUSTOMER,
        }
    ),
    Role.CREDIT_CONTROLLER: frozenset(
        {Permission.VIEW, Permission.DECIDE_CREDIT, Permission.EDIT_CUSTOMER, Permission.RESOLVE_DISPUTE}
    ),
    Role.COLLECTOR: frozenset({Permission.VIEW, Permission.COLLECT, Permission.REQUEST_WRITE_OFF}),
    Role.FINANCE_MANAGER: frozenset(Permission),
    Role.AUDITOR: frozenset({Permission.VIEW}),
}


def permissions_of(roles: frozenset[Role]) -> frozenset[Permission]:
    return frozenset().union(*(ROLE_PERMISSIONS[role] for role in roles)) if roles else frozenset()
