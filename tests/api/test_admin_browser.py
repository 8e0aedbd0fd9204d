"""Uploads as jobs and the admin page, in real headless Chromium against a real uvicorn on loopback.

One server for the module, with managed keys ``ops`` (admin of everything), ``reader`` (reader of
everything) and ``writer`` (writer of finance), and documents in two collections. The search page's
upload panel shows each upload as a job: a progress bar, its files one line each (a failed file's name
once), Cancel, Dismiss; "Add files" only for those who may write. The admin page lists documents by
collection (delete), jobs, keys (create, shown once; revoke) and the audit trail. axe-core finds nothing
on either, in light and dark modes; at 390×844 neither is wider than the screen. Screenshots of each state
go to ``build/screenshots``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from a11y_support import PHONE, axe_violations, overflow, page_width, shot, sticking_out
from api_support import live_server, tiny_settings

from mmsearch import components
from mmsearch.access.keys import mint
from mmsearch.access.principal import Role
from mmsearch.api.app import create_app
from mmsearch.api.services.parts import Services, open_services
from mmsearch.ingest.names import Labels
from mmsearch.samples import make_image, make_landscape, make_pdf

pytestmark = pytest.mark.slow

UPLOAD_PANEL = None  # axe checks the whole search page with its upload panel open


@dataclass
class Site:
    url: str
    services: Services
    keys: dict[str, str]
    files: Path  # sample files to upload

    def open(self, page: Any, who: str, path: str = "/") -> None:
        """``path`` with ``who``'s key in the tab's storage, as the key dialog leaves it."""
        page.goto(self.url + "/healthz")
        page.evaluate("key => sessionStorage.setItem('mmsearch.apiKey', key)", self.keys[who])
        page.goto(self.url + path)
        page.wait_for_selector("body[data-ready]")

    def api(self, who: str, method: str, path: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def site(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("admin-browser")
    files = root / "files"
    for folder in ("default", "finance"):
        (root / folder).mkdir()
    make_pdf(root / "default" / "handbook.pdf", 1, topic="birds", with_tables=False)
    make_landscape(root / "finance" / "q3-chart.jpg", (200, 120))
    make_image(root / "finance" / "logo.png", "png", (64, 48))
    make_pdf(files / "long.pdf", 12, with_charts=False, with_tables=False)
    (files / "notes.pdf").write_bytes(b"not a pdf at all\n" * 20)
    make_image(files / "photo.png", "png", (80, 60))
    settings = tiny_settings(root / "data", tiny_models, small_media=True)
    store = components.build_key_store(settings)
    keys = {}
    for name, role, collections in [("ops", Role.ADMIN, ["*"]), ("reader", Role.READER, ["*"]),
                                    ("writer", Role.WRITER, ["finance"])]:  # fmt: skip
        keys[name], record = mint(name, role, collections, None)
        store.add(record)
    services = open_services(settings)
    try:
        with components.build_manifest(settings) as manifest:
            for collection in ("default", "finance"):
                indexer = components.build_indexer(
                    settings, services.embedder, services.store, manifest, None
                )
                indexer.labels = Labels.checked(collection)
                assert not indexer.run([root / collection]).failed
        with live_server(create_app(settings, services)) as live:
            yield Site(live.url, services, keys, files)
    finally:
        services.close()


def assert_no_violations(page: Any, include: list[str] | None, state: str) -> None:
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        found = axe_violations(page, include)
        assert not found, f"axe on {state} ({scheme}): {found}"
    page.emulate_media(color_scheme="light")


def file_lines(page: Any) -> dict[str, str]:
    """The newest job's files: name -> its whole line."""
    lines = page.locator("#upload-jobs > li").first.locator(".job-files li")
    return {
        lines.nth(i).locator(".file-name").inner_text(): lines.nth(i).inner_text()
        for i in range(lines.count())
    }


def test_an_upload_is_a_job_with_progress_and_a_line_per_file(site: Site, page: Any) -> None:
    site.open(page, "ops")
    assert page.is_visible("#upload-button")
    guard = site.services.jobs.guard
    guard.acquire()  # the worker waits at its first file: the running state can be seen and checked
    try:
        page.set_input_files(
            "#upload-input", [str(site.files / n) for n in ("long.pdf", "notes.pdf", "photo.png")]
        )
        page.wait_for_selector("#upload-jobs > li[data-state=running]")
        job = page.locator("#upload-jobs > li").first
        assert job.locator(".job-title").inner_text() == "3 files to default"
        assert job.locator(".job-state").inner_text().startswith("Indexing: 0 of 3 done")
        assert job.locator("progress").get_attribute("max") == "3"
        assert job.locator(".job-action").inner_text() == "Cancel"
        shot(page, "upload-running")
        assert_no_violations(page, UPLOAD_PANEL, "the upload panel, running")
    finally:
        guard.release()
    page.wait_for_selector("#upload-jobs > li[data-state=done]", timeout=180_000)
    lines = file_lines(page)
    assert set(lines) == {"long.pdf", "notes.pdf", "photo.png"}
    assert lines["long.pdf"].startswith("Indexed") and "12 pages" in lines["long.pdf"]
    assert lines["notes.pdf"].startswith("Failed") and lines["notes.pdf"].count("notes.pdf") == 1, lines
    assert job.locator(".job-state").inner_text() == "Done: 2 indexed, 1 failed."
    assert "Done: 2 indexed, 1 failed." in page.inner_text("#uploads-live")  # told to screen readers
    shot(page, "upload-done")
    assert_no_violations(page, UPLOAD_PANEL, "the upload panel, done")
    page.set_viewport_size(PHONE)  # the whole page, upload panel open, fits a phone
    assert overflow(page, "#uploads") == 0 and overflow(page, "#upload-jobs") == 0
    assert page_width(page) <= PHONE["width"], (page_width(page), sticking_out(page))
    shot(page, "upload-done-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.reload()  # a reload shows the caller's recent jobs again, until dismissed
    page.wait_for_selector("#upload-jobs > li[data-state=done]")
    page.locator("#upload-jobs > li .job-action").first.click()  # Dismiss
    page.wait_for_selector("#uploads", state="hidden")
    page.reload()
    page.wait_for_selector("body[data-ready]")
    page.wait_for_timeout(500)
    assert page.is_hidden("#uploads")


def test_cancel_stops_the_job(site: Site, page: Any) -> None:
    site.open(page, "ops")
    guard = site.services.jobs.guard
    guard.acquire()
    try:
        page.set_input_files("#upload-input", [str(site.files / "long.pdf"), str(site.files / "photo.png")])
        page.wait_for_selector("#upload-jobs > li[data-state=running]")
        job = page.locator("#upload-jobs > li").first
        job_id = job.get_attribute("data-job-id")
        job.locator(".job-action").click()  # Cancel
        deadline = time.monotonic() + 30
        while not _cancel_asked(site, job_id):  # the page sent it: now let the worker go on
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        guard.release()
    page.wait_for_selector("#upload-jobs > li[data-state=cancelled]", timeout=120_000)
    lines = file_lines(page)
    assert lines["long.pdf"].startswith("Cancelled") and lines["photo.png"].startswith("Cancelled"), lines
    assert job.locator(".job-state").inner_text().startswith("Cancelled")
    assert job.locator("progress").evaluate("bar => [bar.value, bar.max]") == [0, 2]  # nothing got in
    final = site.api("ops", "GET", f"/v1/jobs/{job_id}").json()
    assert final["state"] == "cancelled" and final["indexed"] == 0
    shot(page, "upload-cancelled")


def _cancel_asked(site: Site, job_id: str | None) -> bool:
    job = site.services.jobs.jobs.get(str(job_id))
    return job is not None and job.cancel


def test_a_read_only_key_sees_no_add_files_and_a_wrong_key_no_setting_names(site: Site, page: Any) -> None:
    site.open(page, "reader")
    assert page.is_hidden("#upload-button") and page.is_hidden("#admin-link")
    site.open(page, "writer")  # a writer of finance: "Add files" and no "Admin"
    assert page.is_visible("#upload-button") and page.is_hidden("#admin-link")
    site.open(page, "ops")
    assert page.is_visible("#admin-link")
    page.evaluate("sessionStorage.setItem('mmsearch.apiKey', 'wrong-key-000000000000')")
    page.reload()
    page.wait_for_selector("body[data-ready]")
    page.wait_for_selector("#notice:not([hidden])")
    assert page.is_hidden("#upload-button")
    for place in ("#notice", "body"):
        assert "read_keys" not in page.inner_text(place) and "server." not in page.inner_text(place)


def test_admin_page_keys_documents_jobs_and_audit(site: Site, page: Any) -> None:
    page.on("dialog", lambda dialog: dialog.accept())  # the page asks before it deletes or revokes
    site.open(page, "ops", "/admin")
    assert page.locator("h1").count() == 1 and page.inner_text("h1") == "Administration"
    collections = page.locator("#documents-list h3").all_inner_texts()
    assert [c.split(" (")[0] for c in collections] == ["default", "finance"], collections
    assert collections[1] == "finance (2)"
    assert page.locator("#jobs-table tbody tr").count() >= 1
    shot(page, "admin")
    assert_no_violations(page, None, "the admin page")
    page.focus("#documents-collection")
    page.keyboard.press("Tab")  # by keyboard: the focus ring shows where it is
    assert page.evaluate("document.activeElement.id") == "documents-refresh"
    ring = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; })()"
    )
    assert ring[0] == "solid" and float(ring[1].removesuffix("px")) >= 2, ring

    page.fill("#new-key-name", "report-bot")
    page.select_option("#new-key-role", "reader")
    page.fill("#new-key-collections", "finance")
    page.fill("#new-key-expires", "30d")
    page.click("#key-create button[type=submit]")
    page.wait_for_selector("#new-key:not([hidden])")
    secret = page.inner_text("#new-key-secret")
    assert secret.startswith("mms_")
    shot(page, "admin-key-created")
    assert_no_violations(page, None, "the admin page, a key shown once")
    me = httpx.get(f"{site.url}/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["name"] == "key:report-bot"
    page.click("#new-key-done")
    assert page.is_hidden("#new-key") and secret not in page.content()  # shown once: gone from the page
    row = page.locator('#keys-table tr[data-key-name="report-bot"]')
    assert row.get_attribute("data-state") == "active"
    row.get_by_role("button", name="Revoke the key report-bot").click()
    page.wait_for_selector('#keys-table tr[data-key-name="report-bot"][data-state=revoked]')
    assert httpx.get(f"{site.url}/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401

    logo = page.locator("#documents-list tr", has_text="logo.png")
    logo.get_by_role("button", name="Delete logo.png from finance").click()
    page.wait_for_selector("#documents-list tr:has-text('logo.png')", state="detached")
    names = [d["name"] for d in site.api("ops", "GET", "/v1/documents").json()["documents"]]
    assert "logo.png" not in names and "q3-chart.jpg" in names

    page.click("#audit-refresh")
    page.wait_for_selector("#audit-table tr[data-action=delete]")
    actions = page.locator("#audit-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert actions[0] == "delete" and {"key_revoked", "key_created"} <= set(actions), actions
    assert "key: report-bot" in page.inner_text("#audit-table")
    shot(page, "admin-audit")
    page.set_viewport_size(PHONE)
    assert page_width(page) <= PHONE["width"], (page_width(page), sticking_out(page))
    shot(page, "admin-phone")
    assert_no_violations(page, None, "the admin page on a phone")


def test_admin_page_for_a_non_admin_shows_only_a_message(site: Site, page: Any) -> None:
    site.open(page, "writer", "/admin")
    assert page.is_hidden("#admin-sections")
    assert "for administrators" in page.inner_text("#admin-message")
    assert_no_violations(page, None, "the admin page refusing a writer")
    page.click("#admin-message-close")
    assert page.is_hidden("#admin-message")
