"""Helpers for the web sign-in tests (imported as ``signin_support``): an app whose ``access.oidc`` points
at the loopback OIDC stand-in, with finance and legal mapped to collections."""

from __future__ import annotations

from pathlib import Path

from api_support import READ_KEY, WRITE_KEY, Indexed
from fastapi import FastAPI

from mmsearch.access.settings import AccessSettings, GroupMapping, OidcSettings
from mmsearch.api.app import create_app
from tests.oidc_standin import CLIENT_ID, CLIENT_SECRET, OidcStandIn

MAPPING = [
    GroupMapping(idp_group="finance-staff", role="reader", collections=["finance"]),
    GroupMapping(idp_group="finance-editors", role="writer", collections=["finance"]),
    GroupMapping(idp_group="legal-staff", role="reader", collections=["legal"]),
]


def oidc_app(indexed: Indexed, provider: OidcStandIn, data_dir: Path, **oidc: object) -> FastAPI:
    """The shared index served with web sign-in at ``provider`` (and the configured keys, so auth is on);
    sessions live in ``data_dir``; ``oidc`` overrides settings of ``access.oidc``."""
    base = {
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "mapping": MAPPING,
    }
    access = AccessSettings(oidc=OidcSettings.model_validate({**base, **oidc}))
    server = indexed.settings.server.model_copy(update={"read_keys": [READ_KEY], "write_keys": [WRITE_KEY]})
    settings = indexed.settings.model_copy(update={"access": access, "server": server, "data_dir": data_dir})
    return create_app(settings, indexed.services)
