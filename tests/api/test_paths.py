"""Stored media paths never leave data_dir/media (client file names: tests/ingest/test_names.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmsearch.api.edge.paths import media_file
from mmsearch.api.errors import ApiError


def test_media_file_stays_under_media(tmp_path: Path) -> None:
    media = tmp_path / "media" / "ab" / "doc"
    media.mkdir(parents=True)
    (media / "p00001.jpg").write_bytes(b"jpeg")
    (tmp_path / "secret.txt").write_text("no")
    (media / "link.jpg").symlink_to(tmp_path / "secret.txt")
    assert media_file(tmp_path, "media/ab/doc/p00001.jpg") == (media / "p00001.jpg").resolve()
    for bad in ["secret.txt", "../secret.txt", "media/../secret.txt", "/etc/passwd", "media/ab/doc/link.jpg",
                "media/ab/doc/missing.jpg", "media/ab/doc", "media/\x00.jpg"]:  # fmt: skip
        with pytest.raises(ApiError) as err:
            media_file(tmp_path, bad)
        assert err.value.http_status == 404, bad
