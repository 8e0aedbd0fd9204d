"""The ``server:`` section of config.yaml (the REST API and web page).

Keys can come from the environment as a JSON list or a comma-separated string:
``MMSEARCH_SERVER__READ_KEYS='["k1","k2"]'`` or ``MMSEARCH_SERVER__WRITE_KEYS=k3,k4``.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import NoDecode

MIN_KEY_CHARS = 16


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Address `mmsearch serve` binds (0.0.0.0 = every interface).")
    port: int = Field(8000, ge=0, le=65535, description="TCP port of `mmsearch serve`.")
    read_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="API keys that may search, fetch images and list documents."
    )
    write_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="API keys that may also upload and delete documents."
    )
    require_auth: bool | None = Field(
        None, description="null = required when keys are set or the host is not loopback; false = open."
    )
    max_upload_mb: float = Field(200.0, gt=0, description="Largest request body of an upload (all files).")
    max_upload_files: int = Field(100, ge=1, description="Files in one upload request at most.")
    uploads_quota_mb: float = Field(
        20480.0, gt=0, description="Total size of data_dir/uploads (originals + uploads waiting); more: 507."
    )
    max_concurrent_searches: int = Field(8, ge=1, description="Searches running at once (threads).")
    max_queued_searches: int = Field(
        64, ge=0, description="Searches waiting beyond the running ones; more get 503 busy."
    )
    max_query_chars: int = Field(4000, ge=1, description="Longest query text accepted.")
    url_secret: str | None = Field(
        None,
        description="Signs image/file URLs in search results (for <img>/<video> tags that cannot send "
        "a key). null = a random secret per process; set it when several API replicas share a router.",
    )
    url_ttl_s: int = Field(3600, ge=60, description="Lifetime of a signed image/file URL.")
    log_level: str = Field(
        "info", pattern=r"^(critical|error|warning|info|debug|trace)$", description="uvicorn log level."
    )

    @field_validator("read_keys", "write_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                try:
                    return json.loads(value)
                except json.JSONDecodeError as exc:
                    raise ValueError(
                        f"not a JSON list ({exc.msg}); give a JSON list or comma-separated keys"
                    ) from exc
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("read_keys", "write_keys")
    @classmethod
    def _long_keys(cls, value: list[str]) -> list[str]:
        short = [k for k in value if len(k) < MIN_KEY_CHARS]
        if short:
            raise ValueError(
                f"API keys must be at least {MIN_KEY_CHARS} characters (got one of {len(short[0])}); "
                "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @property
    def is_loopback(self) -> bool:
        """True when ``host`` only accepts connections from this machine."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def auth_required(self) -> bool:
        if self.require_auth is not None:
            return self.require_auth
        return bool(self.read_keys or self.write_keys) or not self.is_loopback
