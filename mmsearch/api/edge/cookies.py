"""The web sign-in's two cookies: their names and attributes.

``mmsearch_session`` carries only a random session id (``access/sessions.py`` keeps the rest): HttpOnly
(no script reads it), ``SameSite=Strict`` (no other site's page sends it), ``Path=/``, and ``Secure``
when the page is served over HTTPS. A request that carries it and changes something must pass the
Origin rule (``guard.py``), which also stops pages of sibling hosts ("same-site", so Strict still sends).

``mmsearch_login`` binds a login under way to the browser that started it, so that nobody can finish a
sign-in of theirs in someone else's browser (login CSRF): ``SameSite=Lax``, because the provider sends
the browser back to ``/auth/callback`` from another site, and a Strict cookie would not come along.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import Response

SESSION_COOKIE = "mmsearch_session"
LOGIN_COOKIE = "mmsearch_login"
LOGIN_PATH = "/auth/"


def set_session(response: Response, session_id: str, max_age_s: int, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=max_age_s,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def clear_session(response: Response, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="strict")


def set_login(response: Response, binding: str, max_age_s: int, secure: bool) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        binding,
        max_age=max_age_s,
        path=LOGIN_PATH,
        secure=secure,
        httponly=True,
        samesite="lax",
    )


def clear_login(response: Response, secure: bool) -> None:
    response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH, secure=secure, httponly=True, samesite="lax")


def carries_session(headers: Headers) -> bool:
    """Whether a request sends the session cookie (with any value)."""
    return SESSION_COOKIE in cookie_parser(headers.get("cookie", ""))
