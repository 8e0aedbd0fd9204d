"""The web sign-in on the server: the relying party, the stores of sessions and logins under way, and
the principal of a request that carries a session cookie (``session_principal``).

A session stores the user's name and IdP groups; its principal is worked out from them with the current
``access.oidc.mapping`` on each request (``principal_from_claims``), named ``oidc:<user>`` like a bearer
token of the same user, so the audit trail shows one name whichever way the user came in. A session
whose groups the mapping no longer maps to anything stands for nobody.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from starlette.requests import Request

from mmsearch.access.principal import Principal, principal_from_claims
from mmsearch.access.relying_party import RelyingParty
from mmsearch.access.sessions import LoginStore, Session, SessionStore, SqliteSessions
from mmsearch.access.settings import OidcSettings
from mmsearch.api.edge.cookies import SESSION_COOKIE
from mmsearch.config import Settings


@dataclass
class SignIn:
    settings: OidcSettings
    party: RelyingParty
    sessions: SessionStore
    logins: LoginStore

    @classmethod
    def create(cls, settings: Settings) -> SignIn | None:
        """The web sign-in of ``settings``, or None when ``access.oidc`` names no issuer or client."""
        oidc = settings.access.oidc
        if not oidc.enabled or not oidc.client_id:
            return None
        store = SqliteSessions(settings.data_dir / "sessions.sqlite")
        return cls(oidc, RelyingParty(oidc), store, store)

    def principal_of(self, user: str, groups: tuple[str, ...]) -> Principal | None:
        """What a user of these IdP groups may do now, or None (no group of theirs is mapped)."""
        claims = {"user": user, "groups": list(groups)}
        principal = principal_from_claims(claims, self.settings.grants(), "user", "groups", "session")
        return replace(principal, name=f"oidc:{user}") if principal else None

    def session(self, request: Request) -> tuple[str, Session] | None:
        """The session id the request's cookie carries and its live session, or None."""
        session_id = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.get(session_id) if session_id else None
        return (session_id, session) if session_id and session else None

    def principal(self, request: Request) -> Principal | None:
        found = self.session(request)
        return self.principal_of(found[1].user, found[1].idp_groups) if found else None


def session_principal(request: Request) -> Principal | None:
    """The principal of the request's session cookie, or None (no sign-in configured, no cookie, or a
    session that is unknown, expired, signed out, or no longer mapped to anything)."""
    signin: SignIn | None = getattr(request.app.state.ctx, "signin", None)
    return signin.principal(request) if signin else None
