"""Upload-to-searchable latency and peak server memory for hostile uploads, against a real ``mmsearch serve``.

    python bench/upload.py                   # the configured models (config.yaml / MMSEARCH_*)
    python bench/upload.py --tiny            # the tiny random test models on the CPU, smallest pages
    python bench/upload.py --tiny --pages 20 --side 1000 --small 3 --json    # a smoke run (seconds)

Starts ``mmsearch serve`` on a free loopback port over a temporary ``data_dir`` (the page cap raised to
fit ``--pages``) and, one case at a time, uploads:

- ``pdf``: a PDF of ``--pages`` empty A4 pages (5000 by default, ~0.5 MB),
- ``png``: one ``--side`` x ``--side`` PNG (13000 by default: ~0.5 MB of zlib that decodes to 169 M
  pixels; refused as a decompression bomb when over ``ingest.max_decode_pixels``),
- ``small``: ``--small`` little PNGs (100 by default, the server's max_upload_files) in one request.

For each: seconds from the start of the upload to the 202, to the end of the job, and until a search
restricted to the document finds it (``searchable_s``), the job's result, and the server's peak RSS
during the case (VmRSS of the server process sampled every 20 ms from /proc) and since it started
(VmHWM). Nothing here is a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.embed import load_tiny_builder
from mmsearch.samples import make_empty_pdf, make_image


def huge_png(path: Path, side: int) -> Path:
    """A white ``side`` x ``side`` greyscale PNG written row by row (never held whole in memory)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * side
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Peak:
    """VmRSS of ``pid`` sampled in a thread; ``mb`` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self.pid, self.kb, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.kb = max(self.kb, proc_kb(self.pid, "VmRSS"))
            time.sleep(0.02)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(self.kb / 1024, 1)


def serve(args: argparse.Namespace, root: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSEARCH_")}
    env.update(
        MMSEARCH_DATA_DIR=str(root / "data"), MMSEARCH_INGEST__MAX_PAGES_PER_FILE=str(max(args.pages, 1))
    )
    if args.tiny:  # CPU: pages and frames at the model's minimum size, so the run measures the job
        env.update(
            MMSEARCH_INGEST__MAX_PIXELS=str(4 * 32 * 32), MMSEARCH_INGEST__VIDEO_FRAME_MAX_PIXELS=str(4 * 32 * 32),
            MMSEARCH_INGEST__PDF_DPI="36",
        )  # fmt: skip
        models = root / "tiny-models"
        load_tiny_builder().build_tiny_models(models)
        env.update(
            MMSEARCH_EMBEDDING__MODEL=str(models / "embedding"), MMSEARCH_EMBEDDING__DEVICE="cpu",
            MMSEARCH_RERANKER__MODEL=str(models / "reranker"), MMSEARCH_RERANKER__DEVICE="cpu",
        )  # fmt: skip
    port = free_port()
    command = [sys.executable, "-m", "mmsearch", "serve", "--port", str(port)]
    if args.config:
        command[3:3] = ["--config", str(args.config)]
    log = (root / "serve.log").open("wb")
    proc = subprocess.Popen(command, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"mmsearch serve exited: {(root / 'serve.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("mmsearch serve did not become ready in 10 minutes")
        time.sleep(0.2)


def run_case(name: str, url: str, pid: int, files: list[Path]) -> dict[str, Any]:
    peak = Peak(pid)
    started = time.perf_counter()
    handles = [f.open("rb") for f in files]
    try:
        response = httpx.post(
            f"{url}/v1/documents",
            files=[("files", (f.name, h)) for f, h in zip(files, handles, strict=True)],
            timeout=600,
        )
    finally:
        for handle in handles:
            handle.close()
    accepted_s = time.perf_counter() - started
    if response.status_code != 202:
        return {
            "case": name,
            "status": response.status_code,
            "error": response.text[:300],
            "peak_rss_mb": peak.stop(),
        }
    job = response.json()
    while job["state"] in ("queued", "running"):
        time.sleep(0.05)
        job = httpx.get(job["url"], timeout=30).json()
    done_s = time.perf_counter() - started
    docs = [f["doc_id"] for f in job["files"] if f["doc_id"]]
    for doc_id in docs:
        body = {"text": "x", "top_k": 1, "rerank": False, "filters": {"doc_id": doc_id}}
        while not httpx.post(f"{url}/v1/search", json=body, timeout=60).json().get("hits"):
            time.sleep(0.05)
    searchable_s = time.perf_counter() - started
    failures = [f"{f['name']}: {f['code']}: {f['message']}" for f in job["files"] if f["status"] == "failed"]
    return {
        "case": name, "files": len(files), "bytes": sum(f.stat().st_size for f in files),
        "units": sum(f["units"] for f in job["files"]), "state": job["state"], "failed": failures[:3],
        "accepted_s": round(accepted_s, 3), "job_done_s": round(done_s, 3),
        "searchable_s": round(searchable_s, 3) if docs else None,
        "peak_rss_mb": peak.stop(), "hwm_rss_mb": round(proc_kb(pid, "VmHWM") / 1024, 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="Use the tiny random test models (CPU).")
    parser.add_argument("--config", type=Path, help="A config.yaml for the server (models, devices).")
    parser.add_argument("--pages", type=int, default=5000, help="Pages of the empty PDF (0: skip).")
    parser.add_argument("--side", type=int, default=13000, help="Side of the square PNG (0: skip).")
    parser.add_argument(
        "--small",
        type=int,
        default=100,
        help="Small PNGs in one upload (0: skip; at most server.max_upload_files).",
    )
    parser.add_argument("--json", action="store_true", help="One JSON object per case.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mmsearch-bench-upload-") as tmp:
        root = Path(tmp)
        cases: list[tuple[str, list[Path]]] = []
        if args.pages:
            cases.append(
                (
                    f"pdf {args.pages} empty pages",
                    [make_empty_pdf(root / "empty.pdf", args.pages, (595, 842))],
                )
            )
        if args.side:
            cases.append((f"png {args.side}x{args.side}", [huge_png(root / "huge.png", args.side)]))
        if args.small:
            small = root / "small"
            small.mkdir()
            for i in range(args.small):
                make_image(small / f"s{i:04d}.png", "png", (64, 48), text=str(i))
            cases.append((f"{args.small} small PNGs", sorted(small.iterdir())))
        proc, url = serve(args, root)
        try:
            baseline = round(proc_kb(proc.pid, "VmRSS") / 1024, 1)
            print(
                json.dumps({"case": "idle server", "rss_mb": baseline})
                if args.json
                else f"idle server: {baseline} MB RSS"
            )
            for name, files in cases:
                figures = run_case(name, url, proc.pid, files)
                if args.json:
                    print(json.dumps(figures))
                else:
                    print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in figures.items() if k != "case"))
        finally:
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
