"""OIDC bearer tokens: a JWT from the company's identity provider, checked by ``idp.py``, turned into a
principal.

A token's ``aud`` must hold ``audience`` (else ``client_id``); everything else a token must satisfy, and
where the keys come from, is in ``idp.py``. Every invalid token is ``TokenRejected`` (401) with one
message whatever the reason (the reason goes to the debug log); ``IdpUnavailable`` (503) when the keys
cannot be fetched.
"""

from __future__ import annotations

import logging
from typing import Any

from mmsearch.access.idp import REFETCH_S, Fetch, IdentityProvider, TokenRejected
from mmsearch.access.principal import Principal, principal_from_claims
from mmsearch.access.settings import OidcSettings
from mmsearch.errors import ConfigError

log = logging.getLogger(__name__)

MAX_TOKEN_CHARS = 16_384


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and len(token) <= MAX_TOKEN_CHARS


class OidcValidator:
    """Checks bearer tokens of one provider (``access.oidc``) and maps them to principals."""

    def __init__(
        self, settings: OidcSettings, fetch: Fetch | None = None, refetch_s: float = REFETCH_S
    ) -> None:
        self.provider = IdentityProvider(settings, fetch, refetch_s)  # ConfigError without an issuer
        audience = settings.audience or settings.client_id
        if audience is None:
            raise ConfigError(
                "access.oidc needs audience or client_id: the aud a bearer token must carry "
                "(the client id this app has at the provider)"
            )
        self.settings = settings
        self.issuer = self.provider.issuer
        self.audience = audience
        self.grants = settings.grants()

    def claims(self, token: str) -> dict[str, Any]:
        """The claims of a valid token; ``TokenRejected`` otherwise."""
        if not looks_like_jwt(token):
            raise TokenRejected("invalid token")
        try:
            return self.provider.claims(token, self.audience)
        except TokenRejected as exc:
            log.debug("bearer token refused: %s", exc)
            raise TokenRejected("invalid token") from exc

    def principal(self, token: str) -> Principal | None:
        """The principal of a valid token, or None when none of its groups is mapped (a 403 for the
        caller); ``TokenRejected`` for an invalid one."""
        s = self.settings
        return principal_from_claims(self.claims(token), self.grants, s.name_claim, s.groups_claim, "oidc")
