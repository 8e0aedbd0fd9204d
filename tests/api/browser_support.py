"""The headless Chromium of the browser tests (imported as ``browser_support``): where Chromium is, how it
is launched, and the ``chromium`` and ``page`` fixtures (``conftest.py`` offers them to every API test); a page fails its test on a JavaScript error or a
Content Security Policy violation. Also axe-core (``axe_violations``) and the screenshots a person looks at
(``screenshot``: into ``build/screenshots/``).

Chromium comes from ``scripts/install_chromium.sh`` (``apt-get install chromium``), never from
``playwright install``. Without it the tests skip locally, and fail under CI (``CI=true``). axe-core is the
copy pinned with the ``axe-playwright-python`` package (constraints.txt), read from that package's files and
run in the page through DevTools (``page.evaluate``), which the page's Content-Security-Policy does not
govern: the page itself is tested as served."""

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
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


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
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors or CSP violations on the page: {errors}"


def axe_source() -> str:
    """axe-core's script, as pinned (axe-playwright-python ships one version of it)."""
    try:
        from importlib import resources

        return (resources.files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")
    except ModuleNotFoundError:
        missing("axe-core is not installed (pip install -e '.[dev]': axe-playwright-python)")
        raise AssertionError("unreachable") from None


def axe_violations(page: Any, rules_seen: tuple[str, ...] = ("color-contrast",)) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (each: id, impact, the elements it names). Fails when
    one of ``rules_seen`` did not run at all, so a page axe could not read never passes as clean."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            const ran = [...r.violations, ...r.passes, ...r.incomplete].map((rule) => rule.id);
            return {ran, violations: r.violations.map((v) => ({
                id: v.id, impact: v.impact,
                nodes: v.nodes.map((n) => `${n.target.join(" ")}: ${n.failureSummary}`),
            }))};
        }"""
    )
    for rule in rules_seen:
        assert rule in result["ran"], f"axe did not run {rule}"
    return list(result["violations"])


def screenshot(page: Any, name: str, *, full_page: bool = False) -> Path:
    """A screenshot of the page as it is, for a person to look at: ``build/screenshots/NAME.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
