"""Hostile files through the real ``mmsearch ingest`` (``tests.support.run_cli``): MP4s whose atoms lie,
a page MuPDF would render for hours, a PDF of 100,000 objects, among good files. Each bad one is one
clear per-file error; the rest is indexed and searchable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmsearch.samples import make_bad_files, make_image, make_many_objects_pdf, make_slow_page_pdf
from tests.support import budget, run_cli, tiny_env

pytestmark = pytest.mark.slow

HOSTILE_MP4 = ("truncated-moov.mp4", "huge-stsz-count.mp4", "huge-stsz-size.mp4")


def test_hostile_files_each_give_one_clear_error_and_the_rest_is_indexed(
    tmp_path: Path, tiny_models: Path
) -> None:
    corpus = tmp_path / "corpus"
    bad = make_bad_files(tmp_path / "bad")
    for name in HOSTILE_MP4:
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_bytes((tmp_path / "bad" / name).read_bytes())
    make_slow_page_pdf(corpus / "slow.pdf")
    make_many_objects_pdf(corpus / "many.pdf")
    make_image(corpus / "photo.jpg", "jpeg", (320, 240), text="photo")
    timeout = budget(8.0)
    env = tiny_env(
        tmp_path / "data",
        tiny_models,
        MMSEARCH_INGEST__RENDER_TIMEOUT_S=f"{timeout:g}",
        MMSEARCH_INGEST__PDF_DPI="72",
        MMSEARCH_INGEST__MAX_PIXELS=str(128 * 32 * 32),
        MMSEARCH_INGEST__VIDEO_FRAME_MAX_PIXELS=str(64 * 32 * 32),
    )
    (tmp_path / "cwd").mkdir()

    done = run_cli(["ingest", str(corpus), "--json"], env, tmp_path / "cwd")
    assert done.returncode == 1, (done.stdout, done.stderr)  # some files failed
    files = {Path(f["path"]).name: f for f in json.loads(done.stdout)["files"]}
    assert {n: (f["status"], f.get("code")) for n, f in files.items() if f["status"] == "failed"} == {
        **{name: ("failed", bad[name]) for name in HOSTILE_MP4},
        "slow.pdf": ("failed", "limit_exceeded"),
    }
    assert files["many.pdf"]["status"] == files["photo.jpg"]["status"] == "indexed"
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    for name in (*HOSTILE_MP4, "slow.pdf"):
        assert len([line for line in errors if f"{name}: " in line]) == 1, done.stderr  # one line each
    assert f"slow.pdf: page 1 of 1 took longer than ingest.render_timeout_s ({timeout:g} s)" in done.stderr
    assert "Traceback" not in done.stderr

    found = run_cli(["query", "photo", "--json", "--no-rerank"], env, tmp_path / "cwd")
    assert found.returncode == 0, found.stderr
    assert {h["name"] for h in json.loads(found.stdout)["hits"]} == {"many.pdf", "photo.jpg"}
