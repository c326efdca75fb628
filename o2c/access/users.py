"""Console users: passwords hashed with argon2id (argon2-cffi), roles from ``roles``."""

from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine
from sqlmodel import Session

from models.tables import ConsoleUser
from o2c.access.roles import Permission, Role, permissions_of

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password anyone has")
MIN_PASSWORD = 12


class AccessError(ValueError):
    """A user or limit that cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class SignedIn:
    """The person behind a request: their username is the ``by`` of every decision they make."""

    username: str
    display_name: str
    roles: frozenset[Role]

    @property
    def permissions(self) -> frozenset[Permission]:
        return permissions_of(self.roles)

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions


def parse_roles(text: str) -> frozenset[Role]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in Role.__members__.values()]
    if unknown or not names:
        raise AccessError(f"unknown role(s) {', '.join(unknown) or '(none given)'}; roles: {', '.join(Role)}")
    return frozenset(Role(name) for name in names)


def _signed_in(user: ConsoleUser) -> SignedIn:
    return SignedIn(user.username, user.display_name, parse_roles(user.roles))


def add_user(
    engine: Engine, username: str, display_name: str, roles: str, password: str | None, email: str = ""
) -> SignedIn:
    if not username or len(username) > 64 or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise AccessError("a username is 1 to 64 letters, digits, dots, dashes or underscores")
    parsed = parse_roles(roles)
    if password is not None and len(password) < MIN_PASSWORD:
        raise AccessError(f"a password has at least {MIN_PASSWORD} characters")
    with Session(engine) as session:
        if session.get(ConsoleUser, username) is not None:
            raise AccessError(f"user {username} exists already")
        user = ConsoleUser(
            username=username,
            display_name=display_name or username,
            email=email,
            password_hash=_hasher.hash(password) if password is not None else None,
            roles=",".join(sorted(parsed)),
            created_at=datetime.now(UTC),
        )
        session.add(user)
        session.commit()
        return _signed_in(user)


def set_password(engine: Engine, username: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccessError(f"a password has at least {MIN_PASSWORD} characters")
    with Session(engine) as session:
        user = session.get(ConsoleUser, username)
        if user is None:
            raise AccessError(f"no user {username}")
        user.password_hash = _hasher.hash(password)
        user.updated_at = datetime.now(UTC)
        session.commit()


def find_user(engine: Engine, username: str) -> SignedIn | None:
    """The active user of that name, with their roles as they are now (a role taken away counts at once)."""
    with Session(engine) as session:
        user = session.get(ConsoleUser, username)
        return _signed_in(user) if user is not None and user.active else None


def authenticate(engine: Engine, username: str, password: str) -> SignedIn | None:
    with Session(engine) as session:
        user = session.get(ConsoleUser, username)
        stored = user.password_hash if user is not None and user.active else None
        try:
            _hasher.verify(stored or _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or stored is None:
            return None
        if _hasher.check_needs_rehash(stored):
            user.password_hash = _hasher.hash(password)
        user.last_sign_in_at = datetime.now(UTC)
        session.commit()
        return _signed_in(user)


def note_sign_in(engine: Engine, username: str) -> None:
    """Records a sign-in made elsewhere (single sign-on), as ``authenticate`` does for a password."""
    with Session(engine) as session:
        user = session.get(ConsoleUser, username)
        if user is not None:
            user.last_sign_in_at = datetime.now(UTC)
            session.commit()


def set_active(engine: Engine, username: str, active: bool) -> None:
    """Deactivates (or reactivates) a user: their session stops working on its next request."""
    with Session(engine) as session:
        user = session.get(ConsoleUser, username)
        if user is None:
            raise AccessError(f"no user {username}")
        user.active = active
        user.updated_at = datetime.now(UTC)
        session.commit()
