"""Attacks from a browser, in real headless Chromium against a real uvicorn on loopback:

- a write-key holder uploads a PNG and a PDF named ``report.html`` that carry a script; opening their
  file URLs runs no script (served by sniffed type, nosniff, sandbox CSP);
- a page on another loopback port posts an upload with ``fetch(..., {mode: "no-cors"})`` to a server
  with auth off: refused, nothing ingested;
- ``Host: attacker.example`` (DNS rebinding) is refused over the wire.
"""

from __future__ import annotations

import http.client
import http.server
import io
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from api_support import Indexed, LiveServer, live_server

from mmsearch.samples import make_image, make_pdf
from tests.support import NoDelayHandler

pytestmark = pytest.mark.slow

SCRIPT = b"<html><body><script>document.title='pwned';fetch('/v1/documents?leaked=1')</script></body></html>"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}  # what the web page's own fetch sends


@pytest.fixture(scope="module")
def server(indexed: Indexed) -> Iterator[LiveServer]:
    with live_server(indexed.app()) as live:  # auth off: the loopback default
        yield live


def hostile_files(folder: Path) -> dict[str, bytes]:
    """A real PNG and a real PDF (both ingest), each followed by an HTML document with a script."""
    png = make_image(folder / "x.png", "png", (64, 48)).read_bytes()
    make_pdf(folder / "x.pdf", 1)
    pdf = (folder / "x.pdf").read_bytes()
    return {"png/report.html": png + SCRIPT, "pdf/report.html": pdf + SCRIPT}


def upload(server: LiveServer, files: dict[str, bytes]) -> dict[str, str]:
    parts = [("files", (name, io.BytesIO(data), "text/html")) for name, data in files.items()]
    response = httpx.post(f"{server.url}/v1/documents", files=parts, headers=SAME_ORIGIN, timeout=60)
    assert response.status_code == 202, response.text
    job = response.json()
    deadline = time.monotonic() + 180
    while job["state"] in ("queued", "running"):  # the upload is an ingest job: follow it to its end
        assert time.monotonic() < deadline, f"job still {job['state']}: {job['progress']}"
        time.sleep(0.2)
        job = httpx.get(job["url"], timeout=10).json()
    results = job["files"]
    assert [r["status"] for r in results] == ["indexed"] * len(files), results
    return {r["name"]: r["doc_id"] for r in results}


def test_an_uploaded_report_html_runs_no_script(server: LiveServer, page: Any, tmp_path: Path) -> None:
    ids = upload(server, hostile_files(tmp_path))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        for name, expected in [("png/report.html", "image/png"), ("pdf/report.html", "application/pdf")]:
            url = f"{server.url}/v1/documents/{ids[name]}/file"
            head = httpx.get(url)
            assert head.headers["content-type"] == expected
            assert head.headers["x-content-type-options"] == "nosniff"
            assert head.headers["content-security-policy"].startswith("default-src 'none'")
            page.goto(server.url + "/")  # the web page first: the origin a script would attack
            page.goto(url)
            page.wait_for_timeout(1000)
            assert page.title() != "pwned", name
            assert page.evaluate("document.contentType") == expected
            assert page.evaluate("document.querySelectorAll('script').length") == 0
        assert not [u for u in requested if "leaked" in u], requested
        page.goto(f"{server.url}/v1/documents/{ids['png/report.html']}/file")
        assert page.evaluate("document.images[0].naturalWidth") == 64  # still viewable as an image
    finally:
        for doc_id in ids.values():
            assert httpx.delete(f"{server.url}/v1/documents/{doc_id}", headers=SAME_ORIGIN).status_code == 200


EVIL_PAGE = """<!doctype html><title>evil</title><script>
const form = new FormData();
form.append("files", new Blob([new Uint8Array(%(png)s)], {type: "image/png"}), "planted.png");
fetch("%(target)s/v1/documents", {method: "POST", mode: "no-cors", body: form})
  .then(() => { document.title = "sent"; }, (e) => { document.title = "failed " + e; });
</script>"""


@pytest.fixture
def evil_site(tmp_path: Path, server: LiveServer) -> Iterator[str]:
    """Another origin on this machine: a plain HTTP server on another loopback port."""
    png = list(make_image(tmp_path / "planted.png", "png", (40, 30)).read_bytes())
    html = (EVIL_PAGE % {"png": png, "target": server.url}).encode()

    class Handler(NoDelayHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: object) -> None:
            pass

    site = socketserver.TCPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}/"
    finally:
        site.shutdown()
        site.server_close()


def refused_writes(server: LiveServer) -> float:
    metrics = httpx.get(f"{server.url}/metrics").text
    line = 'mmsearch_http_requests_total{method="POST",route="unmatched",status="403"} '
    return sum(float(row.split()[-1]) for row in metrics.splitlines() if row.startswith(line))


def test_a_cross_origin_no_cors_upload_is_refused_with_auth_off(
    server: LiveServer,
    evil_site: str,
    page: Any,
    indexed: Indexed,
) -> None:
    before = httpx.get(f"{server.url}/v1/documents").json()["total"]
    refused = refused_writes(server)
    page.goto(evil_site)
    page.wait_for_function("document.title !== 'evil'")
    assert page.title() == "sent"  # the browser did send it (no-cors hides the answer from the page)
    assert refused_writes(server) == refused + 1  # and the server refused it
    assert httpx.get(f"{server.url}/v1/documents").json()["total"] == before
    assert not list((indexed.settings.data_dir / "uploads").rglob("planted.png"))


def test_dns_rebinding_host_is_refused_over_the_wire(server: LiveServer) -> None:
    connection = http.client.HTTPConnection(urlsplit(server.url).netloc, timeout=10)
    try:
        connection.request("GET", "/v1/documents", headers={"Host": "attacker.example"})
        response = connection.getresponse()
        body = response.read().decode()
    finally:
        connection.close()
    assert response.status == 400 and "host_not_allowed" in body
