"""How far each served backend is from the in-process reference, per modality: the table of docs/serving.md.

    python bench/served_fidelity.py            # tiny random models, built here; markdown table
    python bench/served_fidelity.py --json     # one JSON object per backend × modality

Runs ``mmsearch verify``'s comparison (:func:`mmsearch.verify.compare.run`: the built-in canaries — text, a
page image, a small image, image+text, a 3-second clip sampled at 1 fps, i.e. 3 frames, and the clip with
text — embedded and
scored through a server and in process on the same weights) against the loopback fakes of the pinned
servers (tests/protocol_servers.py: vLLM 0.33.0 and SGLang 0.5.23 with docs/serving.md's launch flags),
each backend in turn. It measures what the pinned servers' preprocessing does to the inputs, in fp32 on
both sides; real servers add bf16 and kernel differences on top. Also reported: the SGLang reranker with
its real top-50 log-prob lookup, which on the tiny random model misses the labels (scores collapse to 0),
and, for the video canaries, what the pinned servers make of the prompts mmsearch sent before it wrote
videos as a bare ``<|video_pad|>``: a ``<|vision_start|>``/``<|vision_end|>`` pair kept around the whole
video (embedders: the fakes' ``outer_video_markers``; rerankers: launched with the server project's example
template, ``rerank_template="upstream"``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from bench.embed import load_tiny_builder


@contextmanager
def fake(kind: str, folder: Path, reranker: bool, **launch: Any) -> Iterator[str]:
    from protocol_servers import FakeServer, Launch

    with FakeServer(kind, folder, reranker=reranker, launch=Launch(**launch)) as server:
        yield server.url


def settings_for(models: Path, data: Path, **sections: Any) -> Any:
    sys.path.insert(0, str(REPO))
    from tests.support import tiny_settings

    return tiny_settings(data, models, **sections)


def video_rows(settings: Any, embedder: bool) -> list[Any]:
    """``mmsearch verify``'s comparison for the video canaries only (the rows of the old prompts)."""
    from mmsearch import components
    from mmsearch.verify import compare
    from mmsearch.verify.canaries import make_canaries

    videos = [c for c in make_canaries(settings.ingest) if c.content.video is not None]
    if embedder:
        served, reference = components.build_embedder(settings), compare.reference_embedder(settings)
        instruction = settings.embedding.document_instruction
        return compare.compare_embeddings(served, reference, videos, instruction, settings)
    served_reranker = components.build_reranker(settings)
    assert served_reranker is not None
    return compare.compare_scores(served_reranker, compare.reference_reranker(settings), videos, settings)


def measure(models: Path, data: Path) -> list[dict[str, Any]]:
    from mmsearch.verify.compare import run

    rows: list[dict[str, Any]] = []
    for kind in ("vllm", "sglang"):
        with fake(kind, models / "embedding", reranker=False) as url:
            settings = settings_for(models, data, embedding={"backend": kind, "url": url})
            for d in run(settings, embedder=True, reranker=False).embedding:
                rows.append({"backend": f"{kind} embedding", "modality": d.modality, "max_abs": d.max_abs,
                             "cosine": d.cosine})  # fmt: skip
        with fake(kind, models / "embedding", reranker=False, deviation="outer_video_markers") as url:
            settings = settings_for(models, data, embedding={"backend": kind, "url": url})
            for d in video_rows(settings, embedder=True):
                rows.append({"backend": f"{kind} embedding, outer video pair", "modality": d.modality,
                                 "max_abs": d.max_abs, "cosine": d.cosine})  # fmt: skip
    rerankers: list[tuple[str, dict[str, Any]]] = [
        ("vllm", {}),
        ("sglang", {"top_logprobs_num": 640}),
        ("sglang top-50", {}),
        ("vllm example-template", {"rerank_template": "upstream"}),
        ("sglang example-template", {"rerank_template": "upstream", "top_logprobs_num": 640}),
    ]
    for label, launch in rerankers:
        kind = label.split()[0]
        with fake(kind, models / "reranker", reranker=True, **launch) as url:
            settings = settings_for(models, data, reranker={"backend": kind, "url": url})
            scores = (
                video_rows(settings, embedder=False)
                if "example" in label
                else run(settings, embedder=False).rerank
            )
            for s in scores:
                rows.append({"backend": f"{label} reranker", "modality": s.modality, "abs_diff": s.abs_diff,
                             "served": s.served, "reference": s.reference})  # fmt: skip
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| backend | modality | max abs Δ | cosine / served vs in-process score |", "|---|---|---|---|"]
    for r in rows:
        if "cosine" in r:
            lines.append(f"| {r['backend']} | {r['modality']} | {r['max_abs']:.1e} | {r['cosine']:.6f} |")
        else:
            lines.append(
                f"| {r['backend']} | {r['modality']} | {r['abs_diff']:.1e} | {r['served']:.4f} vs {r['reference']:.4f} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    parser.add_argument("--models", type=Path, help="an existing tiny-model folder (default: build one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        models = args.models or Path(tmp) / "models"
        if args.models is None:
            load_tiny_builder().build_tiny_models(models)
        rows = measure(models, Path(tmp) / "data")
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
