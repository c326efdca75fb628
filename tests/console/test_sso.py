"""Single sign-on through an OpenID Connect provider made in the test: discovery, an authorization endpoint
that signs in whoever the test says and redirects back with a code, a token endpoint that checks the client,
the code, its redirect URI and PKCE verifier and answers with an RS256 ID token (joserfc), and a JWKS.

The provider lives at ``localhost`` and the console at ``127.0.0.1``: two sites, so Chromium treats the
provider's redirect back as cross-site, as it is in production (and leaves out the SameSite=Strict session)."""

import base64
import hashlib
import html
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import itsdangerous
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from models.tables import ConsoleUser
from o2c.access import add_user
from o2c.platform.config import Settings
from o2c.web.console import create_app
from o2c.web.console.app import SESSION_COOKIE
from tests.console.conftest import PASSWORD, SECRET
from tests.support import BackgroundServer, Database, free_port

CLIENT_ID, CLIENT_SECRET = "o2c-console", "client-secret-for-tests"


def new_key(kid: str = "k1") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})


@dataclass
class Provider:
    """An OpenID provider: who it signs in next (``user``), and what it gets wrong on purpose (``tamper``)."""

    port: int
    user: str = "sso-controller"
    key: RSAKey = field(default_factory=new_key)
    tamper: dict[str, Any] = field(default_factory=dict)  # claims of the next ID tokens to replace or add
    sign_with: RSAKey | None = None  # a key the JWKS does not have
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens_issued: int = 0

    @property
    def issuer(self) -> str:
        return f"http://localhost:{self.port}"

    async def metadata(self, _: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }
        )

    async def authorize(self, request: Request) -> Response:
        """The provider's own sign-in page (a person confirms at the provider, so the redirect back to the
        console comes from the provider's page: cross-site), then the redirect with a code."""
        if request.method == "GET":
            hidden = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in request.query_params.items()
            )
            return HTMLResponse(
                f'<!doctype html><title>Test IdP</title><form method="post" action="/authorize">{hidden}'
                f"<p>Signed in at the provider as {html.escape(self.user)}</p><button>Continue</button></form>"
            )
        asked = await request.form()
        assert (asked["client_id"], asked["response_type"]) == (CLIENT_ID, "code")
        assert asked["code_challenge_method"] == "S256" and "openid" in str(asked["scope"]).split()
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "user": self.user,
            "redirect_uri": asked["redirect_uri"],
            "nonce": asked["nonce"],
            "challenge": asked["code_challenge"],
        }
        return RedirectResponse(f"{asked['redirect_uri']}?{urlencode({'code': code, 'state': asked['state']})}", 303)

    async def token(self, request: Request) -> Response:
        data = await request.form()
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {basic}":
            return JSONResponse({"error": "invalid_client"}, 401)
        grant = self.codes.pop(str(data.get("code")), None)  # a code is good once
        verifier = str(data.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if grant is None or grant["redirect_uri"] != data.get("redirect_uri") or grant["challenge"] != challenge:
            return JSONResponse({"error": "invalid_grant"}, 400)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": f"id-{grant['user']}",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
            "preferred_username": grant["user"],
        } | self.tamper
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.sign_with or self.key)
        self.tokens_issued += 1
        return JSONResponse({"access_token": secrets.token_urlsafe(), "token_type": "Bearer", "id_token": id_token})

    async def jwks(self, _: Request) -> Response:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.metadata),
                Route("/authorize", self.authorize, methods=["GET", "POST"]),
                Route("/token", self.token, methods=["POST"]),
                Route("/jwks", self.jwks),
            ]
        )


@dataclass
class SsoConsole:
    db: Database
    provider: Provider
    app: Any
    url: str

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=self.url)

    def set_user(self, username: str, **fields: Any) -> None:
        with Session(self.db.engine) as session:
            user = session.get(ConsoleUser, username)
            assert user is not None
            for name, value in fields.items():
                setattr(user, name, value)
            session.commit()


@pytest.fixture
async def sso(sqlite_db: Database) -> AsyncIterator[SsoConsole]:
    provider = Provider(free_port())
    settings = Settings(
        database_url=sqlite_db.url,
        console_secret=SECRET,
        console_oidc_issuer=provider.issuer,
        console_oidc_client_id=CLIENT_ID,
        console_oidc_client_secret=CLIENT_SECRET,
        console_oidc_provider_name="Test IdP",
    )
    add_user(sqlite_db.engine, "sso-controller", "Sam Single-Sign-On", "credit_controller", None)
    add_user(sqlite_db.engine, "pat", "Pat Password", "auditor", PASSWORD)
    app = create_app(sqlite_db.engine, settings)
    port = free_port()
    async with BackgroundServer(provider.app(), provider.port), BackgroundServer(app, port):
        yield SsoConsole(sqlite_db, provider, app, f"http://127.0.0.1:{port}")


async def through_provider(console: SsoConsole, http: httpx.AsyncClient, next_page: str = "/") -> httpx.Response:
    """Starts the sign-in at the console, lets the provider answer, and returns the console's last answer."""
    login = await http.get("/login", params={"next": next_page})
    assert f'href="/sso/login?next={next_page}"' in login.text
    start = await http.get("/sso/login", params={"next": next_page})
    assert start.status_code == 302, start.text
    assert start.headers["location"].startswith(f"{console.provider.issuer}/authorize?")
    authorize = httpx.URL(start.headers["location"])
    async with httpx.AsyncClient() as browser:
        back = await browser.post(str(authorize.copy_with(query=None)), data=dict(authorize.params))
    assert back.status_code == 303 and back.headers["location"].startswith(f"{console.url}/sso/callback?")
    return await http.get(httpx.URL(back.headers["location"]).raw_path.decode())


def session_of(cookie: str) -> dict[str, Any]:
    content: dict[str, Any] = json.loads(base64.b64decode(itsdangerous.TimestampSigner(SECRET).unsign(cookie)))
    return content


async def signed_in_as(console: SsoConsole, username: str, cookie: str) -> None:
    """The session names the user and holds what a password sign-in's holds, nothing of the flow."""
    async with console.http() as http:
        await http.get("/login")
        form = {"username": "pat", "password": PASSWORD, "csrftoken": http.cookies["csrftoken"]}
        assert (await http.post("/login", data=form)).status_code == 303
        by_password = session_of(http.cookies[SESSION_COOKIE])
    session = session_of(cookie)
    assert session["user"] == username and set(session) == set(by_password), (session, by_password)


async def test_signing_in_through_the_provider_in_chromium(sso: SsoConsole, page: Any) -> None:
    await page.goto(f"{sso.url}/customers")  # a page behind sign-in: back there afterwards
    assert "/login" in page.url
    await page.get_by_role("button", name="Sign in with Test IdP", exact=True).click()  # a link styled as one
    await page.wait_for_url(f"{sso.provider.issuer}/authorize*")
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url(f"{sso.url}/customers*", timeout=10_000)
    assert sso.provider.tokens_issued == 1
    await page.goto(f"{sso.url}/")
    assert await page.get_by_role("heading", name="Work queues").is_visible()
    assert await page.get_by_role("button", name="Sign out Sam Single-Sign-On").is_visible()
    [cookie] = [c for c in await page.context.cookies() if c["name"] == SESSION_COOKIE]
    await signed_in_as(sso, "sso-controller", cookie["value"])
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


async def test_signed_in_over_http_as_the_named_user_and_only_once_per_code(sso: SsoConsole) -> None:
    async with sso.http() as http:
        answer = await through_provider(sso, http, "/credit-holds")
        assert (answer.status_code, answer.headers["location"]) == (303, "/credit-holds")
        await signed_in_as(sso, "sso-controller", http.cookies[SESSION_COOKIE])
        home = await http.get("/")
        assert home.status_code == 200 and "Sam Single-Sign-On" in home.text
        replay = await http.get(answer.request.url.raw_path.decode(), params={"hop": "1"})
        assert replay.status_code == 401 and "not started here" in replay.text


@pytest.mark.parametrize(
    ("case", "tamper"),
    [
        ("another client's token", {"aud": "another-client", "azp": CLIENT_ID}),
        ("one of several audiences, not ours", {"aud": ["another-client", "a-third"]}),
        ("another issuer", {"iss": "http://127.0.0.1:9/evil"}),
        ("a replayed nonce", {"nonce": "a-nonce-from-another-sign-in"}),
        ("expired", {"exp": int(time.time()) - 600, "iat": int(time.time()) - 900}),
        ("no username", {"preferred_username": ""}),
        ("signed by another key", {}),
    ],
)
async def test_a_token_that_does_not_hold_is_refused(sso: SsoConsole, case: str, tamper: dict[str, Any]) -> None:
    sso.provider.tamper = tamper
    if case == "signed by another key":
        sso.provider.sign_with = new_key("k1")
    async with sso.http() as http:
        answer = await through_provider(sso, http)
        assert answer.status_code == 401, (case, answer.status_code)
        assert "Not signed in" in answer.text
        assert SESSION_COOKIE not in http.cookies or "user" not in session_of(http.cookies[SESSION_COOKIE])
        assert (await http.get("/")).status_code == 303
    assert sso.provider.tokens_issued == 1


@pytest.mark.parametrize("who", ["unknown", "inactive"])
async def test_a_person_the_console_does_not_know_is_refused(sso: SsoConsole, who: str) -> None:
    if who == "unknown":
        sso.provider.user = "stranger"
    else:
        sso.set_user("sso-controller", active=False)
    async with sso.http() as http:
        answer = await through_provider(sso, http)
        assert answer.status_code == 403
        assert "no active user of that name" in answer.text and sso.provider.user in answer.text
        assert (await http.get("/")).status_code == 303
    sso.set_user("sso-controller", active=True)
    sso.provider.user = "sso-controller"
    async with sso.http() as http:
        assert (await through_provider(sso, http)).status_code == 303, "the same flow, for a known active user"


async def test_a_callback_not_started_here_is_refused(sso: SsoConsole) -> None:
    async with sso.http() as http:
        first = await http.get("/sso/callback", params={"code": "stolen", "state": '"><script>alert(1)</script>'})
        assert first.status_code == 200 and 'http-equiv="refresh"' in first.text and "<script>" not in first.text
        again = await http.get("/sso/callback", params={"code": "stolen", "state": "guessed", "hop": "1"})
        assert again.status_code == 401 and "not started here" in again.text
        error = await http.get("/sso/callback", params={"error": "access_denied", "hop": "1"})
        assert error.status_code == 401 and "access_denied" in error.text


async def test_without_configuration_there_is_no_button_and_no_flow(sqlite_db: Database) -> None:
    app = create_app(sqlite_db.engine, Settings(database_url=sqlite_db.url, console_secret=SECRET))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as http:
        login = await http.get("/login")
        assert "Sign in with" not in login.text
        assert (await http.get("/sso/login")).status_code == 404


async def test_an_unreachable_provider_is_a_page_not_a_crash(sqlite_db: Database) -> None:
    settings = Settings(
        database_url=sqlite_db.url,
        console_secret=SECRET,
        console_oidc_issuer=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        console_oidc_client_id=CLIENT_ID,
    )
    app = create_app(sqlite_db.engine, settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test") as http:
        answer = await http.get("/sso/login")
        assert answer.status_code == 502 and "did not answer" in answer.text


async def test_a_token_for_several_audiences_including_ours_is_accepted(sso: SsoConsole) -> None:
    sso.provider.tamper = {"aud": ["another-api", CLIENT_ID], "azp": CLIENT_ID}
    async with sso.http() as http:
        assert (await through_provider(sso, http)).status_code == 303
        await signed_in_as(sso, "sso-controller", http.cookies[SESSION_COOKIE])
