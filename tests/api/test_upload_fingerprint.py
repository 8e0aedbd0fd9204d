"""Uploads through a running server obey the collection's preprocessing fingerprint, as a local
`mmsearch ingest` does: a job into a collection whose vectors this environment renders differently fails,
naming the fix, and ingests nothing (``index/fingerprint.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from api_support import WRITE_KEY, client_for, tiny_settings

from mmsearch.api.app import create_app
from mmsearch.api.services.parts import Services, open_services
from mmsearch.config import Settings
from mmsearch.index import fingerprint as fp
from mmsearch.samples import make_image

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def served(tiny_models: Path, tmp_path: Path) -> Iterator[tuple[Settings, Services]]:
    settings = tiny_settings(
        tmp_path / "data", tiny_models, small_media=True, server={"write_keys": [WRITE_KEY]}
    )
    services = open_services(settings)
    try:
        yield settings, services
    finally:
        services.close()


async def finished(client: httpx.AsyncClient, path: Path) -> dict[str, Any]:
    response = await client.post("/v1/documents", files=[("files", (path.name, path.read_bytes()))])
    assert response.status_code == 202, response.text
    job = response.json()
    with anyio.fail_after(120):
        while job["state"] in ("queued", "running"):
            await anyio.sleep(0.05)
            job = (await client.get(job["url"])).json()
    return job


async def test_an_upload_into_a_collection_rendered_otherwise_fails_and_ingests_nothing(
    served: tuple[Settings, Services], tmp_path: Path
) -> None:
    settings, services = served
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    make_image(first, "png", (120, 90), text="first")
    make_image(second, "png", (120, 90), text="second")
    async with client_for(create_app(settings, services), WRITE_KEY) as client:
        assert (await finished(client, first))["state"] == "done"
        made = fp.recorded(services.store)
        assert made is not None and made.hashes["image"]  # the job recorded how its vectors were made

        fp.record(services.store, replace(made, hashes={**made.hashes, "image": "0" * 16}))
        refused = await finished(client, second)
        assert refused["state"] == "failed"
        assert refused["error"].startswith("preprocessing_mismatch:") and "image" in refused["error"]
        assert "--reindex" in refused["error"]
        names = [d["file_name"] for d in (await client.get("/v1/documents")).json()["documents"]]
        assert names == ["first.png"]

        fp.record(services.store, made)  # the same rendering again: uploads go through
        assert (await finished(client, second))["state"] == "done"
