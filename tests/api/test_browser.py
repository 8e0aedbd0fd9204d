"""The web page in real headless Chromium (Debian's, driven by Playwright): type a query, see ranked
cards with thumbnails, open one; search by an image; and the key flow when the server needs keys (its
dialog checked by axe-core in light and dark). Chromium and the ``page`` fixture come from
``browser_support``, axe from ``a11y_support``; the search page's own states: ``test_browser_search.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from a11y_support import axe_violations, shot
from api_support import READ_KEY, WRITE_KEY, Indexed, live_server

pytestmark = pytest.mark.slow


def loaded(page: Any, selector: str) -> bool:
    """Whether the <img> at ``selector`` finished loading a real picture."""
    return bool(page.eval_on_selector(selector, "img => img.complete && img.naturalWidth > 0"))


def test_type_a_query_see_cards_open_one(indexed: Indexed, page: Any, tmp_path: Path) -> None:
    with live_server(indexed.app()) as server:
        page.goto(server.url + "/")
        page.wait_for_selector("body[data-ready]")
        assert page.title() == "mmsearch"
        page.fill("#query", "quarterly revenue")
        page.press("#query", "Enter")
        page.wait_for_selector("body[data-stage=done] .card")  # the reranked order (the first comes before)
        cards = page.locator(".card")
        assert cards.count() == 8  # every unit of the corpus: 5 pages, 1 image, 2 video segments
        assert cards.nth(0).locator(".relevance-label").inner_text().endswith(" match")
        assert "best first" in page.inner_text("#status")
        page.wait_for_function("() => [...document.querySelectorAll('.card img')].every(i => i.complete)")
        assert loaded(page, ".card img")
        first_name = cards.first.locator(".file").inner_text()
        assert first_name in {p.name for p in indexed.files.values()}
        page.screenshot(path=str(tmp_path / "results.png"), full_page=True)

        cards.first.click()
        page.wait_for_selector("#viewer[open]")
        page.wait_for_function("() => document.querySelector('#viewer-image').naturalWidth > 0")
        assert page.inner_text("#viewer-title") == first_name
        page.screenshot(path=str(tmp_path / "viewer.png"))
        href = page.get_attribute("#viewer-open", "href")
        assert href and "/v1/documents/" in href and "/file" in href
        page.click("#viewer-close")
        page.wait_for_selector("#viewer[open]", state="detached")
        assert "q=quarterly+revenue" in page.url  # shareable


def test_filters_and_video_deep_link(indexed: Indexed, page: Any) -> None:
    with live_server(indexed.app()) as server:
        page.goto(server.url + "/")
        page.wait_for_selector("body[data-ready]")  # no control moves under the click any more
        page.check("input[name=kind][value=video]", force=True)
        page.fill("#query", "moving block")
        page.press("#query", "Enter")
        page.wait_for_selector(".card")
        badges = page.locator(".card .badge").all_text_contents()
        assert badges and set(badges) == {"video"}
        link = page.locator(".card .where a").first
        assert "#t=" in (link.get_attribute("href") or "")
        video_url = (link.get_attribute("href") or "").split("#")[0]
        response = page.request.get(video_url, headers={"Range": "bytes=0-15"})
        assert response.status == 206


def test_search_by_image(indexed: Indexed, page: Any) -> None:
    with live_server(indexed.app()) as server:
        page.goto(server.url + "/?refine=0")
        page.wait_for_selector("body[data-ready]")  # no control moves under the click any more
        page.set_input_files("#image-input", str(indexed.files["photo"]))
        page.wait_for_selector("#query-image:not([hidden])")
        page.wait_for_selector(".card")
        assert page.locator(".card .file").first.inner_text() == "photo-landscape.jpg"


def test_search_by_video_clip(indexed: Indexed, page: Any) -> None:
    with live_server(indexed.app()) as server:
        page.goto(server.url + "/?refine=0&kind=video")
        page.wait_for_selector("body[data-ready]")  # no control moves under the click any more
        with page.expect_response(lambda r: r.url.endswith("/v1/search")) as searched:
            page.set_input_files("#video-input", str(indexed.files["video"]))
        assert searched.value.status == 200
        assert "moving-block.mp4" in page.inner_text("#query-video-name")
        page.wait_for_selector(".card")
        assert set(page.locator(".card .badge").all_text_contents()) == {"video"}
        page.click("#query-video-clear")
        page.wait_for_selector("#query-video", state="hidden")


def test_key_flow_when_the_server_needs_keys(indexed: Indexed, page: Any) -> None:
    with live_server(indexed.app(read_keys=[READ_KEY], write_keys=[WRITE_KEY])) as server:
        page.goto(server.url + "/")
        page.wait_for_selector("#key-button:not([hidden])")
        page.fill("#query", "birds")
        page.press("#query", "Enter")
        page.wait_for_selector("#key-dialog[open]")  # no key yet: the page asks for one
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            violations = axe_violations(page)
            assert not violations, (scheme, violations)
            shot(page, f"{scheme}-key-dialog", full_page=False)
        page.fill("#key-input", "wrong-key-000000000000")
        page.click("#key-save")
        page.press("#query", "Enter")
        page.wait_for_selector("#key-dialog[open]")  # refused: asked again, and told why
        assert "API key" in page.inner_text("#notice")
        page.fill("#key-input", READ_KEY)
        page.click("#key-save")
        page.press("#query", "Enter")
        page.wait_for_selector(".card")
        page.wait_for_function("() => [...document.querySelectorAll('.card img')].every(i => i.complete)")
        assert loaded(page, ".card img")  # signed image URLs work in <img> without a header
        # The key is kept for this tab only (sessionStorage): never in localStorage or a cookie.
        assert page.evaluate("localStorage.length") == 0
        assert READ_KEY not in page.evaluate("document.cookie")
        page.reload()  # a reload keeps it: the search runs again without asking
        page.fill("#query", "birds")
        page.press("#query", "Enter")
        page.wait_for_selector(".card")
        assert page.is_hidden("#key-dialog")
        other = page.context.new_page()  # another tab does not have it
        other.goto(server.url + "/")
        other.wait_for_selector("#notice:not([hidden])")
        assert other.evaluate("sessionStorage.length") == 0 and "API key" in other.inner_text("#notice")


def test_api_docs_render_from_this_server_alone(indexed: Indexed, page: Any) -> None:
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    with live_server(indexed.app()) as server:
        page.goto(server.url + "/docs")
        operation = page.locator('.opblock-summary-path[data-path="/v1/search"]').first
        operation.wait_for(state="visible")
        assert "/v1/search" in operation.inner_text()
        assert page.locator(".opblock").count() >= 5  # every route of the API, not just the first
        assert page.title() == "mmsearch API"
    assert not console_errors, console_errors
    assert requested and all(url.startswith(server.url + "/") for url in requested), requested
