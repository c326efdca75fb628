"""The portal's own settings (``O2C_PORTAL_*``): its secret, where it is served, how long links and sessions
last, and its colour. The seller's name and bank details are the core settings' (``O2C_SELLER_*``)."""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FILE = "portal-secret"  # noqa: S105  (the file the dev stack keeps it in, not a secret)


class PortalSecretMissing(RuntimeError):
    """The portal cannot sign sessions: the deployment lacks O2C_PORTAL_SECRET."""


class PortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="O2C_PORTAL_", env_file=".env", extra="ignore")

    # Signs session cookies and CSRF tokens. No default: a known one would let anyone forge a customer's session.
    secret: SecretStr = SecretStr("")
    port: int = 8440
    # Sign-in links point here, never at the Host header a request came with (it is the sender's to choose).
    public_url: str = "http://127.0.0.1:8440"
    link_minutes: int = Field(default=30, gt=0, le=24 * 60)
    session_hours: float = Field(default=8.0, gt=0, le=24 * 7)
    secure_cookies: bool = False  # True behind HTTPS
    colour: str = Field(default="#1d4ed8", pattern=r"^#[0-9a-fA-F]{6}$")  # the brand colour: links and buttons

    def resolved_secret(self, state_dir: Path | None = None) -> str:
        """``O2C_PORTAL_SECRET``; without it, the secret the dev stack made in ``state_dir`` (``o2c dev``)."""
        secret = self.secret.get_secret_value()
        made = state_dir / SECRET_FILE if state_dir is not None else None
        if not secret and made is not None and made.is_file():
            secret = made.read_text().strip()
        if len(secret) < 32:
            raise PortalSecretMissing(
                "set O2C_PORTAL_SECRET (32 characters or more, e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`): it signs the portal's sessions and CSRF tokens"
            )
        return secret
