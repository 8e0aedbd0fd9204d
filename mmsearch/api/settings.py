"""The ``server:`` section of config.yaml (the REST API and web page)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    read_keys: list[str] = Field(default_factory=list, description="API keys that may search.")
    write_keys: list[str] = Field(default_factory=list, description="API keys that may also ingest/delete.")
    require_auth: bool | None = Field(None, description="null = required unless bound to loopback.")
    max_upload_mb: float = Field(200.0, gt=0)
    max_concurrent_searches: int = Field(8, ge=1)
