"""An abandoned reranked search stops before its next model batch (``Searcher.search(cancelled=...)``,
watched by ``api/edge/gate.py``), so a small search behind it is answered about as fast as on an idle
server. Both are measured in the same run over a real uvicorn; the budgets are ratios, never milliseconds."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import ingest, live_server, tiny_settings

from mmsearch.api.app import create_app
from mmsearch.api.services.parts import Services, open_services
from mmsearch.samples import make_image

pytestmark = pytest.mark.slow

IMAGES = 24
HEADERS = {"Host": "localhost", "Authorization": "Bearer any"}  # a program: no keys, any bearer
LONG = ("which chart shows the harbour traffic by quarter and region " * 70)[:4000]
SMALL: dict[str, Any] = {"text": "harbour", "candidates": 2, "top_k": 2, "rerank": True}
SLOW: dict[str, Any] = {"text": LONG, "candidates": IMAGES, "top_k": 5, "rerank": True}


@pytest.fixture(scope="module")
def one_pair_batches(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """An index of IMAGES images whose reranker scores one pair per forward pass (many model batches)."""
    root = tmp_path_factory.mktemp("abandoned")
    folder = root / "corpus"
    folder.mkdir()
    for i in range(IMAGES):
        make_image(folder / f"chart-{i:02d}.png", "png", (160, 120), text=f"chart {i}")
    settings = tiny_settings(root / "data", tiny_models, small_media=True, reranker={"max_batch_size": 1})
    services = open_services(settings)
    try:
        ingest(settings, services, [folder])
        yield services
    finally:
        services.close()


def timed(client: httpx.Client, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = client.post("/v1/search", json=body)
    assert response.status_code == 200, response.text
    return time.perf_counter() - started


def test_a_search_behind_an_abandoned_rerank_is_answered_at_its_unloaded_speed(
    one_pair_batches: Services,
) -> None:
    services = one_pair_batches
    with (
        live_server(create_app(services.settings, services)) as live,
        httpx.Client(base_url=live.url, headers=HEADERS, timeout=300) as client,
    ):
        timed(client, SMALL)  # warm
        small = statistics.median(timed(client, SMALL) for _ in range(5))
        slow = timed(client, SLOW)
        per_batch = slow / IMAGES
        assert slow > 8 * (small + per_batch), (slow, small)  # else this test could not tell the difference

        def abandon() -> None:  # the client gives up after a quarter of the slow search
            with httpx.Client(base_url=live.url, headers=HEADERS) as leaving:
                try:
                    leaving.post("/v1/search", json=SLOW, timeout=slow / 4)
                except httpx.TimeoutException:
                    return
            raise AssertionError("the slow search answered before its client gave up")

        leaver = threading.Thread(target=abandon)
        leaver.start()
        leaver.join()
        started = time.perf_counter()
        behind = timed(client, SMALL)
        waited = time.perf_counter() - started
        # Without the stop the small search waits for the rest of the slow one (about 3/4 of ``slow``);
        # with it, for at most the batch under way and one look at the connection (gate.WATCH_S).
        print(f"small {small:.3f}s, slow {slow:.3f}s, behind the abandoned one {waited:.3f}s")
        assert waited <= 2 * small + per_batch + 0.2, (waited, small, per_batch, slow)
        assert behind < slow / 4, (behind, slow)
        gone = [line for line in client.get("/metrics").text.splitlines() if 'status="499"' in line]
        assert gone, "the abandoned search was not counted as 499"
