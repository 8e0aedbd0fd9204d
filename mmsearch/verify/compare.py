"""Served vs in-process: per canary, the embedding's max |Δ| and cosine, and the rerank score's |Δ|.

The reference is the in-process backend (``transformers``) on the same weights (``verify.reference_*_model``
or the served model's id: a local folder or the Hugging Face cache). A difference above the ``verify:``
tolerances fails with :class:`VerifyFailed`, naming every modality that differs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmsearch.config import Settings
from mmsearch.errors import MmsearchError
from mmsearch.index.embedder import Embedder, make_embedder
from mmsearch.index.inputs import Content
from mmsearch.search.reranker import Reranker, make_reranker
from mmsearch.verify.canaries import QUERY_TEXT, RERANK_INSTRUCTION, Canary, make_canaries


class VerifyFailed(MmsearchError):
    """A served model differs from the in-process reference by more than the tolerances."""

    code = "verify_failed"
    http_status = 502  # the served model answered wrongly: an upstream's fault


@dataclass(frozen=True)
class EmbeddingDiff:
    modality: str
    max_abs: float
    cosine: float
    ok: bool


@dataclass(frozen=True)
class ScoreDiff:
    modality: str
    served: float
    reference: float
    ok: bool

    @property
    def abs_diff(self) -> float:
        return abs(self.served - self.reference)


@dataclass(frozen=True)
class Report:
    embedding: list[EmbeddingDiff]
    rerank: list[ScoreDiff]

    @property
    def failures(self) -> list[str]:
        bad = [f"embedding of {d.modality}" for d in self.embedding if not d.ok]
        return bad + [f"rerank score of {d.modality}" for d in self.rerank if not d.ok]


def run(settings: Settings, *, embedder: bool = True, reranker: bool = True) -> Report:
    """Compare the configured served embedder and/or reranker with their in-process references."""
    from mmsearch import components

    canaries = make_canaries(settings.ingest)
    embedding: list[EmbeddingDiff] = []
    rerank: list[ScoreDiff] = []
    if embedder:
        served = components.build_embedder(settings)
        instruction = settings.embedding.document_instruction
        embedding = compare_embeddings(served, reference_embedder(settings), canaries, instruction, settings)
    if reranker:
        served_reranker = components.build_reranker(settings)
        if served_reranker is None:
            raise VerifyFailed("reranker.backend is none: there is no reranker to verify")
        rerank = compare_scores(served_reranker, reference_reranker(settings), canaries, settings)
    return Report(embedding, rerank)


def reference_embedder(settings: Settings) -> Embedder:
    emb = settings.embedding
    model = settings.verify.reference_embedding_model or emb.model
    return make_embedder(
        emb.model_copy(
            update={"backend": "transformers", "model": model, "device": settings.verify.device, "dim": None}
        )
    )


def reference_reranker(settings: Settings) -> Reranker:
    model = settings.verify.reference_reranker_model or settings.reranker.model
    update = {"backend": "transformers", "model": model, "device": settings.verify.device}
    reranker = make_reranker(settings.reranker.model_copy(update=update))
    assert reranker is not None  # "transformers" is never the "none" backend
    return reranker


def compare_embeddings(
    served: Embedder, reference: Embedder, canaries: Sequence[Canary], instruction: str, settings: Settings
) -> list[EmbeddingDiff]:
    """Full-dimension vectors of both, one row per canary."""
    items = [c.content for c in canaries]
    got, want = served.embed(items, instruction), reference.embed(items, instruction)
    if got.shape != want.shape:
        raise VerifyFailed(
            f"the served embedder returns vectors of shape {got.shape[1:]}, the reference {want.shape[1:]}: "
            "are both the same model?"
        )
    tol = settings.verify
    out = []
    for canary, a, b in zip(canaries, got, want, strict=True):
        max_abs = float(np.max(np.abs(a - b)))
        cosine = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
        ok = max_abs <= tol.embedding_max_abs and cosine >= tol.embedding_min_cosine
        out.append(EmbeddingDiff(canary.modality, max_abs, cosine, ok))
    return out


def compare_scores(
    served: Reranker, reference: Reranker, canaries: Sequence[Canary], settings: Settings
) -> list[ScoreDiff]:
    """Each canary as a document for one text query, under a non-default instruction."""
    query = Content(text=QUERY_TEXT)
    documents = [c.content for c in canaries]
    got = served.score(query, documents, RERANK_INSTRUCTION)
    want = reference.score(query, documents, RERANK_INSTRUCTION)
    tol = settings.verify.rerank_max_abs
    return [
        ScoreDiff(c.modality, float(a), float(b), abs(a - b) <= tol)
        for c, a, b in zip(canaries, got, want, strict=True)
    ]


def check(report: Report, settings: Settings) -> None:
    """Raise :class:`VerifyFailed` naming each modality over the tolerances."""
    if not report.failures:
        return
    tol = settings.verify
    details = [
        f"embedding of {d.modality}: max |Δ| {d.max_abs:.3g} (≤ {tol.embedding_max_abs:g}), "
        f"cosine {d.cosine:.6f} (≥ {tol.embedding_min_cosine:g})"
        for d in report.embedding
        if not d.ok
    ] + [
        f"rerank score of {d.modality}: {d.served:.4f} served vs {d.reference:.4f} in process "
        f"(|Δ| {d.abs_diff:.3g} > {tol.rerank_max_abs:g})"
        for d in report.rerank
        if not d.ok
    ]
    raise VerifyFailed(
        "the served models differ from the in-process reference: "
        + "; ".join(details)
        + ". Check the server's version and launch flags against docs/serving.md."
    )
