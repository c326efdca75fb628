"""Settings, only from the environment (and an optional ``.env``). Every one is documented in the README.

Temporal's own connection settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
TEMPORAL_TLS*, TEMPORAL_PROFILE) are read by the SDK's environment configuration in ``o2c.platform.temporal``.
"""

from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="O2C_", env_file=".env", extra="ignore")

    state_dir: Path = Path(".state")
    database_url: str = ""

    stripe_api_key: SecretStr = SecretStr("sk_test_localstripe")
    stripe_api_base: str = "http://127.0.0.1:8420"
    stripe_webhook_secret: SecretStr = SecretStr("whsec_local_development_only")
    stripe_timeout_seconds: float = 20.0  # below the activity's 30 s, so an activity never outlives its call
    payload_keys: SecretStr = SecretStr("")  # "id:base64key,…": the first encrypts Temporal payloads
    codec_token: SecretStr = SecretStr("")  # operators' token for the codec server
    codec_port: int = 8427
    worker_processes: int = Field(default=1, ge=1, le=64)
    worker_cache_size: int = Field(default=100, ge=0)  # workflows kept in memory per worker process
    worker_activity_slots: int = Field(default=32, ge=1)  # activities at once per process (= threads)
    worker_workflow_slots: int = Field(default=100, ge=1)  # workflow tasks at once per process
    # The Temporal SDK's Prometheus metrics from each worker process, at O2C_BIND_HOST:<port>/metrics: process
    # i of ``--processes N`` on metrics_port + i. None: off.
    metrics_port: int | None = Field(default=None, ge=1, le=65535 - 64)
    # Run workflow code in the SDK's sandbox (README: Performance). The tests always do; production may
    # trade the runtime check for about twice the throughput.
    workflow_sandbox: bool = True
    codec_ui_origins: list[str] = ["http://localhost:8233", "http://127.0.0.1:8233"]
    sendgrid_api_key: SecretStr = SecretStr("SG.local-sink")
    sendgrid_host: str = "http://127.0.0.1:8425"
    sendgrid_template_ids: dict[str, str] = {}

    mail_from: str = "billing@o2c.example.com"
    finance_email: str = "finance@o2c.example.com"
    collections_email: str = "collections@o2c.example.com"
    operations_email: str = "operations@o2c.example.com"
    invoice_series: str = Field(default="INV", pattern=r"^[A-Z]{2,6}$")
    credit_note_series: str = Field(default="CN", pattern=r"^[A-Z]{2,6}$")
    # A receipt is applied without a person only at or above this confidence, and only when nothing ties.
    cash_auto_threshold: float = Field(default=0.9, ge=0.5, le=1.0)

    seller_name: str = "o2c Demo Trading Ltd"
    seller_address: str = "1 Ledger Lane; 10115 Berlin"
    seller_country: str = Field(default="DE", pattern=r"^[A-Z]{2}$")
    seller_vat_id: str = "DE123456789"
    seller_iban: str = "DE89370400440532013000"
    seller_bic: str = "COBADEFFXXX"
    public_url: str = "http://127.0.0.1:8421"
    # Signs pay-page links. No default: one known to the public would let anyone open any invoice's page.
    payment_link_secret: SecretStr = SecretStr("")
    payment_link_days: int = Field(default=90, ge=1, le=730)  # how long a link in an email opens its page
    stripe_publishable_key: str = "pk_test_localstripe"
    stripe_js_url: str = ""

    def resolved_stripe_js_url(self) -> str:
        """Stripe.js; against localstripe, its stand-in served at ``/js.stripe.com/v3/``."""
        if self.stripe_js_url:
            return self.stripe_js_url
        if "api.stripe.com" in self.stripe_api_base:
            return "https://js.stripe.com/v3/"
        return f"{self.stripe_api_base.rstrip('/')}/js.stripe.com/v3/"

    accounts_receivable_email: str = "ar@o2c.example.com"

    default_credit_limit: Decimal = Decimal("10000")
    credit_overdue_hold_days: int = 30
    credit_review_risk_classes: str = "high,review"
    credit_risk_score_hold: int = 60
    credit_risk_lookback_days: int = 365
    credit_risk_scorer: str = "payment-history"
    credit_recheck_before_invoicing: bool = True
    credit_hold_expiry_days: int = 7
    credit_hold_reminder_days: int = 2
    fulfillment_alert_days: int = 14
    card_retry_days: str = Field(default="1,3,7", pattern=r"^(\d{1,3}(,\d{1,3})*)?$")
    email_max_attempts: int = Field(default=0, ge=0)
    sendgrid_timeout_seconds: float = 20.0
    dunning_policy_file: Path | None = None

    bind_host: str = "127.0.0.1"
    temporal_ui_port: int = 8233
    temporal_port: int = 7233
    localstripe_port: int = 8420
    webhook_port: int = 8421
    sendgrid_sink_port: int = 8425
    console_port: int = 8430
    # Signs the finance console's session cookies and CSRF tokens. No default, as for payment links.
    console_secret: SecretStr = SecretStr("")
    console_session_hours: float = Field(default=8.0, gt=0, le=24 * 7)  # a session ends this long after sign-in
    console_secure_cookies: bool = False  # True behind HTTPS: cookies are then never sent in clear
    temporal_ui_url: str = ""  # the console links each order to it; default: the dev server's UI port
    # Single sign-on (OpenID Connect): the identity provider says who someone is, console users what they may do.
    console_oidc_issuer: str = ""  # the issuer URL (discovery at <issuer>/.well-known/openid-configuration)
    console_oidc_client_id: str = ""
    console_oidc_client_secret: SecretStr = SecretStr("")  # empty: a public client (PKCE only)
    console_oidc_username_claim: str = "preferred_username"  # the ID token claim that names a console user
    console_oidc_provider_name: str = "SSO"  # the button says "Sign in with <this>"
    console_oidc_redirect_url: str = ""  # default: /sso/callback at the URL the browser used

    def resolved_temporal_ui_url(self) -> str:
        return (self.temporal_ui_url or f"http://127.0.0.1:{self.temporal_ui_port}").rstrip("/")

    log_format: str = Field(default="auto", pattern=r"^(auto|json|console)$")
    log_level: str = "INFO"

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.state_dir / 'o2c.db').resolve()}"

    def resolved_payload_keys(self) -> str:
        """``O2C_PAYLOAD_KEYS``; without it, the key the dev stack made in its state folder (so `o2c` commands
        beside a running dev stack read its payloads). Deployments always set the variable."""
        if self.payload_keys.get_secret_value():
            return self.payload_keys.get_secret_value()
        made = self.state_dir / "payload-keys"
        return made.read_text().strip() if made.is_file() else ""

    def resolved_payment_link_secret(self) -> str:
        """``O2C_PAYMENT_LINK_SECRET``; without it, the secret the dev stack made in its state folder.
        Anything else is refused: links signed with a guessable secret would open any invoice's page."""
        secret = self.payment_link_secret.get_secret_value()
        made = self.state_dir / "payment-link-secret"
        if not secret and made.is_file():
            secret = made.read_text().strip()
        if len(secret) < MIN_PAYMENT_LINK_SECRET:
            raise PaymentLinkSecretMissing(
                f"O2C_PAYMENT_LINK_SECRET is {'too short' if secret else 'not set'}: set it to a random value of "
                f"at least {MIN_PAYMENT_LINK_SECRET} characters (python -c 'import secrets; "
                "print(secrets.token_urlsafe())'), the same for the workers and the webhook receiver; "
                f"`o2c dev` makes one in {made}"
            )
        return secret

    def resolved_console_secret(self) -> str:
        """``O2C_CONSOLE_SECRET``; without it, the secret the dev stack made in its state folder."""
        secret = self.console_secret.get_secret_value()
        made = self.state_dir / "console-secret"
        if not secret and made.is_file():
            secret = made.read_text().strip()
        if len(secret) < MIN_PAYMENT_LINK_SECRET:
            raise ConsoleSecretMissing(
                f"O2C_CONSOLE_SECRET is {'too short' if secret else 'not set'}: set it to a random value of at least "
                f"{MIN_PAYMENT_LINK_SECRET} characters (python -c 'import secrets; print(secrets.token_urlsafe())'); "
                f"it signs the console's sessions and CSRF tokens. `o2c dev` makes one in {made}"
            )
        return secret


MIN_PAYMENT_LINK_SECRET = 16


class ConsoleSecretMissing(RuntimeError):
    """The finance console cannot sign sessions: the deployment lacks O2C_CONSOLE_SECRET."""


class PaymentLinkSecretMissing(RuntimeError):
    """Payment links cannot be signed or checked: the deployment lacks O2C_PAYMENT_LINK_SECRET."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
