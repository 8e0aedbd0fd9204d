"""Accessibility checks and screenshots for the browser tests (imported as ``a11y_support``).

``axe_violations`` runs axe-core — the pinned copy inside the ``axe-playwright-python`` package (a dev
dependency) — in the page and returns its violations; ``shot`` writes a screenshot to ``build/screenshots``
(``SCREENSHOTS``), where a person can look at each state the tests reach; ``page_width`` is how wide the
document is (no horizontal scroll: at most the viewport's width), ``overflow`` how much a part of it
sticks out of its own box."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from browser_support import missing

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
PHONE = {"width": 390, "height": 844}


@cache
def axe_script() -> str:
    try:
        return (resources.files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")
    except ModuleNotFoundError:
        missing("axe-playwright-python is not installed (pip install -e '.[dev]')")
        raise AssertionError("unreachable") from None


def axe_violations(page: Any, include: list[str] | None = None) -> list[dict[str, Any]]:
    """axe-core's violations on the page (or only within the ``include`` selectors), each as
    ``{id, impact, help, targets}``; the standard rules (WCAG 2 A/AA and best practices)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_script())
    context = {"include": [[s] for s in include]} if include else None
    result = page.evaluate(
        "async (context) => await axe.run(context || document, {resultTypes: ['violations']})", context
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [n["target"] for n in v["nodes"]],
        }
        for v in result["violations"]
    ]


def shot(page: Any, name: str, full_page: bool = True) -> Path:
    """A screenshot of the page as ``build/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if full_page:
        page.evaluate("() => window.scrollTo(0, 0)")  # a sticky header stays at the top of the picture
    page.screenshot(path=str(path), full_page=full_page)
    return path


def overflow(page: Any, selector: str) -> int:
    """How many CSS pixels the content of ``selector`` is wider than the element itself (0: it fits)."""
    return int(page.eval_on_selector(selector, "el => Math.max(0, el.scrollWidth - el.clientWidth)"))


def page_width(page: Any) -> int:
    """The document's width in CSS pixels: wider than the viewport means a horizontal scroll."""
    return int(
        page.evaluate("() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
    )


def sticking_out(page: Any) -> list[str]:
    """The first elements whose right edge is past the viewport's (for an assertion's message)."""
    return list(
        page.evaluate("""() => [...document.querySelectorAll("body *")]
        .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5).slice(0, 8)
        .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)""")
    )
