"""The collection's recorded layout (model, dimension, prefetch dimension) and the settings that shape it:
mismatches are refused with a re-index hint; bad settings are ConfigErrors; server-only options."""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest

from mmsearch.config import load_settings
from mmsearch.errors import ConfigError, DimensionMismatch, StoreError
from mmsearch.index import qdrant_store, schema
from mmsearch.index.schema import LEXICAL, PLAIN_LEXICAL, lexical_record
from mmsearch.index.settings import IndexSettings, StoreSettings
from mmsearch.index.store import Payload, Point
from mmsearch.index.store_registry import open_store

MODEL = "tiny/embedding"
LOCAL = StoreSettings(backend="qdrant-local")


def make_point(dim: int, model_id: str = MODEL, payload_dim: int | None = None) -> Point:
    vector = np.random.default_rng(dim).normal(size=dim)
    payload = Payload(
        doc_id="d", source_path="/a.pdf", modality="page", text="", media_paths=[], content_hash="h",
        source_sha256="s", ingest_time=1.0, model_id=model_id, dim=payload_dim or dim, page=1, page_count=1,
    )  # fmt: skip
    return Point(str(uuid.uuid4()), vector / np.linalg.norm(vector), payload)


def make_collection(path: Path, dim: int, prefetch_dim: int | None = None, model_id: str = MODEL) -> None:
    with open_store(StoreSettings(), IndexSettings(prefetch_dim=prefetch_dim), path) as store:
        store.ensure_collection(model_id, dim)
        store.upsert([make_point(dim, model_id)])


def test_a_256d_collection_refuses_a_512d_configuration_with_a_reindex_hint(tmp_path: Path) -> None:
    make_collection(tmp_path / "q", 256)
    with open_store(StoreSettings(), IndexSettings(), tmp_path / "q") as store:
        with pytest.raises(DimensionMismatch) as caught:
            store.ensure_collection(MODEL, 512)
        assert store.count() == 1  # nothing was touched
    message = str(caught.value)
    assert f"holds 256-d vectors of '{MODEL}'" in message
    assert "asks for 512-d vectors" in message
    assert "embedding.dim: 256" in message
    assert "new store.collection" in message
    assert "mmsearch ingest --reindex" in message


def test_another_model_with_the_same_dimension_is_refused(tmp_path: Path) -> None:
    make_collection(tmp_path / "q", 128, model_id="org/model-a")
    with open_store(StoreSettings(), IndexSettings(), tmp_path / "q") as store:
        with pytest.raises(DimensionMismatch, match="embedding.model: org/model-a"):
            store.ensure_collection("org/model-b", 128)
        with pytest.raises(DimensionMismatch, match="'org/model-b'"):
            store.verify("org/model-b", 128)
        store.verify("org/model-a", 128)  # the right model passes


def test_a_different_prefetch_dimension_is_refused(tmp_path: Path) -> None:
    make_collection(tmp_path / "q", 128, prefetch_dim=64)
    with (
        open_store(StoreSettings(), IndexSettings(prefetch_dim=32), tmp_path / "q") as store,
        pytest.raises(DimensionMismatch, match=r"prefetch: 64-d.*index.prefetch_dim: 64"),
    ):
        store.ensure_collection(MODEL, 128)
    with (
        open_store(StoreSettings(), IndexSettings(), tmp_path / "q") as store,
        pytest.raises(DimensionMismatch, match="prefetch: none"),
    ):
        store.search(make_point(128).vector, limit=3)  # reads refuse too, not only ensure_collection


def test_a_query_vector_of_another_dimension_is_refused(tmp_path: Path) -> None:
    make_collection(tmp_path / "q", 128)
    with (
        open_store(StoreSettings(), IndexSettings(), tmp_path / "q") as store,
        pytest.raises(DimensionMismatch, match=r"query vector has shape \(64,\).*128-d"),
    ):
        store.search(make_point(64).vector, limit=3)


def test_points_of_another_model_or_dimension_are_refused(tmp_path: Path) -> None:
    with open_store(StoreSettings(), IndexSettings(), tmp_path / "q") as store:
        store.ensure_collection(MODEL, 128)
        with pytest.raises(DimensionMismatch, match="embedded by 'other/model'"):
            store.upsert([make_point(128, model_id="other/model")])
        with pytest.raises(DimensionMismatch, match=r"shape \(64,\)"):
            store.upsert([make_point(128), make_point(64, payload_dim=128)])  # none written
        with pytest.raises(DimensionMismatch, match="at 64-d"):
            store.upsert([make_point(128, payload_dim=64)])
        assert store.count() == 0


def test_verify_accepts_an_absent_collection_and_drop_allows_a_new_layout(tmp_path: Path) -> None:
    make_collection(tmp_path / "q", 256)
    with open_store(StoreSettings(), IndexSettings(), tmp_path / "q") as store:
        store.verify(MODEL, 256)
        assert store.drop() is True
        store.verify("anything", 512)  # absent: nothing to disagree with
        store.ensure_collection(MODEL, 512)
        assert (store.stats().dim, store.count()) == (512, 0)
        assert store.drop() is True
        assert store.drop() is False


def test_the_layout_is_recorded_in_a_side_file_written_atomically(tmp_path: Path) -> None:
    """Qdrant Edge keeps no collection metadata: ``edge/<collection>.json`` holds it."""
    make_collection(tmp_path / "q", 128, prefetch_dim=32)
    recorded = json.loads((tmp_path / "q" / "edge" / "mmsearch.json").read_text())
    assert recorded["engine"].startswith("qdrant-edge-py ")
    del recorded["engine"]
    assert recorded.pop(LEXICAL) == lexical_record(IndexSettings().lexical)  # the text index (issue 20)
    assert recorded == {"schema": 1, "model_id": MODEL, "dim": 128, "prefetch_dim": 32}
    assert not list((tmp_path / "q" / "edge").glob(".*.tmp"))  # the temporary file was renamed


def test_local_mode_records_the_layout_in_collection_metadata(tmp_path: Path) -> None:
    with open_store(LOCAL, IndexSettings(prefetch_dim=32), tmp_path / "q") as store:
        store.ensure_collection(MODEL, 128)
    meta = json.loads((tmp_path / "q" / "meta.json").read_text())
    recorded = meta["collections"]["mmsearch"]["metadata"]["mmsearch"]
    assert recorded.pop(LEXICAL) == lexical_record(PLAIN_LEXICAL)  # local mode: its word tokenizer only
    assert recorded == {"schema": 1, "model_id": MODEL, "dim": 128, "prefetch_dim": 32}


def test_without_the_side_file_the_layout_is_read_from_the_shard_and_a_point(tmp_path: Path) -> None:
    """A crash between creating the shard and writing the side file: nothing is lost or guessed."""
    make_collection(tmp_path / "q", 128, prefetch_dim=32)
    (tmp_path / "q" / "edge" / "mmsearch.json").unlink()
    with open_store(StoreSettings(), IndexSettings(prefetch_dim=32), tmp_path / "q") as store:
        stats = store.stats()
        assert (stats.model_id, stats.dim, stats.prefetch_dim, stats.points) == (MODEL, 128, 32, 1)
        with pytest.raises(DimensionMismatch, match="other/model"):
            store.ensure_collection("other/model", 128)


def test_without_metadata_local_mode_reads_the_model_from_a_point(tmp_path: Path) -> None:
    """A collection from a server too old to keep metadata: the stored payload names the model."""
    with open_store(LOCAL, IndexSettings(), tmp_path / "q") as store:
        store.ensure_collection(MODEL, 128)
        store.upsert([make_point(128)])
    meta_path = tmp_path / "q" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["collections"]["mmsearch"]["metadata"] = None
    meta_path.write_text(json.dumps(meta))
    with open_store(LOCAL, IndexSettings(), tmp_path / "q") as store:
        assert store.stats().model_id == MODEL
        with pytest.raises(DimensionMismatch, match="other/model"):
            store.ensure_collection("other/model", 128)


def test_a_collection_not_made_by_mmsearch_is_refused(tmp_path: Path) -> None:
    import qdrant_edge as qe

    config = qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=8, distance=qe.Distance.Dot))
    qe.EdgeShard.create(str(tmp_path / "q" / "edge" / "mmsearch"), config).close()
    with (
        open_store(StoreSettings(), IndexSettings(), tmp_path / "q") as store,
        pytest.raises(StoreError, match="not made by mmsearch.*another store.collection"),
    ):
        store.ensure_collection(MODEL, 8)


def test_a_local_mode_collection_not_made_by_mmsearch_is_refused(tmp_path: Path) -> None:
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=str(tmp_path / "q"))
    client.create_collection(
        "mmsearch", vectors_config=models.VectorParams(size=8, distance=models.Distance.DOT)
    )
    client.close()
    with (
        open_store(LOCAL, IndexSettings(), tmp_path / "q") as store,
        pytest.raises(StoreError, match="not made by mmsearch.*another store.collection"),
    ):
        store.ensure_collection(MODEL, 8)


def test_a_prefetch_dimension_not_below_the_full_one_is_a_config_error(tmp_path: Path) -> None:
    with open_store(StoreSettings(), IndexSettings(prefetch_dim=256), tmp_path / "q") as store:
        with pytest.raises(ConfigError, match=r"index.prefetch_dim \(256\) must be smaller .* \(256\)"):
            store.ensure_collection(MODEL, 256)
        assert store.count() == 0


def test_both_a_path_and_a_url_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    overrides = {"store": {"path": str(tmp_path / "q"), "url": "http://localhost:6333"}}
    with pytest.raises(ConfigError, match=r"store.path \(embedded\) or store.url \(server\), not both"):
        load_settings(overrides=overrides)


def test_an_unknown_backend_is_a_config_error_listing_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown store.backend 'milvus'; valid: qdrant, qdrant-local"):
        open_store(StoreSettings(backend="milvus"), IndexSettings(), tmp_path / "q")


def test_a_corrupt_local_mode_folder_is_a_store_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "meta.json").write_text("{not json")
    with pytest.raises(StoreError, match=f"embedded Qdrant store at {tmp_path / 'q'}"):
        open_store(LOCAL, IndexSettings(), tmp_path / "q")


def test_a_corrupt_edge_shard_is_a_store_error_naming_it(tmp_path: Path) -> None:
    make_collection(tmp_path / "q", 64)
    (tmp_path / "q" / "edge" / "mmsearch.json").write_text("{not json")
    with (
        open_store(StoreSettings(), IndexSettings(), tmp_path / "q") as store,
        pytest.raises(StoreError, match=f"cannot read {tmp_path / 'q' / 'edge' / 'mmsearch.json'}"),
    ):
        store.count()
    (tmp_path / "q" / "edge" / "mmsearch.json").unlink()
    shutil.rmtree(tmp_path / "q" / "edge" / "mmsearch" / "segments")
    (tmp_path / "q" / "edge" / "mmsearch" / "segments").write_text("not a folder")
    with (
        open_store(StoreSettings(), IndexSettings(), tmp_path / "q") as store,
        pytest.raises(StoreError, match=f"cannot load the Qdrant Edge shard {tmp_path / 'q' / 'edge'}"),
    ):
        store.count()


def test_a_bad_stored_payload_is_a_store_error_naming_the_point(tmp_path: Path) -> None:
    import qdrant_edge as qe

    make_collection(tmp_path / "q", 64)
    shard = qe.EdgeShard.load(str(tmp_path / "q" / "edge" / "mmsearch"))
    record = shard.scroll(qe.ScrollRequest(limit=1))[0][0]
    shard.update(qe.UpdateOperation.overwrite_payload([record.id], {"doc_id": "d"}))
    shard.close()
    with (
        open_store(StoreSettings(), IndexSettings(), tmp_path / "q") as store,
        pytest.raises(StoreError, match=f"point {record.id} .* bad payload: .* lacks source_path"),
    ):
        store.retrieve([str(record.id)])


def test_payload_round_trips_and_ignores_unknown_keys() -> None:
    payload = make_point(64).payload
    data = payload.to_dict()
    assert isinstance(data["media_paths"], list)
    assert Payload.from_dict({**data, "added_in_a_later_version": 1}) == payload
    with pytest.raises(StoreError, match="modality 'audio'"):
        Payload.from_dict({**data, "modality": "audio"})


def test_a_point_id_must_be_a_uuid() -> None:
    good = make_point(64)
    with pytest.raises(StoreError, match="'page-1' is not a point id"):
        Point("page-1", good.vector, good.payload)


# -- what only a server is given -------------------------------------------------------------------


def test_server_options_carry_sharding_replication_and_quantization() -> None:
    from qdrant_client import models

    index = IndexSettings(quantization="scalar", shard_number=4, replication_factor=2, oversampling=3.0)
    options = qdrant_store.server_collection_options(index)
    assert (options["shard_number"], options["replication_factor"]) == (4, 2)
    assert options["quantization_config"].scalar.type == models.ScalarType.INT8
    params = qdrant_store.search_params(index)
    assert params is not None and params.quantization is not None
    assert (params.quantization.rescore, params.quantization.oversampling) == (True, 3.0)
    binary = qdrant_store.server_collection_options(IndexSettings(quantization="binary"))
    assert isinstance(binary["quantization_config"], models.BinaryQuantization)
    assert "quantization_config" not in qdrant_store.server_collection_options(IndexSettings())
    assert qdrant_store.search_params(IndexSettings()).quantization is None
    assert qdrant_store.search_params(IndexSettings(hnsw_ef=99)).hnsw_ef == 99
    hnsw = qdrant_store.server_collection_options(IndexSettings(hnsw_m=24, hnsw_ef_construct=300))
    assert (hnsw["hnsw_config"].m, hnsw["hnsw_config"].ef_construct) == (24, 300)


def test_local_mode_notes_and_ignores_server_only_options(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index = IndexSettings(quantization="binary", shard_number=2)
    with (
        caplog.at_level(logging.INFO, logger="mmsearch.index.qdrant_store"),
        open_store(LOCAL, index, tmp_path / "q") as store,
    ):
        store.ensure_collection(MODEL, 64)
        store.upsert([make_point(64)])
        assert len(store.search(make_point(64).vector, limit=1)) == 1
    assert "ignoring index.quantization=binary, index.shard_number=2" in caplog.text


def test_path_prefixes_hold_the_path_and_every_ancestor() -> None:
    assert schema.path_prefixes("/data/docs/a.pdf") == ["/", "/data", "/data/docs", "/data/docs/a.pdf"]
