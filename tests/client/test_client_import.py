"""``import mmsearch.client`` stays light: no model library, no server framework, none of the engine's
layers (checked in a fresh interpreter: this process's own imports prove nothing)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import REPO

HEAVY = (
    "torch",
    "torchvision",
    "transformers",
    "numpy",
    "PIL",
    "fastapi",
    "starlette",
    "qdrant_client",
    "pydantic",
)
PROBE = f"""
import json, sys
{{prelude}}
import mmsearch.client
from mmsearch.client import AsyncClient, Client
print(json.dumps({{{{
    "heavy": sorted({{{{m.split(".")[0] for m in sys.modules if m.split(".")[0] in {HEAVY!r}}}}}),
    "mmsearch": sorted(m for m in sys.modules if m.startswith("mmsearch.")),
}}}}))
"""


def probe(prelude: str = "") -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(prelude=prelude)], cwd=REPO, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    found: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_the_client_imports_no_model_or_server_library() -> None:
    found = probe()
    assert found["heavy"] == []
    assert all(m == "mmsearch.errors" or m.startswith("mmsearch.client") for m in found["mmsearch"])


def test_the_probe_sees_a_heavy_import() -> None:
    assert probe("import numpy")["heavy"] == ["numpy"]
