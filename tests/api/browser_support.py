"""The headless Chromium of the browser tests (imported as ``browser_support``): where Chromium is, how it
is launched, and the ``chromium`` and ``page`` fixtures (``conftest.py`` offers them to every API test); a page fails its test on a JavaScript error or a
Content Security Policy violation.

Chromium comes from ``scripts/install_chromium.sh`` (``apt-get install chromium``), never from
``playwright install``. Without it the tests skip locally, and fail under CI (``CI=true``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 60_000


def chromium_path() -> str:
    candidates = [os.environ.get("MMSEARCH_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                  shutil.which("chromium-browser")]  # fmt: skip
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    missing("no chromium found (run scripts/install_chromium.sh, or set MMSEARCH_CHROMIUM)")
    raise AssertionError("unreachable")


def missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    # Playwright turns file-chooser interception on when the first "filechooser" listener is added, with
    # a message it does not wait for (channel_owner.py `_update_subscription`: fire_and_forget), and off
    # again when the last one goes. Inside `expect_file_chooser` that races the click that opens the
    # picker: on a loaded machine the picker opened before interception and the event never came.
    # One listener for the page's whole life keeps interception on from the start.
    page.on("filechooser", lambda chooser: None)
    page.evaluate("0")  # a round trip: the subscription has reached the browser
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors or CSP violations on the page: {errors}"
