"""Single sign-on with OpenID Connect (Authlib): the organisation's identity provider says who someone is, our
database says what they may do. The ID token's username claim must name an active console user (``o2c users
add NAME --roles … --sso-only``); the session is then the one a password sign-in makes.

Authlib runs the authorization code flow with PKCE and a nonce, keeps its state in the session, and checks the
ID token's signature against the provider's JWKS. We also require the token's issuer to be the configured one
and its audience to include our client id (Authlib checks ``azp`` but not ``aud``)."""

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from authlib.integrations.starlette_client import OAuth, OAuthError, StarletteOAuth2App
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from o2c.access.users import find_user, note_sign_in
from o2c.platform.config import Settings
from o2c.web.console.pages import render, start_session, state, templates

log = structlog.get_logger("o2c.web.console.sso")
NAME = "oidc"
NEXT = "sso_next"
# Authlib talks HTTP through httpx2 where it is installed, else through httpx: a provider that cannot be
# reached raises the error of whichever it uses.
HTTP_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError,) + (
    (importlib.import_module("httpx2").HTTPError,) if importlib.util.find_spec("httpx2") else ()
)


@dataclass(frozen=True)
class SingleSignOn:
    """The configured identity provider, as the sign-in page and the two routes below need it."""

    name: str  # shown on the button: "Sign in with <name>"
    issuer: str
    client: StarletteOAuth2App
    username_claim: str
    redirect_url: str

    def claims_options(self) -> dict[str, Any]:
        return {
            "iss": {"essential": True, "value": self.issuer},
            "aud": {"essential": True, "value": self.client.client_id},
        }


def registry(settings: Settings) -> SingleSignOn | None:
    """The provider from ``O2C_CONSOLE_OIDC_*``, or None when single sign-on is not configured."""
    if not (settings.console_oidc_issuer and settings.console_oidc_client_id):
        return None
    issuer = settings.console_oidc_issuer.rstrip("/")
    secret = settings.console_oidc_client_secret.get_secret_value()
    oauth = OAuth()
    client = oauth.register(
        NAME,
        client_id=settings.console_oidc_client_id,
        client_secret=secret or None,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": "openid profile email",
            "code_challenge_method": "S256",
            "timeout": 15.0,
            **({} if secret else {"token_endpoint_auth_method": "none"}),
        },
    )
    return SingleSignOn(
        settings.console_oidc_provider_name,
        issuer,
        client,
        settings.console_oidc_username_claim,
        settings.console_oidc_redirect_url,
    )


def configured(request: Request) -> SingleSignOn | None:
    sso: SingleSignOn | None = getattr(request.app.state, "sso", None)
    return sso


def _next(raw: str) -> str:
    return raw if raw.startswith("/") and not raw.startswith("//") else "/"


def _refused(request: Request, sso: SingleSignOn, message: str, status_code: int, **why: Any) -> Response:
    log.warning("console single sign-on refused", reason=message, **why)
    return render(request, "sso/refused.html", {"title": "Not signed in", "message": message, "sso": sso}, status_code)


def _not_configured(request: Request) -> Response:
    return render(
        request, "error.html", {"title": "Not found", "message": "Single sign-on is not configured here."}, 404
    )


async def sso_login(request: Request) -> Response:
    """Sends the browser to the identity provider. A GET (a link on the sign-in page): the CSP's
    ``form-action 'self'`` stops a form whose answer redirects to another origin. Starting a sign-in signs
    no one in; the callback takes only the flow this browser's session started."""
    sso = configured(request)
    if sso is None:
        return _not_configured(request)
    redirect_url = sso.redirect_url or str(request.url_for("sso_callback"))
    try:
        answer: Response = await sso.client.authorize_redirect(request, redirect_url)
    except (*HTTP_ERRORS, OAuthError, ValueError) as exc:
        return _refused(request, sso, f"{sso.name} did not answer: try again in a moment.", 502, error=str(exc))
    request.session[NEXT] = _next(request.query_params.get("next", "/"))
    return answer


def _has_flow(request: Request) -> bool:
    return any(key.startswith(f"_state_{NAME}_") for key in request.session)


async def sso_callback(request: Request) -> Response:
    """Where the identity provider sends the browser back. The session cookie is SameSite=Strict, so the
    browser leaves it out of this cross-site redirect: the first answer sends the browser to the same URL
    from our own page (then the cookie comes along); only that second request signs in."""
    sso = configured(request)
    if sso is None:
        return _not_configured(request)
    if not _has_flow(request) and "hop" not in request.query_params:
        again = request.url.include_query_params(hop="1")
        return templates.TemplateResponse(request, "sso/continue.html", {"url": f"{again.path}?{again.query}"})
    if "error" in request.query_params:
        error = request.query_params.get("error_description") or request.query_params["error"]
        return _refused(request, sso, f"{sso.name} did not sign you in: {error}", 401, error=error)
    if not _has_flow(request):
        return _refused(request, sso, "This sign-in was not started here, or took too long. Start again.", 401)
    try:
        token = await sso.client.authorize_access_token(request, claims_options=sso.claims_options())
    except (*HTTP_ERRORS, OAuthError, JoseError, ValueError) as exc:
        return _refused(request, sso, f"{sso.name}'s answer was not accepted. Start again.", 401, error=repr(exc))
    claims = token.get("userinfo")
    username = str((claims or {}).get(sso.username_claim) or "")
    if not username:
        message = f"{sso.name} did not say who you are (no {sso.username_claim} in its ID token)."
        return _refused(request, sso, message, 401)
    user = await run_in_threadpool(find_user, state(request).engine, username)
    if user is None:
        message = (
            f"{sso.name} signed you in as {username}, but the console has no active user of that name. "
            "A finance manager can add you."
        )
        return _refused(request, sso, message, 403, username=username)
    target = _next(str(request.session.get(NEXT, "/")))
    start_session(request, user.username)
    await run_in_threadpool(note_sign_in, state(request).engine, user.username)
    log.info("console single sign-on", username=user.username, issuer=sso.issuer)
    return RedirectResponse(target, status_code=303)


routes = [
    Route("/sso/login", sso_login, name="sso_login"),
    Route("/sso/callback", sso_callback, name="sso_callback"),
]
