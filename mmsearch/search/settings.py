"""The ``reranker:`` and ``search:`` sections of config.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_RERANK_INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."


class RerankerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str = Field("transformers", description="transformers | vllm | sglang | none")
    model: str = Field("Qwen/Qwen3-VL-Reranker-2B", description="Hugging Face id or local directory.")
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    attn_implementation: Literal["auto", "sdpa", "flash_attention_2", "eager"] = "auto"
    instruction: str = DEFAULT_RERANK_INSTRUCTION
    max_length: int = Field(10240, ge=256)
    batch_tokens: int = Field(32768, ge=1024, description="Token budget of one forward batch.")
    max_batch_size: int = Field(16, ge=1)
    use_text_layer: bool = Field(False, description="Also give the reranker a page's text layer.")
    url: str | None = None
    api_key: str | None = None
    served_model: str | None = None
    timeout_s: float = Field(120.0, gt=0)
    retries: int = Field(2, ge=0)
    concurrency: int = Field(4, ge=1, description="Requests in flight at once to the vllm/sglang server.")


class SearchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    candidates: int = Field(50, ge=1, le=1000, description="Vector hits handed to the reranker.")
    top_k: int = Field(10, ge=1, le=1000)
