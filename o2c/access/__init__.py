"""Who may do what: the finance console's users and roles, and the approval limits per role.

Roles and what each may do are code (``roles``); users and limits are data (``users``, ``limits``), made from
the CLI (``o2c users …``) or, for single sign-on, on a user's first sign-in."""

from o2c.access.limits import LimitCheck, check_limit, set_limit
from o2c.access.roles import Permission, Role, permissions_of
from o2c.access.users import (
    AccessError,
    SignedIn,
    add_user,
    authenticate,
    find_user,
    parse_roles,
    set_password,
)

__all__ = [
    "AccessError",
    "LimitCheck",
    "Permission",
    "Role",
    "SignedIn",
    "add_user",
    "authenticate",
    "check_limit",
    "find_user",
    "parse_roles",
    "permissions_of",
    "set_limit",
    "set_password",
]
