"""Prometheus metrics: requests by route, search stage latencies, ingest counters.

Each app gets its own ``CollectorRegistry`` (two apps in one process — tests — never collide). Every
label comes from a fixed set, so no client can grow ``/metrics``: routes are labelled by their template
(``/v1/images/{point_id}``), never the raw path, and a request that matched no route is ``unmatched``;
methods outside ``METHODS`` are ``other``; statuses are the server's own three-digit codes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "mmsearch_http_requests", "HTTP requests answered.", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "mmsearch_http_request_duration_seconds", "Time to answer an HTTP request.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.in_flight = Gauge("mmsearch_http_requests_in_flight", "Requests being answered.", registry=r)
        self.stage = Histogram(
            "mmsearch_search_stage_duration_seconds", "Time of one search stage (embed, search, rerank, total).",
            ["stage"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.searches = Counter("mmsearch_searches", "Searches answered.", ["reranked"], registry=r)
        self.ingest_files = Counter(
            "mmsearch_ingest_files", "Files ingested through the API.", ["status"], registry=r
        )
        self.ingest_units = Counter(
            "mmsearch_ingest_units", "Units (pages, images, segments) indexed.", registry=r
        )
        self.deleted = Counter("mmsearch_documents_deleted", "Documents deleted through the API.", registry=r)

    def observe_search(self, timings_ms: Mapping[str, float], reranked: bool) -> None:
        for stage, ms in timings_ms.items():
            self.stage.labels(stage).observe(ms / 1000.0)
        self.searches.labels("true" if reranked else "false").inc()

    def observe_ingest(self, statuses: list[str], units: int) -> None:
        for status in statuses:
            self.ingest_files.labels(status).inc()
        self.ingest_units.inc(units)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware (streams pass through untouched) counting every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.in_flight.dec()
            route, method = route_label(scope), method_label(scope)
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


def route_label(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else "unmatched"


def method_label(scope: Scope) -> str:
    method = str(scope.get("method", ""))
    return method if method in METHODS else "other"
