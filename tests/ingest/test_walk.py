from __future__ import annotations

import os
from pathlib import Path

import pytest

from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.walk import FileFailure, Skipped, Walked, WalkedFile, walk


def _tree(root: Path) -> Path:
    for rel in [
        "b.pdf",
        "a/2.png",
        "a/10.png",
        "a/sub/deep.mp4",
        ".hidden.pdf",
        ".cache/x.pdf",
        "c/empty.pdf",
    ]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"" if rel.endswith("empty.pdf") else b"x" * 10)
    return root


def _split(items: list[Walked], root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    files = [str(p.path.relative_to(root.resolve())) for p in items if isinstance(p, WalkedFile)]
    failures = [(Path(f.path).name, f.code) for f in items if isinstance(f, FileFailure)]
    return files, failures


def _paths(items: list[Walked]) -> list[Path]:
    return [p.path for p in items if isinstance(p, WalkedFile)]


def test_folders_expand_recursively_sorted_without_hidden(tmp_path: Path, settings: IngestSettings) -> None:
    root = _tree(tmp_path)
    files, failures = _split(list(walk([root], settings)), root)
    assert files == ["a/10.png", "a/2.png", "a/sub/deep.mp4", "b.pdf"]
    assert failures == [("empty.pdf", "unsupported_file")]
    assert all(p.is_absolute() for p in _paths(list(walk([root], settings))))
    names = [p.name for p in walk([root], settings) if isinstance(p, WalkedFile)]
    assert names == ["a/10.png", "a/2.png", "a/sub/deep.mp4", "b.pdf"]  # relative to the folder given


def test_hidden_files_are_included_on_request(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    files, _ = _split(list(walk([root], IngestSettings(include_hidden=True))), root)
    assert files == [".cache/x.pdf", ".hidden.pdf", "a/10.png", "a/2.png", "a/sub/deep.mp4", "b.pdf"]


def test_explicit_paths_are_taken_even_when_hidden(tmp_path: Path, settings: IngestSettings) -> None:
    root = _tree(tmp_path)
    assert list(walk([root / ".hidden.pdf"], settings)) == [
        WalkedFile((root / ".hidden.pdf").resolve(), ".hidden.pdf")
    ]


def test_missing_empty_and_too_large_are_failures_not_exceptions(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "big.pdf").write_bytes(b"x" * 3000)
    items = list(
        walk(
            [root / "nope.pdf", root / "c", root / "big.pdf", root / "b.pdf"],
            IngestSettings(max_file_mb=0.002),
        )
    )
    failures = [f for f in items if isinstance(f, FileFailure)]
    assert [(Path(f.path).name, f.code) for f in failures] == [
        ("nope.pdf", "not_found"),
        ("empty.pdf", "unsupported_file"),
        ("big.pdf", "unsupported_file"),
    ]
    assert "nope.pdf: no such file or folder" in failures[0].message
    assert failures[1].message == "empty.pdf: the file is empty (0 bytes)"
    assert "over ingest.max_file_mb (0.002 MB)" in failures[2].message
    assert items[-1] == WalkedFile((root / "b.pdf").resolve(), "b.pdf")


def test_symlink_loop_is_reported_once_and_not_followed(tmp_path: Path, settings: IngestSettings) -> None:
    root = _tree(tmp_path)
    (root / "a" / "back").symlink_to(root, target_is_directory=True)
    (root / "self").symlink_to(root / "self")
    items = list(walk([root], settings))
    loops = [f for f in items if isinstance(f, FileFailure) and f.code == "symlink_loop"]
    assert sorted(Path(f.path).name for f in loops) == ["back", "self"]
    files, _ = _split(items, root)
    assert files == ["a/10.png", "a/2.png", "a/sub/deep.mp4", "b.pdf"]  # each file once


def test_symlinks_inside_are_followed_resolved_and_deduplicated(
    tmp_path: Path, settings: IngestSettings
) -> None:
    root = _tree(tmp_path / "tree")
    (root / "link-dir").symlink_to(root / "a" / "sub", target_is_directory=True)
    (root / "link-file.pdf").symlink_to(root / "b.pdf")
    (root / "dangling.pdf").symlink_to(root / "gone.pdf")
    (root / "z-link.mp4").symlink_to(root / "a" / "sub" / "deep.mp4")
    items = list(walk([root, root / "b.pdf"], settings))
    paths = _paths(items)
    assert paths.count((root / "b.pdf").resolve()) == 1
    assert paths.count((root / "a" / "sub" / "deep.mp4").resolve()) == 1
    assert not [s for s in items if isinstance(s, Skipped)]
    broken = [f for f in items if isinstance(f, FileFailure) and f.code == "not_found"]
    assert [Path(f.path).name for f in broken] == ["dangling.pdf"]
    assert "broken symlink" in broken[0].message


def test_symlinks_inside_folders_are_skipped_when_not_following(tmp_path: Path) -> None:
    root = _tree(tmp_path / "tree")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.pdf").write_bytes(b"x")
    (root / "link-dir").symlink_to(outside, target_is_directory=True)
    (root / "back").symlink_to(root, target_is_directory=True)
    items = list(walk([root], IngestSettings(follow_symlinks=False)))
    files, failures = _split(items, root)
    assert files == ["a/10.png", "a/2.png", "a/sub/deep.mp4", "b.pdf"]
    assert failures == [("empty.pdf", "unsupported_file")]


def test_special_files_are_failures(tmp_path: Path, settings: IngestSettings) -> None:
    os.mkfifo(tmp_path / "pipe.pdf")
    (failure,) = list(walk([tmp_path], settings))
    assert isinstance(failure, FileFailure) and failure.code == "not_a_file"


def test_unreadable_folder_is_a_failure_and_the_walk_goes_on(
    tmp_path: Path, settings: IngestSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path)
    real = os.scandir

    def scandir(path: os.PathLike[str]):
        if Path(path).name == "a":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    files, failures = _split(list(walk([root], settings)), root)
    assert files == ["b.pdf"]
    assert failures == [("a", "permission_denied"), ("empty.pdf", "unsupported_file")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything; the monkeypatched test above covers it")
def test_unreadable_file_and_folder_with_real_permissions(tmp_path: Path, settings: IngestSettings) -> None:
    root = _tree(tmp_path)
    (root / "b.pdf").chmod(0)
    (root / "a").chmod(0)
    try:
        _, failures = _split(list(walk([root], settings)), root)
    finally:
        (root / "a").chmod(0o755)
    assert ("a", "permission_denied") in failures and ("b.pdf", "permission_denied") in failures


def test_symlinks_out_of_the_tree_are_never_followed_and_said_once(
    tmp_path: Path, settings: IngestSettings
) -> None:
    """The issue's case: a link to a folder outside (like /etc) and a link to a file outside index nothing."""
    root = _tree(tmp_path / "tree")
    outside = tmp_path / "outside"
    (outside / "deeper").mkdir(parents=True)
    (outside / "secret.pdf").write_bytes(b"x" * 10)
    (outside / "deeper" / "more.png").write_bytes(b"x" * 10)
    (root / "a" / "etc").symlink_to(outside, target_is_directory=True)
    (root / "leak.pdf").symlink_to(outside / "secret.pdf")
    (root / "up.pdf").symlink_to(Path("..") / "outside" / "secret.pdf")  # relative, still outside
    assert settings.follow_symlinks
    items = list(walk([root], settings))
    files, _ = _split(items, root)
    assert files == ["a/10.png", "a/2.png", "a/sub/deep.mp4", "b.pdf"]
    assert not [p for p in _paths(items) if p.is_relative_to(outside.resolve())]
    skipped = [s for s in items if isinstance(s, Skipped)]
    assert sorted((Path(s.path).name, s.code) for s in skipped) == [
        ("etc", "symlink_outside"), ("leak.pdf", "symlink_outside"), ("up.pdf", "symlink_outside"),
    ]  # fmt: skip
    assert all("outside the folders given; not followed" in s.message for s in skipped)


def test_a_link_into_another_folder_given_is_followed(tmp_path: Path, settings: IngestSettings) -> None:
    one, two = _tree(tmp_path / "one"), tmp_path / "two"
    two.mkdir()
    (two / "t.pdf").write_bytes(b"x" * 10)
    (one / "to-two").symlink_to(two, target_is_directory=True)
    items = list(walk([one, two], settings))
    found = [(p.path, p.name) for p in items if isinstance(p, WalkedFile)]
    assert ((two / "t.pdf").resolve(), "to-two/t.pdf") in found  # reached first through the link, named so
    assert not [s for s in items if isinstance(s, Skipped)]
