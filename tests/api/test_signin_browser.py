"""The web page signs in, in real headless Chromium, against the loopback OIDC stand-in: "Sign in" runs
the authorization-code flow and lands on the page signed in (the SameSite=Strict cookie included); the
page offers only the permitted collections and sends the chosen one with searches and uploads; a reader
sees no "Add files"; "Sign out" ends it. Chromium from ``browser_support``."""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from api_support import Indexed, live_server
from signin_support import oidc_app

from tests.oidc_standin import OidcStandIn, running_standin
from tests.support import NoDelayHandler

pytestmark = pytest.mark.slow


@pytest.fixture
def provider() -> Iterator[OidcStandIn]:
    with running_standin() as standin, login_page(standin):
        yield standin


def sign_in(page: Any, url: str) -> None:
    """Sign in as whoever the provider's ``login_as`` named, at its login page (``url``: the server as
    ``localhost``, while the provider is at 127.0.0.1: two sites). A browser sends no Strict cookie on a
    navigation another site started, so a callback that redirected to / would land signed out."""
    page.goto(url + "/")
    navigations: list[Any] = []
    page.on("request", lambda r: navigations.append(r) if r.is_navigation_request() else None)
    page.click("#sign-in")  # to the provider's login page
    page.click("#approve")  # the provider approves, sends the browser to the callback, which moves on to /
    page.wait_for_selector("#sign-out:not([hidden])")
    assert page.url == url + "/"
    last = navigations[-1]  # the callback page's own navigation to / carries the Strict cookie
    assert last.url == url + "/" and "mmsearch_session=" in (last.header_value("cookie") or "")


def site(url: str) -> str:
    return url.replace("127.0.0.1", "localhost")


@contextmanager
def login_page(provider: OidcStandIn) -> Iterator[None]:
    """Puts a login page in front of the provider's authorization endpoint, as a real provider has: a
    page on the provider's side (127.0.0.1) whose link goes on to the stand-in's own approval. The
    user's click there starts the navigation that ends at the callback, from another site than the
    server's (``localhost``)."""

    class Page(NoDelayHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            query = urlsplit(self.path).query
            link = html.escape(f"{provider.issuer}/authorize?{query}")
            body = f'<!doctype html><title>Sign in</title><a id="approve" href="{link}">Approve</a>'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    discovery = provider.discovery()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/login"
    provider.discovery = lambda: {**discovery, "authorization_endpoint": endpoint}  # type: ignore[method-assign]
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def options(page: Any) -> list[str]:
    return list(page.eval_on_selector_all("#collection option", "os => os.map(o => o.textContent)"))


def test_a_reader_signs_in_sees_only_its_collection_and_no_add_files(
    indexed: Indexed, provider: OidcStandIn, page: Any, tmp_path: Path
) -> None:
    provider.login_as("alice", ["finance-staff"])
    with live_server(oidc_app(indexed, provider, tmp_path)) as server:
        url = site(server.url)
        page.goto(url + "/")
        page.wait_for_selector("#sign-in:not([hidden])")
        assert "Sign in to search" in page.inner_text("#notice")
        assert page.is_hidden("#sign-out")
        sign_in(page, url)
        assert page.inner_text("#who") == "alice"
        assert page.is_hidden("#sign-in")
        assert page.is_hidden("#upload-button")  # a reader adds nothing
        assert page.is_visible("#collection-picker") and options(page) == ["finance"]
        cookies = {c["name"]: c for c in page.context.cookies()}
        session = cookies["mmsearch_session"]
        assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/"
        assert "mmsearch_session" not in page.evaluate("document.cookie")  # no script can read it
        assert page.evaluate("localStorage.length + sessionStorage.length") == 0  # the page holds no secret

        page.fill("#query", "quarterly revenue")
        with page.expect_request(lambda r: r.url.endswith("/v1/search")) as searched:
            page.press("#query", "Enter")
        assert json.loads(searched.value.post_data)["filters"]["collection"] == ["finance"]
        assert searched.value.response().status == 200
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('No results')")
        # (the shared corpus is all in `default`: narrowed to finance, the search finds nothing)

        page.click("#sign-out-button")
        page.wait_for_selector("#sign-in:not([hidden])")
        assert page.is_hidden("#who") and page.is_hidden("#collection-picker")
        assert "mmsearch_session" not in {c["name"] for c in page.context.cookies()}
        assert page.request.get(url + "/v1/me").status == 401


def test_a_writer_picks_a_collection_and_uploads_into_it(
    indexed: Indexed, provider: OidcStandIn, page: Any, tmp_path: Path
) -> None:
    provider.login_as("erin", ["finance-editors", "legal-staff"])
    upload = tmp_path / "note.png"
    upload.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    sent: list[Any] = []

    def capture(route: Any) -> None:  # the shared index stays as it is: the upload goes no further
        sent.append(route.request)
        route.fulfill(status=409, json={"error": {"code": "conflict", "message": "captured by the test"}})

    with live_server(oidc_app(indexed, provider, tmp_path / "data")) as server:
        sign_in(page, site(server.url))
        assert page.is_visible("#upload-button")
        assert options(page) == ["All my collections", "finance", "legal"]
        page.route("**/v1/documents", capture)
        page.set_input_files("#upload-input", str(upload))  # "All": the page asks which one first
        page.wait_for_selector("#uploads:not([hidden])")  # the uploads panel (static/uploads.js) says so
        assert "Choose the collection" in page.inner_text("#upload-jobs") and not sent
        page.select_option("#collection", "finance")
        page.set_input_files("#upload-input", str(upload))
        page.wait_for_function(
            "() => document.querySelector('#upload-jobs').textContent.includes('captured')"
        )
    assert len(sent) == 1
    body = sent[0].post_data_buffer
    collection = body.index(b'name="collection"')
    assert collection < body.index(b'name="files"')  # the collection comes before the files
    assert body[collection:].split(b"\r\n\r\n", 1)[1].startswith(b"finance\r\n")


def test_a_user_of_no_mapped_group_sees_no_access(
    indexed: Indexed, provider: OidcStandIn, page: Any, tmp_path: Path
) -> None:
    provider.login_as("bob", ["marketing"])
    with live_server(oidc_app(indexed, provider, tmp_path)) as server:
        page.goto(server.url + "/")
        page.click("#sign-in")
        page.click("#approve")
        page.wait_for_selector("#signin-title")
        assert page.inner_text("#signin-title") == "No access"
        assert "bob" in page.inner_text("#signin-message")
        assert "mmsearch_session" not in {c["name"] for c in page.context.cookies()}
