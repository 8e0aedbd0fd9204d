"""A cold ``mmsearch``: its command groups are imported when invoked, and ``--help`` imports no torch,
torchvision or transformers (checked in a fresh interpreter: this process's own imports prove nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from mmsearch.cli import COMMANDS, cli
from tests.support import run_cli, tiny_env

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "transformers", "qwen_vl_utils", "scipy")

# Runs ``mmsearch ARGS`` in this interpreter and prints which heavy packages it imported.
PROBE = f"""
import gc, json, runpy, sys
HEAVY = {HEAVY!r}
sys.argv = ["mmsearch", *sys.argv[1:]]
try:
    runpy.run_module("mmsearch", run_name="__main__")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY and sys.modules[m] is not None)
cli = sorted(m for m in sys.modules if m.startswith("mmsearch.cli."))
gc_state = {{"thresholds": gc.get_threshold(), "frozen": gc.get_freeze_count()}}
print("\\nPROBE " + json.dumps({{"code": code, "heavy": heavy, "cli": cli, "gc": gc_state}}))
"""


def probe(*args: str, prelude: str = "", env: dict[str, str] | None = None) -> dict[str, object]:
    env = {**(os.environ if env is None else env), "COLUMNS": "80"}
    done = subprocess.run(
        [sys.executable, "-c", prelude + PROBE, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("PROBE ")), None)
    assert line is not None, done.stderr
    result: dict[str, object] = json.loads(line.removeprefix("PROBE "))
    result["stdout"] = done.stdout.split("\nPROBE ")[0]
    return result


def test_help_imports_no_model_library_and_no_command_module() -> None:
    result = probe("--help")
    assert result["code"] == 0
    assert result["heavy"] == []
    # only the group itself: no command's module was imported to list the commands
    assert result["cli"] == ["mmsearch.cli.app"]
    for name, _, _ in COMMANDS:
        assert f"\n  {name} " in str(result["stdout"])


@pytest.mark.parametrize("command", ["query", "serve", "stats", "embed", "verify", "keys"])
def test_a_commands_help_imports_no_model_library(command: str) -> None:
    result = probe(command, "--help")
    assert result["code"] == 0
    assert result["heavy"] == []
    assert "Usage: mmsearch " + command in str(result["stdout"])


def test_the_probe_sees_a_model_library_when_one_is_imported() -> None:
    """The check above can fail: a command that does import torch is seen doing it."""
    result = probe("--version")
    assert result["heavy"] == []
    done = subprocess.run(
        [sys.executable, "-c", "import torch\n" + PROBE, "--version"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert '"heavy": ["torch' in done.stdout


def test_lazy_help_is_each_commands_own() -> None:
    """The one-line help registered for each command is what its docstring gives, at any width."""
    ctx = click.Context(cli)
    registered = {name for name, _, _ in COMMANDS}
    for name, target, short_help in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None, target
        assert command.name == name
        for limit in (30, 45, 86, 1000):
            assert click.Command(name, help=short_help).get_short_help_str(
                limit
            ) == command.get_short_help_str(limit), name
    assert set(cli.list_commands(ctx)) == registered


IMPORT_ALL = """
import click
from mmsearch.cli import COMMANDS, cli
for name, _, _ in COMMANDS:
    cli.get_command(click.Context(cli), name)
"""


def test_help_lists_the_same_lines_once_the_commands_are_imported() -> None:
    """``--help`` of a fresh process (no command imported) reads as it does with every command imported."""
    fresh = probe("--help")
    imported = probe("--help", prelude=IMPORT_ALL)
    assert fresh["code"] == imported["code"] == 0
    assert len(imported["cli"]) > len(fresh["cli"])  # type: ignore[arg-type]
    assert imported["stdout"] == fresh["stdout"]


def test_an_unknown_command_is_refused_as_before(tmp_path: Path) -> None:
    result = run_cli(["qurey"], dict(os.environ), tmp_path)
    assert result.returncode == 2
    assert "No such command 'qurey'" in result.stderr


def test_a_command_that_builds_a_model_imports_torch_but_not_scipy(tmp_path: Path, tiny_models: Path) -> None:
    """``mmsearch embed`` builds the embedder (torch and transformers are imported, the vector printed)
    while transformers' optional scipy import stays out of the process."""
    result = probe("embed", "--text", "a red bicycle", "--json", env=tiny_env(tmp_path / "data", tiny_models))
    assert result["code"] == 0, result["stdout"]
    assert json.loads(str(result["stdout"]))["dim"] > 0
    heavy = set(result["heavy"])  # type: ignore[call-overload]
    assert {"torch", "transformers"} <= heavy
    assert not any(name.split(".")[0] == "scipy" for name in heavy)
    # a text alone is never resized: qwen-vl-utils (its image resizing) is not imported either
    assert not any(name.split(".")[0] == "qwen_vl_utils" for name in heavy)


def test_the_executable_runs_with_fewer_gc_passes_and_exits_frozen() -> None:
    """``python -m mmsearch`` (and the ``mmsearch`` script: both call ``run``) raise the GC thresholds for
    the command and freeze what is alive at its end, so the exit skips the collector's passes."""
    from mmsearch.cli.app import GC_THRESHOLDS

    result = probe("--version")
    assert result["code"] == 0
    state = result["gc"]
    assert isinstance(state, dict)
    assert tuple(state["thresholds"]) == GC_THRESHOLDS != (700, 10, 10)
    assert state["frozen"] > 0
    script = Path(sys.executable).parent / "mmsearch"
    if script.exists():  # the installed entry point is run(), not main()
        assert "import run" in script.read_text()
