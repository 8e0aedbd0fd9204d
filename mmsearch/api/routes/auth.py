"""The web page's sign-in: ``/auth/login``, ``/auth/callback``, ``/auth/logout`` (OpenID Connect,
authorization code with PKCE), and ``/v1/me``: who the caller is, what it may search, whether it may write.

``/auth/login`` starts a login (a random ``state`` keyed to its nonce, PKCE verifier and the hash of a
fresh login cookie, stored server-side for ten minutes) and sends the browser to the provider.
``/auth/callback`` takes that login once (a second use finds nothing), checks the login cookie, redeems
the code and validates the ID token (``access/relying_party.py``), maps the user's IdP groups
(``access.oidc.mapping``), and only then opens a session and sets its cookie (``edge/cookies.py``). A
user whose groups map to nothing gets a "no access" page and no session; any other failure a "sign-in
failed" page, and no session either.

The session cookie is ``SameSite=Strict``, and a browser sends no Strict cookie on the navigation at the
end of a redirect chain that began on another site (the provider's). So the callback does not redirect:
it answers a small page of this origin that moves on to ``/`` by itself (a meta refresh: no script, under
the page's usual Content-Security-Policy), and that navigation, started by this origin, carries the cookie.
"""

from __future__ import annotations

import hmac
import html
import logging
import secrets
import time
from collections.abc import Callable
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from mmsearch.access.audit import AuditLog, audit_sign_in, audit_sign_in_failed
from mmsearch.access.principal import Principal, Role, idp_groups
from mmsearch.access.relying_party import SignInError
from mmsearch.access.sessions import LOGIN_TTL_S, Login, Session, digest
from mmsearch.api.edge.auth import bearer_token
from mmsearch.api.edge.cookies import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    clear_login,
    clear_session,
    set_login,
    set_session,
)
from mmsearch.api.edge.headers import page_headers
from mmsearch.api.errors import ApiError, not_found
from mmsearch.api.services.audit_trail import client, known_principal
from mmsearch.api.services.context import Context, Credentials
from mmsearch.api.services.signin import SignIn, session_principal
from mmsearch.errors import MmsearchError

log = logging.getLogger(__name__)

router = APIRouter()

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
{refresh}  <title>{title} · mmsearch</title>
  <link rel="stylesheet" href="{home}static/style.css">
</head>
<body>
  <main class="signin-page">
    <h1 id="signin-title">{title}</h1>
    <p id="signin-message">{message}</p>
    <p><a class="primary-link" href="{link}">{link_text}</a></p>
  </main>
</body>
</html>
"""


def _page(request: Request, status: int, title: str, message: str, link: str, link_text: str,
          refresh: bool = False) -> HTMLResponse:  # fmt: skip
    home = _home(request)
    body = PAGE.format(
        refresh=f'  <meta http-equiv="refresh" content="0; url={html.escape(home)}">\n' if refresh else "",
        title=html.escape(title),
        message=html.escape(message),
        home=html.escape(home),
        link=html.escape(link),
        link_text=html.escape(link_text),
    )
    return HTMLResponse(body, status_code=status, headers={**page_headers(), "Cache-Control": "no-store"})


def _home(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/") + "/"


def _signin(request: Request) -> SignIn:
    signin: SignIn | None = request.app.state.ctx.signin
    if signin is None:
        raise not_found("web sign-in is not configured on this server (access.oidc.issuer and client_id)")
    return signin


def _secure(request: Request, signin: SignIn) -> bool:
    """Whether the cookies get ``Secure``: the page came over HTTPS, or the callback is an https URL."""
    return request.url.scheme == "https" or (signin.settings.redirect_url or "").startswith("https://")


@router.get("/auth/login", include_in_schema=False)
async def login(request: Request) -> Response:
    """Start a sign-in: store this login's secrets under a random state, send the browser to the provider."""
    signin = _signin(request)
    state, nonce, verifier, binding = (secrets.token_urlsafe(32) for _ in range(4))
    redirect_url = signin.settings.redirect_url or str(request.url_for("auth_callback"))
    try:
        url = await signin.party.authorization_url(state, nonce, verifier, redirect_url)
    except MmsearchError as exc:
        log.warning("sign-in could not start: %s", exc)
        return _page(request, exc.http_status, "Sign-in is unavailable", str(exc), _home(request), "Back")
    entry = Login(nonce, verifier, digest(binding), redirect_url, time.time())
    await anyio.to_thread.run_sync(signin.logins.put, state, entry)
    response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
    set_login(response, binding, int(LOGIN_TTL_S), _secure(request, signin))
    return response


@router.get("/auth/callback", name="auth_callback", include_in_schema=False)
async def callback(
    request: Request,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """Finish a sign-in: one use of the login, the code redeemed, the ID token validated, then a session."""
    signin = _signin(request)
    secure = _secure(request, signin)
    login = await anyio.to_thread.run_sync(signin.logins.take, state) if state else None
    try:
        claims = await _redeem(request, signin, login, code, error)
    except MmsearchError as exc:
        log.warning("sign-in refused: %s", exc)
        why = str(exc)
        _audit(
            lambda: audit_sign_in_failed(
                _trail(request), who=None, via="session", why=why, client=client(request)
            )
        )
        response = _page(request, exc.http_status, "Sign-in failed", str(exc), _home(request) + "auth/login",
                         "Sign in again")  # fmt: skip
        clear_login(response, secure)
        return response
    settings = signin.settings
    user = str(claims.get(settings.name_claim) or claims["sub"])
    groups = tuple(idp_groups(claims, settings.groups_claim))
    principal = signin.principal_of(user, groups)
    if principal is None:
        log.warning("sign-in of %s refused: none of its IdP groups is in access.oidc.mapping", user)
        why = "none of the user's IdP groups is in access.oidc.mapping"
        _audit(
            lambda: audit_sign_in_failed(
                _trail(request), who=f"oidc:{user}", via="session", why=why, client=client(request)
            )
        )
        message = (f"You are signed in at the identity provider as {user}, but none of your groups is given "
                   "access to this search service. Ask its administrator to add one of your groups.")  # fmt: skip
        response = _page(request, 403, "No access", message, _home(request), "Back")
        clear_login(response, secure)
        return response
    now = time.time()
    hours = settings.session_hours
    session_id = await anyio.to_thread.run_sync(
        signin.sessions.create, Session(user, groups, now, now + hours * 3600)
    )
    log.info("signed in: %s", principal.name)
    _audit(lambda: audit_sign_in(_trail(request), principal, client=client(request)))
    response = _page(
        request, 200, "Signed in", f"Signed in as {user}.", _home(request), "Continue", refresh=True
    )
    set_session(response, session_id, int(hours * 3600), secure)
    clear_login(response, secure)
    return response


def _trail(request: Request) -> AuditLog:
    trail: AuditLog = request.app.state.ctx.audit
    return trail


def _audit(record: Callable[[], None]) -> None:
    """Record a sign-in in the audit trail; a full disk is logged, and the sign-in goes on."""
    try:
        record()
    except OSError as exc:
        log.error("audit trail: could not record a sign-in: %s", exc)


async def _redeem(request: Request, signin: SignIn, login: Login | None, code: str | None,
                  error: str | None) -> dict[str, object]:  # fmt: skip
    """The validated ID token claims of this callback, or SignInError saying why there are none."""
    if login is None:
        raise SignInError("this sign-in is unknown, was already used, or took longer than ten minutes")
    if error:
        raise SignInError(f"the identity provider did not sign you in ({error})")
    binding = request.cookies.get(LOGIN_COOKIE, "")
    if not hmac.compare_digest(digest(binding), login.binding):
        raise SignInError("this sign-in was started in another browser: start it again in this one")
    if not code:
        raise SignInError("the identity provider sent no code")
    return await signin.party.sign_in(code, login)


@router.post("/auth/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    """Sign out: the session is deleted on the server and its cookie cleared."""
    signin = _signin(request)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await anyio.to_thread.run_sync(signin.sessions.delete, session_id)
    response = RedirectResponse(_home(request), status_code=303, headers={"Cache-Control": "no-store"})
    clear_session(response, _secure(request, signin))
    return response


# -- who am I ---------------------------------------------------------------------------------------


class MeOut(BaseModel):
    name: str
    role: str
    collections: list[str] | None  # null: every collection
    can_write: bool


def caller(request: Request) -> Principal | None:
    """The caller: a session cookie's user (when no Authorization header is sent), else what the audit
    trail knows (a configured key, or the anonymous principal of a server without auth), else None."""
    if bearer_token(request) is None:
        principal = session_principal(request)
        if principal is not None:
            return principal
    return known_principal(request)


@router.get("/v1/me", response_model=MeOut, tags=["info"])
def me(request: Request, ctx: Context, _: Credentials = None) -> MeOut:
    """Who this request acts for: its name, role, the collections it may search (null: all), and whether
    it may add and delete documents."""
    principal = caller(request)
    if principal is None:
        raise ApiError(401, "unauthorized", "sign in, or send `Authorization: Bearer <key>`",
                       headers={"WWW-Authenticate": 'Bearer realm="mmsearch"'})  # fmt: skip
    collections = sorted(principal.collections) if principal.collections is not None else None
    return MeOut(
        name=principal.name, role=principal.role.label, collections=collections,
        can_write=principal.role >= Role.WRITER,
    )  # fmt: skip
