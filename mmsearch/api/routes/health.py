"""Probes and facts: ``/healthz`` (alive), ``/readyz`` (can serve), ``/metrics``, ``/v1/info``.

Probes and ``/v1/info`` need no key: probes come from orchestrators, and ``/v1/info`` tells the web page
whether to ask for one. ``/metrics`` needs a read key when auth is on (Prometheus sends one with
``authorization: {credentials: ...}``), unless ``server.metrics_public`` opens it. ``/readyz`` checks the store answers, that data_dir's
disk has ``server.min_free_disk_mb`` free (else 503 "disk full (N bytes free)": writes would fail) and, for model servers (sglang, vllm), that their
``/health`` answers; in-process models are ready once loaded, which happens before the server binds.
It also reports the last ``mmsearch verify`` (``data_dir/verify.json``; ``null`` when none), without
letting it gate readiness.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from mmsearch import __version__
from mmsearch.access.principal import Role
from mmsearch.api.prometheus import CONTENT_TYPE
from mmsearch.api.schemas import InfoResponse, with_errors
from mmsearch.api.services.context import ApiContext, Context, Credentials
from mmsearch.api.services.parts import CONCURRENT_BACKENDS
from mmsearch.verify import record

router = APIRouter(tags=["health"])

PROBE_TIMEOUT_S = 3.0


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: store and models reachable")
async def readyz(ctx: Context) -> JSONResponse:
    checks = await _checks(ctx)
    failing = [f"{name}: {check['error']}" for name, check in checks.items() if not check["ok"]]
    # The last `mmsearch verify` against the model servers (informational: it does not gate readiness).
    verification = record.load(ctx.settings)
    if not failing:
        return JSONResponse({"status": "ready", "checks": checks, "verification": verification})
    body = {
        "error": {"code": "not_ready", "message": "; ".join(failing)},
        "status": "unready",
        "checks": checks,
        "verification": verification,
    }
    return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})


async def _checks(ctx: ApiContext) -> dict[str, dict[str, Any]]:
    services = ctx.services
    if services is None:
        return {"services": {"ok": False, "error": "still starting"}}
    settings = ctx.settings
    checks = {"store": await _timed(_store_check, services.store)}
    checks["disk"] = await anyio.to_thread.run_sync(
        _disk_check, settings.data_dir, settings.server.min_free_disk_mb
    )
    checks["embedder"] = await _model_check(settings.embedding.backend, settings.embedding.url)
    if services.reranker is not None:
        checks["reranker"] = await _model_check(settings.reranker.backend, settings.reranker.url)
    return checks


async def _timed(fn: Any, *args: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with anyio.fail_after(PROBE_TIMEOUT_S):
            detail = await fn(*args)
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {PROBE_TIMEOUT_S:g}s"}
    except Exception as exc:  # noqa: BLE001 - a probe reports any failure, it does not raise it
        return {"ok": False, "error": str(exc) or type(exc).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2), **detail}


async def _store_check(store: Any) -> dict[str, Any]:
    points = await anyio.to_thread.run_sync(store.count, abandon_on_cancel=True)
    return {"points": points}


def _disk_check(data_dir: Path, min_free_mb: float) -> dict[str, Any]:
    """data_dir's disk: not ready while it has less than ``server.min_free_disk_mb`` free, where uploads
    (507) and ingest would fail; searches, listings and files still answer (they only read)."""
    free = shutil.disk_usage(data_dir).free
    if free < min_free_mb * 1024 * 1024:
        return {"ok": False, "error": f"disk full ({free} bytes free)", "free_bytes": free}
    return {"ok": True, "free_bytes": free}


async def _model_check(backend: str, url: str | None) -> dict[str, Any]:
    if backend not in CONCURRENT_BACKENDS or not url:
        return {"ok": True, "backend": backend, "detail": "in process, loaded"}
    return {"backend": backend, **await _timed(_ping, url)}


async def _ping(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as client:
        response = await client.get(url.rstrip("/").removesuffix("/v1") + "/health")
    if response.status_code != 200:
        raise RuntimeError(f"{url} /health answered {response.status_code}")
    return {}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses=with_errors(
        {
            200: {
                "description": "Prometheus text format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
        (401, 403),
    ),
)
async def metrics(request: Request, ctx: Context, _: Credentials = None) -> Response:
    """Request counts and latency by route, search stage latency, ingest counters. Needs a read key
    when auth is on, unless `server.metrics_public` is true."""
    if not ctx.settings.server.metrics_public:
        ctx.auth.check(request, Role.READER)
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE)


@router.get("/v1/info", response_model=InfoResponse, tags=["info"])
async def info(ctx: Context) -> InfoResponse:
    """What this server runs, and whether it needs an API key."""
    services = ctx.services
    return InfoResponse(
        name="mmsearch",
        version=__version__,
        auth_required=ctx.auth.required,
        sign_in=ctx.signin is not None,
        embedding_model=services.embedder.model_id if services else None,
        dim=services.embedder.dim if services else None,
        reranker=services.reranker.model_id if services and services.reranker else None,
        max_upload_mb=ctx.settings.server.max_upload_mb,
        max_query_chars=ctx.settings.server.max_query_chars,
    )
