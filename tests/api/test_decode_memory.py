"""Hostile query images cannot take the server's memory: a real ``mmsearch serve`` process, its peak
resident memory read from ``/proc/<pid>/status`` (``VmHWM``, reset through ``/proc/<pid>/clear_refs``
after warm-up).

Issue #9 measured one search with a 493 KB 13000×13000 PNG peaking the server at 2.4 GB, four at once at
6.6 GB. The bounds here, over the resident size after warm-up:

- eight concurrent searches with that PNG: **under 150 MB**. 169 M pixels is over
  ``ingest.max_decode_pixels`` (Pillow's 89.5 M), so each is refused from its header (415) and nothing is
  decoded; what remains is eight 0.5 MB bodies, their parsing and the threads.
- eight concurrent searches with a 6000×6000 PNG (36 M pixels, under the limit, so really decoded):
  **under 2 × 2 × 3 bytes × 36 M + 150 MB ≈ 580 MB**: at most ``server.max_concurrent_decodes`` = 2
  decode at once, each holding its 108 MB RGB image and at most one more of that size while it is
  converted and resized (measured alone: 1.75×). Without the bound eight would need about 1.7 GB.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.support import budget

pytestmark = pytest.mark.slow

MB = 2**20
BODY_SLACK = 150 * MB
DECODES = 2


def png(width: int, height: int) -> bytes:
    """A valid all-black RGB PNG of any size, compressed row by row (never held as pixels here)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\x00" + bytes(3 * width)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def status(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    assert found, field
    return int(found.group(1)) * 1024


def reset_peak(pid: int) -> int:
    """Reset VmHWM to the current resident size (Linux clear_refs "5"); return that size."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return status(pid, "VmRSS")


@pytest.fixture(scope="module")
def served(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> object:
    data_dir = tmp_path_factory.mktemp("decode") / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSEARCH_")}
    env.update(
        MMSEARCH_EMBEDDING__MODEL=str(tiny_models / "embedding"),
        MMSEARCH_RERANKER__MODEL=str(tiny_models / "reranker"),
        MMSEARCH_EMBEDDING__DEVICE="cpu",
        MMSEARCH_RERANKER__DEVICE="cpu",
        MMSEARCH_SERVER__MAX_CONCURRENT_DECODES=str(DECODES),
        HF_HUB_OFFLINE="1",
    )
    command = [sys.executable, "-m", "mmsearch", "--data-dir", str(data_dir), "serve", "--port", "0"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = _wait_for_url(process)
        yield process.pid, url
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_url(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    deadline = time.monotonic() + budget(180)
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
        if found:
            threading.Thread(target=_drain, args=(process.stderr,), daemon=True).start()  # logs keep coming
            return found.group(1)
    raise AssertionError("mmsearch serve did not start")


def _drain(stream: IO[str]) -> None:
    for _ in stream:
        pass


def search_with(url: str, image: bytes, n: int) -> list[httpx.Response]:
    def one(_: int) -> httpx.Response:
        files = {"image": ("query.png", image, "image/png")}
        return httpx.post(f"{url}/v1/search", files=files, headers={"Origin": url}, timeout=300)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_eight_searches_with_a_13000_pixel_square_png_stay_small(served: tuple[int, str]) -> None:
    pid, url = served
    search_with(url, png(64, 64), 1)  # warm-up: threads, the embedder's first call
    bomb = png(13000, 13000)
    assert len(bomb) < 600_000
    baseline = reset_peak(pid)
    responses = search_with(url, bomb, 8)
    peak = status(pid, "VmHWM") - baseline
    assert [r.status_code for r in responses] == [415] * 8, responses[0].text
    assert "max_decode_pixels" in responses[0].json()["error"]["message"]
    print(f"8 x 13000x13000 PNG: peak +{peak / MB:.0f} MB over {baseline / MB:.0f} MB")
    assert peak < BODY_SLACK, f"peak grew by {peak / MB:.0f} MB"


def test_eight_decodable_images_decode_two_at_a_time(served: tuple[int, str]) -> None:
    pid, url = served
    side = 6000
    image = png(side, side)
    bound = DECODES * 2 * 3 * side * side + BODY_SLACK
    baseline = reset_peak(pid)
    responses = search_with(url, image, 8)
    peak = status(pid, "VmHWM") - baseline
    # Decoded, then searched against an empty collection: 409, not a decode refusal.
    assert [r.status_code for r in responses] == [409] * 8, responses[0].text
    print(
        f"8 x {side}x{side} PNG: peak +{peak / MB:.0f} MB over {baseline / MB:.0f} MB (bound {bound / MB:.0f})"
    )
    assert peak < bound, f"peak grew by {peak / MB:.0f} MB, over {bound / MB:.0f} MB"
