"""The collection's preprocessing fingerprint: what it hashes, where it is kept, and what `stats`, `ingest`
and `serve` do when this environment renders a modality differently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from mmsearch.cli import cli
from mmsearch.cli.serve import warn_if_preprocessing_differs
from mmsearch.errors import PreprocessingMismatch
from mmsearch.index import fingerprint as fp
from mmsearch.index.edge_store import EdgeStore
from mmsearch.index.settings import EmbeddingSettings
from mmsearch.index.store_registry import open_store
from mmsearch.samples import make_image, make_video
from tests.support import tiny_env, tiny_settings

# -- the fingerprint itself ------------------------------------------------------------------------


def test_a_difference_counts_only_where_both_sides_know_the_hash_and_the_collection_holds_it() -> None:
    stored = fp.Fingerprint({"page": "a", "image": "b", "video": "c", "text": None}, "then")
    now = fp.Fingerprint({"page": "a", "image": "B", "video": "C", "text": "t"}, "now")
    assert stored.differs(now, fp.MODALITIES) == ["image", "video"]
    assert stored.differs(now, {"page", "video"}) == ["video"]
    assert fp.stale(stored, now, {"page": 3, "image": 0, "video": 0}) == []
    assert fp.stale(None, now, {"video": 3}) == []  # none recorded: nothing to compare
    assert fp.held({"page": 0, "image": 2, "video": 0}) == {"image", "text"}
    assert fp.held({"page": 0, "image": 0, "video": 0}) == set()


@pytest.mark.parametrize(
    "data",
    [None, "x", [], {}, {"format": 99, "hashes": {}}, {"format": fp.FORMAT, "hashes": "nope"}],
)
def test_an_unreadable_record_is_no_fingerprint(data: Any) -> None:
    assert fp.Fingerprint.from_dict(data) is None


def test_a_record_round_trips_and_foreign_hash_values_read_as_unknown() -> None:
    made = fp.Fingerprint({"page": "a", "image": None, "video": "c", "text": "d"}, "transformers x")
    assert fp.Fingerprint.from_dict(made.to_dict()) == made
    odd = {"format": fp.FORMAT, "hashes": {"video": 3}, "rendered_by": "?"}
    assert fp.Fingerprint.from_dict(odd) == fp.Fingerprint({"video": None}, "?")


def test_the_pixel_pipeline_version_moves_the_media_hashes_only(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [1, 2, 3]
    before = {m: fp.digest(m, ids) for m in fp.MODALITIES}
    monkeypatch.setattr(fp, "PIXEL_PIPELINE", fp.PIXEL_PIPELINE + 1)
    after = {m: fp.digest(m, ids) for m in fp.MODALITIES}
    assert [m for m in fp.MODALITIES if before[m] != after[m]] == ["page", "image", "video"]
    assert fp.digest("text", [1, 2, 4]) != after["text"]


@pytest.mark.slow
def test_the_processor_alone_renders_what_the_loaded_embedder_feeds_its_model(tiny_models: Path) -> None:
    from mmsearch.index.transformers_embedder import TransformersEmbedder

    settings = EmbeddingSettings(model=str(tiny_models / "embedding"), device="cpu")
    embedder = TransformersEmbedder(settings)
    alone, loaded = fp.current(settings), fp.current(settings, embedder)
    assert alone == loaded and all(loaded.hashes.values())
    assert len(set(loaded.hashes.values())) == 4  # each canary renders to its own tokens
    ids = fp._in_process(settings, embedder)(fp.canaries()["video"], settings.document_instruction)
    frame = embedder.processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    assert (
        ids is not None and ids.count(frame) > 0
    )  # the clip's tokens as the processor expanded them, not a placeholder
    other = EmbeddingSettings(model=settings.model, device="cpu", document_instruction="Other words.")
    assert fp.current(other).hashes["video"] != loaded.hashes["video"]


def test_the_environment_key_moves_with_what_the_rendering_reads(tmp_path: Path, tiny_models: Path) -> None:
    import shutil

    folder = tmp_path / "embedding"
    shutil.copytree(tiny_models / "embedding", folder, ignore=shutil.ignore_patterns("*.safetensors"))
    settings = EmbeddingSettings(model=str(folder), device="cpu")
    key = fp.environment_key(settings)
    assert key is not None and fp.environment_key(settings) == key
    reworded = EmbeddingSettings(model=str(folder), device="cpu", document_instruction="Other words.")
    assert fp.environment_key(reworded) != key
    template = next(p for p in folder.iterdir() if p.suffix in fp.SMALL_FILES)
    template.write_bytes(template.read_bytes() + b" ")
    assert fp.environment_key(settings) != key
    assert fp.environment_key(EmbeddingSettings(model="Qwen/Qwen3-VL-Embedding-2B")) is None  # a hub id


@pytest.mark.slow
def test_a_change_in_how_video_prompts_render_moves_the_video_hash_only(
    tiny_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hash follows the embedder's own rendering: other ``<t seconds>`` markers (here from a
    stream rate the processor reads from ``qwen_prompt.video_metadata``) change the video tokens."""
    from mmsearch.index import qwen_prompt

    settings = EmbeddingSettings(model=str(tiny_models / "embedding"), device="cpu")
    before = fp.current(settings).hashes
    as_read = qwen_prompt.video_metadata
    monkeypatch.setattr(qwen_prompt, "video_metadata", lambda clip: {**as_read(clip), "fps": 0.5})
    after = fp.current(settings).hashes
    assert [m for m in fp.MODALITIES if before[m] != after[m]] == ["video"]


def test_sglang_fingerprints_the_prompt_its_client_renders(tiny_models: Path) -> None:
    settings = EmbeddingSettings(
        backend="sglang", url="http://127.0.0.1:9", model=str(tiny_models / "embedding")
    )
    made = fp.current(settings)  # renders client-side only: the (unreachable) server is never asked
    assert all(made.hashes.values()) and made.rendered_by.startswith("SGLang client prompt")
    in_process = fp.current(settings.model_copy(update={"backend": "transformers", "device": "cpu"}))
    assert made.hashes["text"] == in_process.hashes["text"]  # no media: the same tokens either way
    assert made.hashes["video"] != in_process.hashes["video"]  # the server, not the client, expands media


def test_qdrant_client_collections_keep_the_fingerprint_in_their_metadata(tmp_path: Path) -> None:
    from mmsearch.index.settings import IndexSettings, StoreSettings

    made = fp.Fingerprint({"page": "a", "image": "b", "video": "c", "text": "d"}, "here", "key")
    local = StoreSettings(backend="qdrant-local")
    with open_store(local, IndexSettings(), tmp_path / "q") as store:
        assert fp.recorded(store) is None
        fp.record(store, made)  # no collection yet: nothing to keep it in
        assert fp.recorded(store) is None
        store.ensure_collection("tiny/embedding", 64)
        fp.record(store, made)
    with open_store(local, IndexSettings(), tmp_path / "q") as store:
        assert fp.recorded(store) == made
        store.verify("tiny/embedding", 64)  # the layout's metadata is kept beside it


def test_a_vllm_server_renders_its_own_prompts_so_nothing_is_compared() -> None:
    settings = EmbeddingSettings(backend="vllm", url="http://127.0.0.1:9", model="m", dim=64)
    made = fp.current(settings)
    assert set(made.hashes) == set(fp.MODALITIES) and not any(made.hashes.values())
    assert fp.Fingerprint({"video": "x"}, "then").differs(made, fp.MODALITIES) == []


# -- the commands, on a real embedded collection ---------------------------------------------------


@pytest.fixture
def env(tmp_path: Path, tiny_models: Path) -> dict[str, str]:
    return tiny_env(tmp_path / "data", tiny_models)


def mmsearch(tmp_path: Path, env: dict[str, str], *args: str) -> Result:
    config = tmp_path / "config.yaml"
    config.write_text("{}\n")
    return CliRunner().invoke(cli, ["--config", str(config), *args], env=env)


def corpus(folder: Path, video: bool) -> Path:
    make_image(folder / "photo.png", "png", (96, 64), text="photo")
    if video:
        make_video(folder / "clip.mp4", 2, fps=2)
    return folder


def edge(tmp_path: Path, tiny_models: Path) -> EdgeStore:
    settings = tiny_settings(tmp_path / "data", tiny_models)
    store = open_store(settings.store, settings.index, settings.store_path)
    assert isinstance(store, EdgeStore)
    return store


def tamper(tmp_path: Path, tiny_models: Path, modality: str) -> dict[str, Any]:
    """Make the recorded fingerprint say ``modality`` was rendered by another environment."""
    with edge(tmp_path, tiny_models) as store:
        recorded = store.preprocessing()
        assert recorded is not None
        recorded["hashes"][modality] = "0" * 16
        recorded["rendered_by"] = "transformers 5.24.0, in process"
        recorded["environment"] = "another"  # what another environment's key would be
        store.record_preprocessing(recorded)
    return recorded


def stats(tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    done = mmsearch(tmp_path, env, "stats", "--json")
    assert done.exit_code == 0, done.output
    out: dict[str, Any] = json.loads(done.stdout)
    return out


@pytest.mark.slow
def test_a_collection_whose_video_rendering_changed_warns_in_stats_and_refuses_ingest(
    tmp_path: Path, env: dict[str, str], tiny_models: Path
) -> None:
    files = corpus(tmp_path / "corpus", video=True)
    assert mmsearch(tmp_path, env, "ingest", str(files), "--json").exit_code == 0
    same = stats(tmp_path, env)
    assert same["by_modality"]["video"] == 1 and same["preprocessing_warning"] is None
    assert same["preprocessing"].startswith("matches this environment")

    tamper(tmp_path, tiny_models, "video")
    table = mmsearch(tmp_path, env, "stats")
    assert table.exit_code == 0, table.output
    assert "Warning:" in table.stdout and "holds video vectors" in table.stdout
    assert "--reindex" in table.stdout and "transformers 5.24.0" in table.stdout
    assert stats(tmp_path, env)["preprocessing"].startswith("differs for video")

    refused = mmsearch(tmp_path, env, "ingest", str(files), "--json")
    assert isinstance(refused.exception, PreprocessingMismatch)
    message = str(refused.exception)
    assert "video" in message and "`mmsearch ingest --reindex PATH…`" in message
    assert "image" not in message.split("(recorded")[0]  # only the modality that differs is named

    rebuilt = mmsearch(tmp_path, env, "ingest", str(files), "--reindex", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "Rebuilding collection 'mmsearch': its video vectors" in rebuilt.stderr
    again = stats(tmp_path, env)
    assert again["points"] == same["points"] and again["preprocessing_warning"] is None


@pytest.mark.slow
def test_a_difference_in_a_modality_the_collection_does_not_hold_is_silent_and_then_updated(
    tmp_path: Path, env: dict[str, str], tiny_models: Path
) -> None:
    files = corpus(tmp_path / "corpus", video=False)
    assert mmsearch(tmp_path, env, "ingest", str(files), "--json").exit_code == 0
    before = tamper(tmp_path, tiny_models, "video")
    quiet = mmsearch(tmp_path, env, "stats")
    assert quiet.exit_code == 0 and "Warning" not in quiet.output
    assert "matches this environment" in quiet.stdout

    make_video(files / "clip.mp4", 2, fps=2)  # the first video goes in, rendered the current way
    done = mmsearch(tmp_path, env, "ingest", str(files), "--json")
    assert done.exit_code == 0, done.output
    with edge(tmp_path, tiny_models) as store:
        after = store.preprocessing()
    assert after is not None and after["hashes"]["video"] != before["hashes"]["video"]
    assert stats(tmp_path, env)["preprocessing_warning"] is None


@pytest.mark.slow
def test_a_collection_made_before_fingerprints_gets_one_at_the_next_ingest_without_warnings(
    tmp_path: Path, env: dict[str, str], tiny_models: Path
) -> None:
    files = corpus(tmp_path / "corpus", video=False)
    assert mmsearch(tmp_path, env, "ingest", str(files), "--json").exit_code == 0
    with edge(tmp_path, tiny_models) as store:
        meta = json.loads(store.meta_file.read_text())
        del meta["preprocessing"]
        store.meta_file.write_text(json.dumps(meta))
        assert store.preprocessing() is None
    old = mmsearch(tmp_path, env, "stats")
    assert old.exit_code == 0 and "Warning" not in old.output
    assert "none recorded yet" in old.stdout

    make_image(files / "second.png", "png", (64, 96), text="second")
    assert mmsearch(tmp_path, env, "ingest", str(files), "--json").exit_code == 0
    with edge(tmp_path, tiny_models) as store:
        assert fp.Fingerprint.from_dict(store.preprocessing()) is not None
    assert stats(tmp_path, env)["preprocessing"].startswith("matches this environment")


@pytest.mark.slow
def test_serve_warns_at_start_up_and_stays_silent_when_nothing_changed(
    tmp_path: Path, env: dict[str, str], tiny_models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = corpus(tmp_path / "corpus", video=True)
    assert mmsearch(tmp_path, env, "ingest", str(files), "--json").exit_code == 0
    settings = tiny_settings(tmp_path / "data", tiny_models)
    with edge(tmp_path, tiny_models) as store:
        warn_if_preprocessing_differs(store, settings)
    assert capsys.readouterr().err == ""
    tamper(tmp_path, tiny_models, "video")
    with edge(tmp_path, tiny_models) as store:
        warn_if_preprocessing_differs(store, settings)
    err = capsys.readouterr().err
    assert err.startswith("Warning: collection 'mmsearch' holds video vectors") and "--reindex" in err


@pytest.mark.slow
def test_stats_says_when_it_cannot_render_the_canaries_and_still_answers(
    tmp_path: Path, tiny_models: Path
) -> None:
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_models / "embedding", model)
    env = tiny_env(tmp_path / "data", tiny_models, MMSEARCH_EMBEDDING__MODEL=str(model))
    assert (
        mmsearch(tmp_path, env, "ingest", str(corpus(tmp_path / "corpus", video=False)), "--json").exit_code
        == 0
    )
    settings = tiny_settings(tmp_path / "data", tiny_models, embedding={"model": str(model)})
    with open_store(settings.store, settings.index, settings.store_path) as store:
        recorded = fp.recorded(store)
        assert recorded is not None
        fp.record(store, fp.Fingerprint(recorded.hashes, recorded.rendered_by, "another"))
    for path in model.iterdir():
        if path.name.startswith(("tokenizer", "processor", "chat_template", "preprocessor")):
            path.unlink()
    done = mmsearch(tmp_path, env, "stats", "--json")
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout)
    assert (
        out["preprocessing"].startswith("not compared: ModelNotFound")
        and out["preprocessing_warning"] is None
    )


def test_a_migration_carries_the_fingerprint_with_the_vectors(tmp_path: Path) -> None:
    from mmsearch.index import migrate
    from mmsearch.index.qdrant_store import QdrantStore
    from mmsearch.index.settings import IndexSettings, StoreSettings
    from mmsearch.index.store import Payload, Point

    made = fp.Fingerprint({"page": "a", "image": "b", "video": "c", "text": "d"}, "here", "key")
    payload = Payload(
        doc_id="d", source_path="/d.pdf", modality="page", text="", media_paths=[], content_hash="h",
        source_sha256="s", ingest_time=1.0, model_id="tiny/embedding", dim=64, page=1, page_count=1,
    )  # fmt: skip
    vector = np.ones(64, dtype=np.float32) / 8.0
    with open_store(StoreSettings(), IndexSettings(), tmp_path / "edge") as source:
        source.ensure_collection("tiny/embedding", 64)
        source.upsert([Point("00000000-0000-0000-0000-000000000001", vector, payload)])
        fp.record(source, made)
    with (
        open_store(StoreSettings(), IndexSettings(), tmp_path / "edge") as source,
        open_store(StoreSettings(backend="qdrant-local"), IndexSettings(), tmp_path / "local") as target,
    ):
        assert isinstance(source, EdgeStore) and isinstance(target, QdrantStore)
        assert migrate.migrate(source, target, tmp_path / "progress.json").ok
        assert fp.recorded(target) == made


def test_recording_the_fingerprint_already_recorded_writes_nothing() -> None:
    class Kept:
        def __init__(self) -> None:
            self.data: dict[str, Any] | None = None
            self.writes = 0

        def preprocessing(self) -> dict[str, Any] | None:
            return self.data

        def record_preprocessing(self, fingerprint: dict[str, Any]) -> None:
            self.data, self.writes = fingerprint, self.writes + 1

    made = fp.Fingerprint({m: m * 2 for m in fp.MODALITIES}, "here", "key")
    store = Kept()
    fp.record(store, made)
    fp.record(store, made)
    assert store.writes == 1 and fp.recorded(store) == made
    fp.record(store, fp.Fingerprint({**made.hashes, "video": "other"}, "here", "key"))
    assert store.writes == 2 and fp.recorded(store) != made
