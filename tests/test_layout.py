"""The README's Layout map is generated from the module docstrings (scripts/write_layout.py) and kept current."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.support import REPO, load_script


def write_layout() -> ModuleType:
    return load_script("write_layout")


def test_every_module_has_a_docstring() -> None:
    assert write_layout().missing_docstrings() == []


def test_readme_layout_lists_every_module_as_generated() -> None:
    layout = write_layout()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert layout.replaced(readme, layout.layout()) == readme, "run scripts/write_layout.py"
    for path in layout.modules():
        assert f"  {path.name} " in readme


def test_a_module_without_a_docstring_is_reported(tmp_path: Path) -> None:
    layout = write_layout()
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text('"""The package. More words."""\n')
    (package / "sub" / "__init__.py").write_text('"""A folder: with a colon, i.e. more. Second."""\n')
    (package / "sub" / "bare.py").write_text("x = 1\n")
    assert layout.missing_docstrings(package) == ["pkg/sub/bare.py"]
    block = layout.layout(package)
    assert "  __init__.py                The package\n" in block
    assert "A folder: with a colon, i.e. more\n" in block
    assert "bare.py                    (no docstring)" in block


def test_readme_without_markers_is_refused() -> None:
    with pytest.raises(SystemExit, match="layout markers"):
        write_layout().replaced("# no markers\n", "```\n```")
