"""Moving a collection: Qdrant Edge → qdrant-client (the code that talks to a server, here on its local
mode: no Qdrant server can run on our machines) and back, resumably and verified; the old local-mode
folder → Qdrant Edge; and ``mmsearch optimize``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mmsearch.cli import cli
from mmsearch.errors import StoreError
from mmsearch.index import migrate as mig
from mmsearch.index.edge_store import EdgeStore
from mmsearch.index.qdrant_store import QdrantStore
from mmsearch.index.settings import IndexSettings, StoreSettings
from mmsearch.index.store import Payload, Point
from mmsearch.index.store_registry import open_store

MODEL = "tiny/embedding"
DIM = 64
LOCAL = StoreSettings(backend="qdrant-local")


def make_points(n: int, seed: int = 0, dim: int = DIM) -> list[Point]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)) * np.exp(-3 * np.arange(dim) / dim)
    out = []
    for i, v in enumerate(vectors):
        payload = Payload(
            doc_id=f"doc-{i // 7}", source_path=f"/d/{i // 7}.pdf", modality="page", text=f"page {i}",
            media_paths=[f"media/{i}.jpg"], content_hash=str(i), source_sha256="s", ingest_time=float(i),
            model_id=MODEL, dim=dim, page=i % 7 + 1, page_count=7, search_text=f"page {i}",
        )  # fmt: skip
        out.append(Point(str(uuid.uuid5(uuid.NAMESPACE_OID, str(i))), v / np.linalg.norm(v), payload))
    return out


def filled_edge(path: Path, points: list[Point], index: IndexSettings) -> None:
    with open_store(StoreSettings(), index, path) as store:
        store.ensure_collection(MODEL, DIM)
        store.upsert(points)


@pytest.mark.parametrize("prefetch_dim", [None, 32])
def test_edge_to_qdrant_client_and_back_copies_ids_vectors_and_payloads(
    tmp_path: Path, prefetch_dim: int | None
) -> None:
    index = IndexSettings(prefetch_dim=prefetch_dim)
    points = make_points(600)
    filled_edge(tmp_path / "edge", points, index)
    with (
        open_store(StoreSettings(), index, tmp_path / "edge") as edge,
        open_store(LOCAL, IndexSettings(), tmp_path / "server") as server,  # layout taken from the source
    ):
        assert isinstance(edge, EdgeStore) and isinstance(server, QdrantStore)
        report = mig.migrate(edge, server, tmp_path / "progress.json", page=100, sample=50)
        assert report.ok and (report.copied, report.source_points, report.target_points) == (600, 600, 600)
        assert report.sampled == 50 and report.resumed_from is None
        assert server.stats().prefetch_dim == prefetch_dim and server.stats().model_id == MODEL
        query = points[5].vector
        assert [h.id for h in server.search(query, 10)] == [h.id for h in edge.search(query, 10)]
        assert server.retrieve([points[5].id]) == edge.retrieve([points[5].id])
    with (  # the reverse: a (small) server collection into a fresh embedded store
        open_store(LOCAL, index, tmp_path / "server") as server,
        open_store(StoreSettings(), IndexSettings(), tmp_path / "edge2") as edge2,
    ):
        assert isinstance(server, QdrantStore) and isinstance(edge2, EdgeStore)
        back = mig.migrate(server, edge2, tmp_path / "back.json", page=64)
        assert back.ok and edge2.count() == 600
        assert edge2.retrieve([p.id for p in points]) == {p.id: p.payload for p in points}


def test_an_interrupted_copy_resumes_where_it_stopped(tmp_path: Path) -> None:
    points = make_points(500)
    filled_edge(tmp_path / "edge", points, IndexSettings())
    progress = tmp_path / "progress.json"

    def stop_after_two_pages(copied: int, total: int) -> None:
        if copied >= 200:
            raise KeyboardInterrupt

    with (
        open_store(StoreSettings(), IndexSettings(), tmp_path / "edge") as edge,
        open_store(LOCAL, IndexSettings(), tmp_path / "server") as server,
    ):
        assert isinstance(edge, EdgeStore) and isinstance(server, QdrantStore)
        with pytest.raises(KeyboardInterrupt):
            mig.migrate(edge, server, progress, page=100, on_progress=stop_after_two_pages)
        assert server.count() == 200
        state = json.loads(progress.read_text())
        assert state["done"] is False and state["next"] is not None
        report = mig.migrate(edge, server, progress, page=100)
        assert report.ok and report.resumed_from == state["next"]
        assert report.copied == 300 and server.count() == 500
        assert json.loads(progress.read_text())["done"] is True
        again = mig.migrate(edge, server, progress, page=100)  # a finished copy starts afresh: idempotent
        assert again.ok and again.copied == 500 and server.count() == 500


def test_verification_names_points_that_differ_and_counts_that_do_not_match(tmp_path: Path) -> None:
    points = make_points(120)
    filled_edge(tmp_path / "edge", points, IndexSettings())
    with (
        open_store(StoreSettings(), IndexSettings(), tmp_path / "edge") as edge,
        open_store(LOCAL, IndexSettings(), tmp_path / "server") as server,
    ):
        assert isinstance(edge, EdgeStore) and isinstance(server, QdrantStore)
        mig.migrate(edge, server, tmp_path / "p.json", sample=120)
        changed = make_points(1, seed=9)[0]
        server.upsert([Point(points[3].id, changed.vector, points[3].payload)])  # same id, other vector
        server.delete_document("doc-17")  # point 119 alone
        report = mig.verify(edge, server, sample=120)
    assert not report.ok
    assert points[3].id in report.mismatched
    assert (report.source_points, report.target_points) == (120, 119)


def test_migrating_an_absent_collection_is_a_clear_error(tmp_path: Path) -> None:
    with (
        open_store(StoreSettings(), IndexSettings(), tmp_path / "edge") as edge,
        open_store(LOCAL, IndexSettings(), tmp_path / "server") as server,
    ):
        assert isinstance(edge, EdgeStore) and isinstance(server, QdrantStore)
        with pytest.raises(StoreError, match="nothing to copy: collection 'mmsearch' does not exist"):
            mig.migrate(edge, server, tmp_path / "p.json")


# -- the old local-mode folder --------------------------------------------------------------------


def test_an_old_local_mode_store_is_refused_with_the_command_then_migrated_in_place(tmp_path: Path) -> None:
    data = tmp_path / "data"
    points = make_points(300)
    with open_store(LOCAL, IndexSettings(), data / "qdrant") as old:
        old.ensure_collection(MODEL, DIM)
        old.upsert(points)
    with pytest.raises(
        StoreError, match=r"old qdrant-client local-mode format.*mmsearch migrate --from-local"
    ):
        open_store(StoreSettings(), IndexSettings(), data / "qdrant")

    done = CliRunner().invoke(cli, ["--data-dir", str(data), "migrate", "--from-local", "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output.strip().splitlines()[-1])
    assert report["ok"] and report["copied"] == 300 and report["target_points"] == 300
    with open_store(StoreSettings(), IndexSettings(), data / "qdrant") as store:
        assert isinstance(store, EdgeStore)
        assert store.retrieve([p.id for p in points]) == {p.id: p.payload for p in points}
        assert store.search(points[7].vector, 1)[0].id == points[7].id
    assert (data / "qdrant" / "collection" / "mmsearch").is_dir()  # the old files are kept


def test_migrate_takes_exactly_one_direction(tmp_path: Path) -> None:
    done = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "migrate"])
    assert done.exit_code == 2 and "exactly one of --to URL, --from URL, --from-local" in done.output


def test_migrate_to_a_server_that_is_down_names_it(tmp_path: Path) -> None:
    filled_edge(tmp_path / "qdrant", make_points(5), IndexSettings())
    done = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "migrate", "--to", "http://127.0.0.1:9"])
    assert done.exit_code != 0
    assert isinstance(done.exception, StoreError) and "127.0.0.1:9" in str(done.exception)


# -- optimize: exact below index.exact_below, HNSW above ----------------------------------------------


def test_optimize_builds_hnsw_only_past_the_exact_threshold(tmp_path: Path) -> None:
    points = make_points(1500)
    vectors = np.stack([p.vector for p in points])
    for exact_below, graph in [(100_000, False), (300, True)]:
        index = IndexSettings(exact_below=exact_below, hnsw_m=16, hnsw_ef_construct=64, hnsw_ef=128)
        folder = tmp_path / f"q{exact_below}"
        with open_store(StoreSettings(), index, folder) as store:
            assert isinstance(store, EdgeStore)
            store.ensure_collection(MODEL, DIM)
            store.upsert(points)
            store.optimize()
            info = store._open_shard().info()
            assert (info.indexed_vectors_count > 0) is graph, info.indexed_vectors_count
            found = 0
            for query in vectors[:20]:
                best = {points[i].id for i in np.argsort(-(vectors @ query))[:10]}
                found += len(best & {h.id for h in store.search(query, 10)})
            assert found >= 190 if graph else found == 200  # exact below the threshold, near-exact above


def test_the_optimize_command(tmp_path: Path) -> None:
    filled_edge(tmp_path / "qdrant", make_points(50), IndexSettings())
    done = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "optimize", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["points"] == 50


def stats_of(runner: CliRunner, base: list[str]) -> tuple[dict[str, object], str]:
    """``mmsearch stats`` as JSON and as the text an operator reads (whitespace folded)."""
    as_json = runner.invoke(cli, [*base, "stats", "--json"])
    text = runner.invoke(cli, [*base, "stats"])
    assert as_json.exit_code == text.exit_code == 0, as_json.output + text.output
    return json.loads(as_json.output), " ".join(text.output.split())


def test_stats_says_when_points_wait_outside_the_vector_index(tmp_path: Path) -> None:
    """Ingest through ``serve`` never builds the graph: ``stats`` tells the operator to run optimize."""
    index = IndexSettings(exact_below=30, hnsw_m=16, hnsw_ef_construct=64)
    filled_edge(tmp_path / "qdrant", make_points(50), index)
    runner = CliRunner(env={"MMSEARCH_INDEX__EXACT_BELOW": "30"})
    base = ["--data-dir", str(tmp_path)]

    numbers, said = stats_of(runner, base)
    assert (numbers["points"], numbers["indexed_points"]) == (50, 0)
    assert "50 points are outside the vector index" in said and "mmsearch optimize" in said
    assert runner.invoke(cli, [*base, "optimize"]).exit_code == 0
    numbers, said = stats_of(runner, base)
    assert (numbers["points"], numbers["indexed_points"]) == (50, 50)
    assert "outside the vector index" not in said


def test_stats_and_optimize_agree_after_exact_below_is_lowered(tmp_path: Path) -> None:
    """The collection keeps the threshold it was created with: ``stats`` reads that one (so it does not
    send the operator to an ``optimize`` that has nothing to do), and ``optimize --force`` applies the
    lowered setting."""
    filled_edge(tmp_path / "qdrant", make_points(50), IndexSettings(exact_below=100_000, hnsw_m=16))
    runner = CliRunner(env={"MMSEARCH_INDEX__EXACT_BELOW": "30"})
    base = ["--data-dir", str(tmp_path)]

    numbers, said = stats_of(runner, base)
    assert numbers["exact_below"] == 100_000 and numbers["indexed_points"] == 0
    assert "outside the vector index" not in said
    assert "mmsearch optimize --force" in said and "100,000" in said
    plain = runner.invoke(cli, [*base, "optimize", "--json"])
    assert plain.exit_code == 0 and json.loads(plain.output)["changed"] is False, plain.output
    assert (
        stats_of(runner, base)[0]["indexed_points"] == 0
    )  # the plain optimize keeps the collection's threshold
    forced = runner.invoke(cli, [*base, "optimize", "--force", "--json"])
    assert forced.exit_code == 0, forced.output
    numbers, said = stats_of(runner, base)
    assert numbers["exact_below"] == 30 and numbers["indexed_points"] == 50
    assert "outside the vector index" not in said and "--force" not in said


# -- the server protocol: qdrant-client's REST requests, validated by a loopback fake ------------------


def test_migrate_to_and_from_a_server_over_its_rest_protocol(tmp_path: Path) -> None:
    """``mmsearch migrate --to URL`` over HTTP: every request body is parsed by qdrant-client's generated
    models (Qdrant's OpenAPI shapes, extra fields forbidden) in ``tests/qdrant_server.py``."""
    from tests.qdrant_server import fake_qdrant

    points = make_points(700)
    filled_edge(tmp_path / "data" / "qdrant", points, IndexSettings(prefetch_dim=32))
    env = {"MMSEARCH_INDEX__PREFETCH_DIM": "32"}
    with fake_qdrant() as (url, fake):
        runner = CliRunner(env=env)
        done = runner.invoke(cli, ["--data-dir", str(tmp_path / "data"), "migrate", "--to", url, "--json"])
        assert done.exit_code == 0, done.output
        report = json.loads(done.output.strip().splitlines()[-1])
        assert report["ok"] and report["copied"] == 700 and report["target_points"] == 700
        stored = fake.collections["mmsearch"]
        assert set(stored["create"].vectors) == {"full", "prefetch"}
        assert stored["create"].metadata["mmsearch"]["model_id"] == MODEL
        assert stored["points"][points[3].id][1]["text"] == "page 3"
        assert ("POST", "/collections/mmsearch/points") in fake.requests  # the sampled vectors, read back
        with open_store(
            StoreSettings(url=url), IndexSettings(prefetch_dim=32), tmp_path / "unused"
        ) as server:
            server.verify(MODEL, DIM)  # the layout recorded in the server collection's metadata
            assert server.count() == 700
            assert server.retrieve([points[9].id]) == {points[9].id: points[9].payload}

        back = runner.invoke(cli, ["--data-dir", str(tmp_path / "back"), "migrate", "--from", url, "--json"])
        assert back.exit_code == 0, back.output
        assert json.loads(back.output.strip().splitlines()[-1])["target_points"] == 700
    with open_store(StoreSettings(), IndexSettings(prefetch_dim=32), tmp_path / "back" / "qdrant") as store:
        assert store.retrieve([p.id for p in points[:50]]) == {p.id: p.payload for p in points[:50]}
