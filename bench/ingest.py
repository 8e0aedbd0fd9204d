"""Benchmark ingest's CPU side: files → units (rasterise/decode + preprocess), on one core, no torch.

Generates a corpus with ``mmsearch.samples`` in a temporary folder (PDF pages with text, tables and drawn
charts; photos in several formats and sizes; a video), then times ``read_file`` plus iterating the
units — hashing, sniffing, PyMuPDF rendering at ``pdf_dpi`` onto the model grid, Pillow decoding, PyAV
decoding and frame sampling — and, separately, writing the units' JPEGs with ``save_media``.
Generation is not timed. The process is pinned to one CPU (``--cores``) and BLAS/OpenMP pools are set
to one thread before anything imports numpy, so figures are per core.

    .venv/bin/python bench/ingest.py                       # 200 pages, 8 images, a 2-minute video
    .venv/bin/python bench/ingest.py --pages 40 --video-seconds 30 --json
    .venv/bin/python bench/ingest.py --cores 2 --render-workers 2 --images 0 --video-seconds 0  # the pool

``--render-workers`` (default 0: in this process) sets ``ingest.render_workers``; with N, PDF pages render
in N worker processes (pinned like this one), and the read time includes starting them.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from mmsearch.ingest.media import save_media
from mmsearch.ingest.reader import read_file
from mmsearch.ingest.settings import IngestSettings
from mmsearch.samples import TOPICS, make_image, make_landscape, make_pdf, make_video

IMAGE_SPECS = [  # (format, size): phone photos down to screenshots
    ("jpeg", (4032, 3024)),
    ("jpeg", (1920, 1080)),
    ("png", (2560, 1440)),
    ("png", (800, 600)),
    ("webp", (1600, 1200)),
    ("tiff", (1200, 900)),
    ("bmp", (1024, 768)),
    ("gif", (640, 480)),
]


TABLE = "{:<6} {:>5} {:>5} {:>6} {:>6} {:>7} {:>8} {:>7} {:>7}"


@dataclass(frozen=True)
class Row:
    kind: str
    files: int
    units: int
    items: int  # pages, images, or decoded source frames
    stored: int  # images stored: one per page/image, one per sampled video frame
    seconds: float
    items_per_s: float
    save_seconds: float  # writing the units' JPEGs (save_media)
    saved_per_s: float


def build_corpus(
    folder: Path, pages: int, images: int, video_seconds: float, video_size: tuple[int, int]
) -> dict[str, list[Path]]:
    topics = list(TOPICS)
    per_pdf = 50
    pdfs = []
    for i, start in enumerate(range(0, pages, per_pdf)):
        path = folder / f"doc{i}.pdf"
        make_pdf(path, min(per_pdf, pages - start), topic=topics[i % len(topics)])
        pdfs.append(path)
    pictures = [make_landscape(folder / "landscape.jpg", (4000, 2500))]
    for i, (fmt, size) in enumerate(IMAGE_SPECS[: max(0, images - 1)]):
        pictures.append(make_image(folder / f"img{i}.{fmt}", fmt, size, text=f"image {i}"))
    videos = (
        [make_video(folder / "talk.mp4", video_seconds, fps=25, size=video_size)] if video_seconds > 0 else []
    )
    return {"pdf": pdfs, "image": pictures, "video": videos}


class Stopwatch:
    """Accumulates the time spent inside ``with stopwatch.running():`` blocks."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextmanager
    def running(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - started


def measure(kind: str, files: list[Path], settings: IngestSettings, data_dir: Path) -> Row:
    """Time reading (``read_file`` + each ``next``) and saving apart, one unit in memory at a time."""
    read, save = Stopwatch(), Stopwatch()
    units = stored = 0
    for path in files:
        with read.running():
            _, pending = read_file(path, settings)
        while True:
            with read.running():
                unit = next(pending, None)
            if unit is None:
                break
            units += 1
            with save.running():
                stored += len(save_media(unit, data_dir, settings.image_quality))
    items = _source_frames(files) if kind == "video" else units
    return Row(
        kind, len(files), units, items, stored, read.seconds, items / read.seconds, save.seconds,
        stored / save.seconds,
    )  # fmt: skip


def _source_frames(files: list[Path]) -> int:
    from mmsearch.ingest.video import probe

    return sum(probe(path).packets for path in files)


def pin(cores: int) -> list[int]:
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[:cores]
    os.sched_setaffinity(0, chosen)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--video-seconds", type=float, default=120.0)
    parser.add_argument("--video-size", default="640x360", help="WIDTHxHEIGHT of the generated video")
    parser.add_argument("--cores", type=int, default=1, help="CPUs to pin the process to")
    parser.add_argument(
        "--render-workers", type=int, default=0, help="ingest.render_workers (0: render in this process)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    args = parser.parse_args()
    cpus = pin(args.cores)
    width, height = (int(v) for v in args.video_size.split("x"))
    settings = IngestSettings(render_workers=args.render_workers)
    with tempfile.TemporaryDirectory(prefix="mmsearch-bench-") as tmp:
        started = time.perf_counter()
        corpus = build_corpus(
            Path(tmp) / "corpus", args.pages, args.images, args.video_seconds, (width, height)
        )
        generated = time.perf_counter() - started
        rows = [measure(kind, files, settings, Path(tmp) / "data") for kind, files in corpus.items() if files]
    if args.json:
        head = {"cpus": cpus, "render_workers": args.render_workers, "generate_s": generated}
        print(json.dumps({**head, "rows": [asdict(r) for r in rows]}, indent=2))
        return
    print(f"pinned to CPU {cpus}; render workers: {args.render_workers or 'none (in process)'}; "
          f"corpus generated in {generated:.1f} s (not timed below)")  # fmt: skip
    print(TABLE.format("kind", "files", "units", "items", "stored", "read s", "items/s", "save s", "jpeg/s"))
    for r in rows:
        cells = (f"{r.seconds:.2f}", f"{r.items_per_s:.1f}", f"{r.save_seconds:.2f}", f"{r.saved_per_s:.1f}")
        print(TABLE.format(r.kind, r.files, r.units, r.items, r.stored, *cells))
    print("items: PDF pages, images, or decoded source video frames; jpeg/s: stored page/frame files")


if __name__ == "__main__":
    main()
