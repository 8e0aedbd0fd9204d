"""``mmsearch serve``: the REST API and web page under uvicorn."""

from __future__ import annotations

import logging

import click

from mmsearch.cli.app import AppContext, pass_app
from mmsearch.config import Settings
from mmsearch.index.store import Store

log = logging.getLogger(__name__)


@click.command()
@click.option("--host", help="Address to bind (server.host, default 127.0.0.1; 0.0.0.0 needs API keys).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (server.port, default 8000).")
@click.option("--proxy-headers/--no-proxy-headers", default=False, help="Trust X-Forwarded-* from a proxy.")
@pass_app
def serve(app: AppContext, host: str | None, port: int | None, proxy_headers: bool) -> None:
    """Serve the search API (OpenAPI at /docs) and the web page (at /).

    The server owns the store: while it runs, ingest through it (`mmsearch ingest --server URL`);
    a local `mmsearch ingest` on an embedded store fails with "store locked".

    \b
    Examples:
      mmsearch serve                                  # http://127.0.0.1:8000, no keys needed
      MMSEARCH_SERVER__READ_KEYS=... MMSEARCH_SERVER__WRITE_KEYS=... \\
        MMSEARCH_SERVER__ALLOWED_HOSTS=search.example.com mmsearch serve --host 0.0.0.0
    """
    import uvicorn

    from mmsearch.api.app import create_app
    from mmsearch.api.edge.access_log import log_config, protect_root
    from mmsearch.api.edge.auth import Authenticator
    from mmsearch.api.edge.guard import HostRule
    from mmsearch.api.edge.timeouts import uvicorn_options
    from mmsearch.api.services.parts import open_services

    settings = app.settings({"server": {"host": host, "port": port}})
    server = settings.server
    Authenticator.create(settings)  # check auth before loading any model: no keys on 0.0.0.0 fails here
    HostRule(server)  # and the names it may be reached by: none listed on 0.0.0.0 fails here
    services = open_services(settings)  # store first: "store locked" before a model loads
    try:
        warn_if_preprocessing_differs(services.store, settings)
        application = create_app(settings, services)
        secrets = [*server.read_keys, *server.write_keys, *_configured_secrets(settings)]
        protect_root(secrets)
        log.info("mmsearch on http://%s:%d (web page at /, API docs at /docs)", server.host, server.port)
        uvicorn.run(
            application,
            host=server.host,
            port=server.port,
            log_level=server.log_level,
            proxy_headers=proxy_headers,
            forwarded_allow_ips="*" if proxy_headers else None,
            timeout_graceful_shutdown=30,
            **uvicorn_options(server),  # head and body read timeouts, the connection cap (edge/timeouts.py)
            access_log=False,  # mmsearch's own (edge/access_log.py): with the principal, no signature
            log_config=log_config(server.log_level, secrets),
        )
    finally:
        services.close()


def _configured_secrets(settings: Settings) -> list[str]:
    """Secrets from the configuration that no log line may show (keys are added by the caller)."""
    found = [settings.server.url_secret, settings.access.oidc.client_secret]
    return [s for s in found if s]


def warn_if_preprocessing_differs(store: Store, settings: Settings) -> None:
    """At start-up: a warning when the collection's vectors were made by preprocessing this environment
    renders differently for a modality it holds (``index/fingerprint.py``); serving goes on."""
    from mmsearch.index.fingerprint import check

    where = f"collection '{settings.store.collection}'"
    status = check(store, settings.embedding, where, lambda: store.stats().by_modality)
    if status.warning:
        click.echo(f"Warning: {status.warning}", err=True)
