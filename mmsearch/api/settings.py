"""The ``server:`` section of config.yaml (the REST API and web page).

Keys and host names can come from the environment as a JSON list or a comma-separated string:
``MMSEARCH_SERVER__READ_KEYS='["k1","k2"]'``, ``MMSEARCH_SERVER__WRITE_KEYS=k3,k4``,
``MMSEARCH_SERVER__ALLOWED_HOSTS=search.example.com,search``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import NoDecode

MIN_KEY_CHARS = 16
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class ApiSettings(BaseModel):
    """The API server's own settings (``server:``); model servers are ``embedding.url``/``reranker.url``."""

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
    allowed_hosts: Annotated[list[str] | None, NoDecode] = Field(
        None,
        description="Names clients may reach this server by (the Host header; `*.example.com` = its "
        "subdomains, `*` = any). The loopback names are always allowed. null = only those, which is "
        "refused when host is not loopback.",
    )
    metrics_public: bool = Field(
        False, description="Serve /metrics without a key even when auth is on (a scraper that sends none)."
    )
    max_upload_mb: float = Field(200.0, gt=0, description="Largest request body of an upload (all files).")
    max_upload_files: int = Field(100, ge=1, description="Files in one upload request at most.")
    uploads_quota_mb: float = Field(
        20480.0, gt=0, description="Total size of data_dir/uploads (originals + uploads waiting); more: 507."
    )
    min_free_disk_mb: float = Field(
        256.0, ge=16, le=1_048_576,
        description="Disk space an upload must leave free beside data_dir/uploads (never fill the disk); "
        "an upload that would leave less: 507.",
    )  # fmt: skip
    collection_quota_mb: float | None = Field(
        None, gt=0,
        description="Size each collection may keep under data_dir/uploads (originals + uploads waiting), "
        "unless collection_quotas_mb names it; null = no quota per collection, only uploads_quota_mb; "
        "more: 507.",
    )  # fmt: skip
    collection_quotas_mb: dict[str, float] = Field(
        default_factory=dict,
        description="Quotas of named collections, overriding collection_quota_mb: {finance: 10240}.",
    )
    max_queued_jobs: int = Field(
        200, ge=1, le=100_000, description="Ingest jobs waiting or running at once; more uploads: 429."
    )
    max_queued_jobs_per_principal: int = Field(
        20, ge=1, le=100_000,
        description="Ingest jobs one principal (a key, a signed-in user) may have waiting or running; more: 429.",
    )  # fmt: skip
    keep_finished_jobs: int = Field(
        1000,
        ge=1,
        le=1_000_000,
        description="Finished ingest jobs kept for GET /v1/jobs; older ones are pruned.",
    )
    job_events_max_s: float = Field(
        300.0, ge=1, le=3600,
        description="Longest life of a job's event stream (GET /v1/jobs/{id}/events); a client that still "
        "waits reconnects.",
    )  # fmt: skip
    webhook_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts an upload's notify_url may name (`hooks.example.com`, `*.example.com`); empty = "
        "webhooks off (an upload with notify_url is refused).",
    )
    webhook_secret: str | None = Field(
        None,
        description="Key of the HMAC-SHA256 signature of each webhook body (the X-Mmsearch-Signature "
        "header); required when webhook_hosts is set.",
    )
    webhook_private: bool = Field(
        False,
        description="Let webhooks reach loopback, private and link-local addresses (a receiver inside your "
        "network); false = a host that resolves to one is refused, even when webhook_hosts names it.",
    )
    webhook_attempts: int = Field(
        5, ge=1, le=20, description="Deliveries of one webhook at most (backing off 1 s, 2 s, 4 s, ... 60 s)."
    )
    webhook_timeout_s: float = Field(10.0, gt=0, le=120, description="Timeout of one webhook delivery.")
    documents_cache_s: float = Field(
        30.0, ge=0, le=3600,
        description="How long a document listing is reused to find a document by id (its file, a delete); "
        "0 = list afresh every time.",
    )  # fmt: skip
    max_concurrent_searches: int = Field(8, ge=1, description="Searches running at once (threads).")
    max_queued_searches: int = Field(
        64, ge=0, description="Searches waiting beyond the running ones; more get 503 busy."
    )
    query_batching: bool = Field(
        True,
        description="In-process models (embedding/reranker backend transformers): concurrent searches' "
        "queries share one embedding forward pass, and their reranks take turns chunk by chunk "
        "(reranker.max_batch_size documents each); false = one search at a time per model. HTTP backends "
        "are always called concurrently.",
    )
    query_batch_max: int = Field(
        16, ge=1, le=1024,
        description="Queries embedded in one batch at most (embedding.batch_tokens may split it further).",
    )  # fmt: skip
    query_batch_wait_ms: float = Field(
        2.0, ge=0, le=1000,
        description="How long the first waiting query waits for others to join its batch (0 = take only "
        "those already waiting); the batch goes sooner when full or when every running search is in it.",
    )  # fmt: skip
    max_query_chars: int = Field(4000, ge=1, description="Longest query text accepted.")
    max_search_mb: float = Field(
        16.0, gt=0, description="Largest request body of a search (JSON or multipart, with its image)."
    )
    max_concurrent_decodes: int = Field(
        2, ge=1, description="Query images decoded at once (each may take ~0.5 GB at the decode limit)."
    )
    url_secret: str | None = Field(
        None,
        description="Signs image/file URLs in search results (for <img>/<video> tags that cannot send "
        "a key). null = a random secret per process; set it when several API replicas share a router.",
    )
    url_ttl_s: int = Field(
        300, ge=60, le=86400,
        description="A signed image/file URL lives between this and twice this (rounded, so browsers can "
        "cache): 300 = 5 to 10 minutes.",
    )  # fmt: skip
    header_timeout_s: float = Field(
        10.0, gt=0, le=600,
        description="A request's line and headers must arrive within this, however slowly they trickle "
        "(slowloris); else the connection is closed (api/edge/timeouts.py).",
    )  # fmt: skip
    body_timeout_s: float = Field(
        60.0, gt=0, le=3600,
        description="Longest pause between the bytes of a request body (an upload); longer: the connection "
        "is closed and the upload discarded.",
    )  # fmt: skip
    max_connections: int = Field(
        1024, ge=1,
        description="Open connections at most (uvicorn's limit_concurrency): a request that arrives while "
        "this many are open, or this many requests run, is answered 503.",
    )  # fmt: skip
    max_header_kb: int = Field(
        16,
        ge=1,
        le=1024,
        description="Largest request line plus headers; longer: 400 and the connection closed.",
    )
    log_level: str = Field(
        "info", pattern=r"^(critical|error|warning|info|debug|trace)$", description="uvicorn log level."
    )

    @field_validator("read_keys", "write_keys", "allowed_hosts", "webhook_hosts", mode="before")
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

    @field_validator("collection_quotas_mb")
    @classmethod
    def _positive_quotas(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {name: mb for name, mb in value.items() if not name.strip() or not mb > 0}
        if bad:
            name, mb = next(iter(bad.items()))
            raise ValueError(f"a quota must name its collection and be above 0 MiB (got {name!r}: {mb})")
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

    @model_validator(mode="after")
    def _webhooks_signed(self) -> ApiSettings:
        if self.webhook_hosts and len(self.webhook_secret or "") < MIN_KEY_CHARS:
            raise ValueError(
                f"webhook_hosts needs a webhook_secret of at least {MIN_KEY_CHARS} characters (receivers check "
                "each body's signature with it); make one with: python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'"
            )
        return self

    @field_validator("allowed_hosts", "webhook_hosts")
    @classmethod
    def _host_names(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        names = [name.strip().lower().rstrip(".") for name in value if name.strip()]
        bad = [n for n in names if not _HOST_PATTERN.fullmatch(n)]
        if bad:
            raise ValueError(
                f"not a host name: {bad[0]!r}; give names like search.example.com, *.example.com, "
                "10.0.0.5 or [::1] (no scheme, no port), or * for any"
            )
        return [n.removeprefix("[").removesuffix("]") for n in names]

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


# A host name (or IP address, IPv6 in brackets or bare) without scheme or port; `*.` prefix or `*` alone.
_HOST_PATTERN = re.compile(r"\*|(\*\.)?[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?|\[?[0-9a-f:.]+\]?")
