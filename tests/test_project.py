"""The project files themselves: packaging metadata builds without warnings, no deprecated imports, and
the demo keeps the tiny-model run's index apart from the real one's."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
import warnings
from pathlib import Path

from tests.support import REPO

PYPROJECT = REPO / "pyproject.toml"


def test_license_is_an_spdx_string_that_setuptools_takes_without_warning() -> None:
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    data = tomllib.loads(PYPROJECT.read_text())
    assert data["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in data["build-system"]["requires"]  # the first to read SPDX strings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a deprecation warning (e.g. a license table) fails the test
        dist = apply_configuration(Distribution(), PYPROJECT)
    assert dist.metadata.license_expression == "Apache-2.0"


def test_pymupdf_is_imported_by_its_name_not_the_deprecated_fitz() -> None:
    legacy = re.compile(r"^\s*(import fitz\b|from fitz\b)", re.MULTILINE)
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("mmsearch", "tests", "bench", "scripts")
        for path in (REPO / folder).rglob("*.py")
        if legacy.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def _demo_data_dir(*args: str) -> Path:
    env = {k: v for k, v in os.environ.items() if k != "MMSEARCH_DATA_DIR"}
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "demo.sh"), *args, "--data-dir-only"],
        env=env, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return Path(done.stdout.strip())


def test_tiny_demo_and_real_demo_use_separate_data_dirs() -> None:
    real, tiny = _demo_data_dir(), _demo_data_dir("--tiny")
    assert real == REPO / "data" / "demo" and tiny == REPO / "data" / "demo-tiny"
    wrong = subprocess.run(
        ["bash", str(REPO / "scripts" / "demo.sh"), "--tiyn"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert wrong.returncode == 2 and "usage:" in wrong.stderr


def _pins() -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and re.fullmatch(r"[A-Za-z0-9][\w.\-]*", name) and version.strip(), f"not a pin: {line!r}"
        pins[canonicalize_name(name)] = version
    return pins


def test_the_constraints_pin_every_requirement_inside_pyprojects_ranges() -> None:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads(PYPROJECT.read_text())["project"]
    pins = _pins()
    assert "mmsearch" not in pins
    outside = []
    for line in project["dependencies"] + project["optional-dependencies"]["dev"]:
        requirement = Requirement(line)
        version = pins.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            outside.append(f"{requirement} (pinned: {version})")
    assert outside == [], "refresh constraints.txt: bash scripts/refresh_pins.sh"


def test_setup_installs_the_pinned_set() -> None:
    setup = (REPO / "scripts" / "setup.sh").read_text()
    assert "pip install --quiet -c constraints.txt -e '.[dev]'" in setup
    for script in ("demo.sh", "test.sh"):
        assert "bash scripts/setup.sh" in (REPO / "scripts" / script).read_text()
