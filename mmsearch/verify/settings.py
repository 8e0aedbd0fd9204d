"""The ``verify:`` section of config.yaml: tolerances of ``mmsearch verify``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class VerifySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reference_embedding_model: str | None = Field(
        None, description="Weights for the in-process reference embedder; null = embedding.model."
    )
    reference_reranker_model: str | None = Field(
        None, description="Weights for the in-process reference reranker; null = reranker.model."
    )
    device: str = Field(
        "auto", description="Device of the in-process references: auto | cpu | cuda | cuda:N."
    )
    embedding_max_abs: float = Field(
        0.02, gt=0, description="Largest allowed |served − reference| of one vector component."
    )
    embedding_min_cosine: float = Field(
        0.995, gt=0, le=1, description="Smallest allowed cosine between served and reference vectors."
    )
    rerank_max_abs: float = Field(0.02, gt=0, description="Largest allowed |served − reference| of a score.")
