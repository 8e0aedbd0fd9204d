"""Client file names become safe relative paths; stored media paths never leave data_dir/media."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmsearch.api.edge.paths import media_file, safe_upload_name
from mmsearch.api.errors import ApiError


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("docs/q3/report.pdf", "docs/q3/report.pdf"),
        ("../../etc/passwd", "etc/passwd"),
        ("/etc/passwd", "etc/passwd"),
        ("C:\\Users\\me\\scan.png", "C/Users/me/scan.png"),
        ("a/./b/../c.jpg", "a/b/c.jpg"),
        ("..", "upload"),
        (". ./. .", "upload"),
        ("", "upload"),
        (None, "upload"),
        (".hidden.pdf", "hidden.pdf"),
        ("bad\x00name\n.pdf", "badname.pdf"),
        ('what?<>|*".png', "what.png"),
        ("/".join("d" * 3 for _ in range(12)) + "/f.pdf", "/".join(["ddd"] * 7) + "/f.pdf"),
    ],
)
def test_safe_upload_name(name: str | None, safe: str) -> None:
    assert safe_upload_name(name) == safe


def test_long_names_keep_their_extension() -> None:
    safe = safe_upload_name("x" * 500 + ".pdf")
    assert len(safe) == 200 and safe.endswith(".pdf")


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
