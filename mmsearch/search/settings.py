"""The ``reranker:`` and ``search:`` sections of config.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mmsearch.index.store import FusionMethod, SearchMode

DEFAULT_RERANK_INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."


class RerankerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str = Field("transformers", description="transformers | vllm | sglang | none")
    model: str = Field("Qwen/Qwen3-VL-Reranker-2B", description="Hugging Face id or local directory.")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N (transformers backend)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto = bfloat16 on GPU, float32 on CPU."
    )
    attn_implementation: Literal["auto", "sdpa", "flash_attention_2", "eager"] = Field(
        "auto", description="auto = flash_attention_2 when installed on GPU, else sdpa."
    )
    instruction: str = Field(
        DEFAULT_RERANK_INSTRUCTION, description="The reranker's <Instruct> text (official default)."
    )
    batch_tokens: int = Field(32768, ge=1024, description="Token budget of one forward batch.")
    max_batch_size: int = Field(
        16, ge=1, description="Pairs per forward batch at most (the token budget usually binds first)."
    )
    use_text_layer: bool = Field(False, description="Also give the reranker a page's text layer.")
    url: str | None = Field(None, description="Base URL of the vllm/sglang reranker server.")
    api_key: str | None = Field(None, description="Bearer key for the server.")
    served_model: str | None = Field(None, description="Model name the server serves; default = model.")
    timeout_s: float = Field(120.0, gt=0, description="Seconds before a request times out.")
    retries: int = Field(2, ge=0, description="Retries on 5xx, 408/429 and connection errors, with backoff.")
    concurrency: int = Field(4, ge=1, description="Requests in flight at once to the vllm/sglang server.")


class SearchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    candidates: int = Field(50, ge=1, le=1000, description="First-stage hits handed to the reranker.")
    top_k: int = Field(10, ge=1, le=1000, description="Hits returned by a search.")
    mode: SearchMode = Field(
        "hybrid",
        description="How candidates are found: hybrid (the vector and BM25 over the page text, fused), "
        "vector (the embedding only) or keyword (BM25 only). A query without words (an image) is vector.",
    )
    fusion: FusionMethod = Field(
        "rrf", description="hybrid: rrf (reciprocal rank fusion) or dbsf (distribution-based score fusion)."
    )
    weights: tuple[float, float] | None = Field(
        None,
        description="hybrid with rrf: [vector, keyword] weights of the two candidate lists; null = equal.",
    )

    @model_validator(mode="after")
    def _weights(self) -> SearchSettings:
        if self.weights is not None:
            if self.fusion != "rrf":
                raise ValueError(
                    "search.weights apply to fusion rrf only (dbsf has none): set one or the other"
                )
            if min(self.weights) < 0 or max(self.weights) <= 0:
                raise ValueError("search.weights: two numbers ≥ 0, not both 0 ([vector, keyword])")
        return self
