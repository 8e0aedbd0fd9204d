"""Settings: file < env < flags, unknown keys and bad values named, data_dir relative to the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mmsearch.config import Settings, load_settings
from mmsearch.errors import ConfigError
from tests.support import load_script

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("MMSEARCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no ./config.yaml here


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "cfg" / "config.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults_without_a_file() -> None:
    settings = load_settings()
    assert settings.embedding.backend == "transformers"
    assert settings.search.candidates == 50
    assert settings.store_path == settings.data_dir / "qdrant"


def test_file_then_env_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, {"embedding": {"dim": 512, "device": "cpu"}, "search": {"top_k": 3}})
    monkeypatch.setenv("MMSEARCH_EMBEDDING__DIM", "256")
    settings = load_settings(path, {"search": {"top_k": 7}, "embedding": {"device": None}})
    assert settings.embedding.dim == 256  # env beats file
    assert settings.embedding.device == "cpu"  # file kept where env/flags are silent
    assert settings.search.top_k == 7  # flag beats file


def test_env_null_clears_a_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, {"embedding": {"dim": 512}})
    monkeypatch.setenv("MMSEARCH_EMBEDDING__DIM", "null")
    assert load_settings(path).embedding.dim is None


def test_relative_data_dir_is_relative_to_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, {"data_dir": "state"})
    assert load_settings(path).data_dir == (tmp_path / "cfg" / "state").resolve()


def test_data_dir_env_moves_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMSEARCH_DATA_DIR", str(tmp_path / "elsewhere"))
    settings = load_settings()
    assert settings.data_dir == tmp_path / "elsewhere"
    assert settings.store_path == tmp_path / "elsewhere" / "qdrant"


def test_config_env_var_and_local_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.yaml").write_text("search:\n  top_k: 4\n")
    assert load_settings().search.top_k == 4
    other = write(tmp_path, {"search": {"top_k": 9}})
    monkeypatch.setenv("MMSEARCH_CONFIG", str(other))
    assert load_settings().search.top_k == 9


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"embeding": {"dim": 5}}, "embeding: unknown setting"),
        ({"embedding": {"dimension": 5}}, "embedding.dimension: unknown setting"),
        ({"embedding": {"dim": 8}}, "embedding.dim"),
        ({"search": {"candidates": "many"}}, "search.candidates"),
        ({"store": {"path": "/x", "url": "http://q:6333"}}, "not both"),
        # stored images are at model resolution: the cap may only lower the model's 1800·32² pixels
        ({"ingest": {"max_pixels": 1800 * 32 * 32 + 1}}, "ingest.max_pixels"),
        ({"ingest": {"video_max_frames": 65}}, "ingest.video_max_frames"),
        # model facts are constants, not settings: a file that still sets one is refused by name
        ({"embedding": {"max_length": 8192}}, "embedding.max_length: unknown setting"),
        ({"reranker": {"max_length": 10240}}, "reranker.max_length: unknown setting"),
        ({"server": {"keep_finished_jobs": 0}}, "server.keep_finished_jobs"),
        ({"server": {"min_free_disk_mb": 1}}, "server.min_free_disk_mb"),
        ({"server": {"documents_cache_s": -1}}, "server.documents_cache_s"),
        ({"server": {"documents_cache_s": 86400}}, "server.documents_cache_s"),
        ({"search": {"mode": "fuzzy"}}, "search.mode"),
        ({"search": {"fusion": "dbsf", "weights": [1, 2]}}, "fusion rrf only"),
        ({"search": {"weights": [0, 0]}}, "not both 0"),
        ({"index": {"lexical": {"language": "klingon"}}}, "has no stemmer"),
        ({"index": {"lexical": {"stopwords": "latin"}}}, "is not a stopword list"),
        ({"index": {"lexical": {"tokenizer": "ngram"}}}, "index.lexical.tokenizer"),
    ],
)
def test_bad_files_name_the_key(tmp_path: Path, data: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, data))
    assert needle in str(info.value)
    assert "config.yaml" in str(info.value)


def test_unknown_env_key_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMSEARCH_SEARCH__TOPK", "3")
    with pytest.raises(ConfigError, match="search.topk: unknown setting"):
        load_settings()


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("search:\n  top_k: 4\nembedding: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_settings(bad)
    assert str(info.value).startswith(f"config file {bad}, line 4, column 1: not valid YAML:")
    tabbed = tmp_path / "tabbed.yaml"
    tabbed.write_text("search:\n\ttop_k: 4\n")
    with pytest.raises(ConfigError, match=rf"config file {tabbed}, line 2, column 1: not valid YAML"):
        load_settings(tabbed)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"search: \xff\xfe\n")
    with pytest.raises(ConfigError, match=f"config file {binary}"):
        load_settings(binary)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_settings(listy)


def _leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_shipped_config_yaml_documents_every_key_with_its_default() -> None:
    """config.yaml at the root lists every setting, and its values are the code's defaults."""
    shipped = _leaves(yaml.safe_load((ROOT / "config.yaml").read_text()))
    defaults = _leaves(Settings.model_construct().model_dump(mode="json"))  # no env, no file
    defaults.pop("data_dir")
    shipped.pop("data_dir", None)
    assert set(shipped) == set(defaults), set(shipped) ^ set(defaults)
    for key, value in defaults.items():
        assert shipped[key] == value, key


def test_secret_values_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMSEARCH_SERVER__READ_KEYS", "tooshortsecret")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "server.read_keys" in str(info.value) and "tooshortsecret" not in str(info.value)


def test_shipped_config_yaml_is_what_the_generator_writes() -> None:
    """Descriptions too: regenerate with `.venv/bin/python scripts/write_config.py > config.yaml`."""
    assert (ROOT / "config.yaml").read_text() == load_script("write_config").render()
