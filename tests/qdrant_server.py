"""A loopback HTTP server speaking the part of Qdrant's REST API that ``mmsearch migrate --to URL`` and
``QdrantStore`` use, for tests on machines where no Qdrant server can run.

What it checks is the protocol, not the engine: every request body is parsed with qdrant-client's
generated models (``qdrant_client.http.models``, generated from Qdrant's OpenAPI schema
``docs/redoc/master/openapi.json`` in qdrant/qdrant, ``extra="forbid"``), so a request of the wrong shape
is a 422, as on a server; answers are built from the same models and wrapped as Qdrant wraps them
(``{"result": …, "status": "ok", "time": …}``). Points live in a dict; scroll pages go in id order with
``next_page_offset`` the first id of the next page (Qdrant's ``scroll_by_id``). Vectors of cosine
collections are stored normalised, as Qdrant does on upsert. Only what migration and the store's upgrade need is
implemented: collection exists/get/create/delete, metadata update, payload index (kept, and listed in the
collection's ``payload_schema``), upsert, scroll and count (filters judged by qdrant-client's local-mode
checker), set payload by ids (one request, or a batch of them), retrieve, and the Query API
(``POST …/points/query`` and ``…/points/query/batch``), answered by qdrant-client's local mode (``QdrantClient(":memory:")`` holding
the fake's points: ``local/local_collection.py`` ``query_points``, with its BM25 text queries
``_query_text`` and its fusion ``_merge_sources``). Local mode scores text with its default word tokenizer
only, so the fake keeps each text index's parameters as the request gave them (``payload_schema`` lists
them) but scores with that tokenizer: it checks what mmsearch asks of a server, not Qdrant's stemmer.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from pydantic import ValidationError
from qdrant_client.http import models as m
from qdrant_client.local.payload_filters import check_filter

from tests.support import NoDelayHandler


class FakeQdrant:
    def __init__(self) -> None:
        self.collections: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) in order
        self.lock = threading.Lock()

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path))
        route = re.fullmatch(
            r"/collections/([^/]+)(/exists|/index|/points(?:/scroll|/count|/payload|/query/batch|/query|/batch)?)?",
            path,
        )
        if route is None:
            return 404, {"status": {"error": f"no route {path}"}}
        name, tail = route.group(1), route.group(2) or ""
        with self.lock:
            return self._dispatch(method, name, tail, body)

    def _dispatch(self, method: str, name: str, tail: str, body: Any) -> tuple[int, Any]:
        if (method, tail) == ("GET", "/exists"):
            return 200, m.CollectionExistence(exists=name in self.collections)
        if (method, tail) == ("PUT", ""):
            self.collections[name] = {
                "create": m.CreateCollection.model_validate(body),
                "points": {},
                "indexes": {},
            }
            return 200, True
        if (method, tail) == ("DELETE", ""):
            return 200, self.collections.pop(name, None) is not None
        if name not in self.collections:
            return 404, {"status": {"error": f"Not found: Collection `{name}` doesn't exist!"}}
        col = self.collections[name]
        if (method, tail) == ("GET", ""):
            return 200, self._info(col)
        if (method, tail) == ("PATCH", ""):
            update = m.UpdateCollection.model_validate(body)
            assert set(update.model_fields_set) == {"metadata"}, "the fake updates metadata only"
            create: m.CreateCollection = col["create"]
            col["create"] = create.model_copy(
                update={"metadata": {**(create.metadata or {}), **(update.metadata or {})}}
            )
            return 200, True
        if (method, tail) == ("POST", "/points/batch"):
            for operation in m.UpdateOperations.model_validate(body).operations:
                assert isinstance(operation, m.SetPayloadOperation), "the fake batches set-payload only"
                self._set_payload(col, operation.set_payload)
            return 200, [m.UpdateResult(operation_id=0, status=m.UpdateStatus.COMPLETED)]
        if (method, tail) == ("POST", "/points/query"):
            return 200, self._query(col, m.QueryRequest.model_validate(body))
        if (method, tail) == ("POST", "/points/query/batch"):
            return 200, [self._query(col, r) for r in m.QueryRequestBatch.model_validate(body).searches]
        if (method, tail) == ("PUT", "/index"):
            index = m.CreateFieldIndex.model_validate(body)
            col["indexes"][index.field_name] = index.field_schema
            return 200, m.UpdateResult(operation_id=0, status=m.UpdateStatus.COMPLETED)
        if (method, tail) == ("POST", "/points/payload"):
            self._set_payload(col, m.SetPayload.model_validate(body))
            return 200, m.UpdateResult(operation_id=0, status=m.UpdateStatus.COMPLETED)
        if (method, tail) == ("PUT", "/points"):
            for point in m.PointsList.model_validate(body).points:
                col["points"][str(point.id)] = (self._normalised(point.vector), point.payload or {})
            return 200, m.UpdateResult(operation_id=0, status=m.UpdateStatus.COMPLETED)
        if (method, tail) == ("POST", "/points/scroll"):
            return 200, self._scroll(col, m.ScrollRequest.model_validate(body))
        if (method, tail) == ("POST", "/points/count"):
            flt = m.CountRequest.model_validate(body).filter
            return 200, m.CountResult(count=sum(_matches(flt, i, p) for i, (_, p) in col["points"].items()))
        if (method, tail) == ("POST", "/points"):
            ids = m.PointRequest.model_validate(body).ids
            found = [self._record(col, str(i), True, True) for i in ids if str(i) in col["points"]]
            return 200, found
        return 405, {"status": {"error": f"{method} {tail} not implemented by the fake"}}

    @staticmethod
    def _set_payload(col: dict[str, Any], request: m.SetPayload) -> None:
        assert request.points is not None and request.key is None, "the fake sets payload by ids only"
        for i in request.points:
            if str(i) in col["points"]:
                col["points"][str(i)][1].update(request.payload)

    def _query(self, col: dict[str, Any], request: m.QueryRequest) -> m.QueryResponse:
        """The request run by qdrant-client's local mode over a copy of the collection's points."""
        from qdrant_client import QdrantClient

        create: m.CreateCollection = col["create"]
        local = QdrantClient(":memory:")
        try:
            local.create_collection("c", vectors_config=create.vectors)
            for field, schema in col["indexes"].items():
                if isinstance(schema, m.TextIndexParams) and schema.scoring:
                    plain = m.TextIndexParams(type=m.TextIndexType.TEXT, phrase_matching=True, scoring=True)
                    local.create_payload_index("c", field, field_schema=plain)
            points = [m.PointStruct(id=i, vector=v, payload=p) for i, (v, p) in col["points"].items()]
            if points:
                local.upsert("c", points)
            return local.query_points(
                "c", query=request.query, using=request.using, prefetch=request.prefetch,
                query_filter=request.filter, limit=request.limit or 10,
                with_payload=request.with_payload if request.with_payload is not None else False,
            )  # fmt: skip
        finally:
            local.close()

    def _info(self, col: dict[str, Any]) -> m.CollectionInfo:
        create: m.CreateCollection = col["create"]
        config = m.CollectionConfig(
            params=m.CollectionParams(vectors=create.vectors),
            hnsw_config=m.HnswConfig(m=16, ef_construct=100, full_scan_threshold=10000),
            optimizer_config=m.OptimizersConfig(default_segment_number=0, flush_interval_sec=5),
            metadata=create.metadata,
        )
        return m.CollectionInfo(
            status=m.CollectionStatus.GREEN, optimizer_status=m.OptimizersStatusOneOf.OK,
            segments_count=1, config=config, points_count=len(col["points"]),
            payload_schema={name: _index_info(schema) for name, schema in col["indexes"].items()},
        )  # fmt: skip

    def _scroll(self, col: dict[str, Any], request: m.ScrollRequest) -> m.ScrollResult:
        matching = [i for i, (_, p) in col["points"].items() if _matches(request.filter, i, p)]
        ids = sorted(matching, key=lambda i: uuid.UUID(i).int)
        start = 0 if request.offset is None else next(
            (k for k, i in enumerate(ids) if uuid.UUID(i).int >= uuid.UUID(str(request.offset)).int), len(ids)
        )  # fmt: skip
        limit = request.limit or 10
        page = ids[start : start + limit]
        after = ids[start + limit] if start + limit < len(ids) else None
        with_vectors = bool(request.with_vector)
        with_payload = request.with_payload is not False and request.with_payload is not None
        return m.ScrollResult(
            points=[self._record(col, i, with_payload, with_vectors) for i in page], next_page_offset=after
        )

    def _record(self, col: dict[str, Any], point_id: str, payload: bool, vectors: bool) -> m.Record:
        vector, data = col["points"][point_id]
        return m.Record(id=point_id, payload=data if payload else None, vector=vector if vectors else None)

    @staticmethod
    def _normalised(vector: Any) -> Any:
        assert isinstance(vector, dict), "mmsearch stores named vectors"
        out = {}
        for name, values in vector.items():
            array = np.asarray(values, dtype=np.float64)
            out[name] = (array / np.linalg.norm(array)).tolist()
        return out


def _matches(flt: m.Filter | None, point_id: str, payload: dict[str, Any]) -> bool:
    """Whether a point passes ``flt``, judged by qdrant-client's local mode (its own filter checker)."""
    return flt is None or check_filter(flt, payload, point_id, {})


def _index_info(schema: Any) -> m.PayloadIndexInfo:
    kind = schema if isinstance(schema, m.PayloadSchemaType) else m.PayloadSchemaType(schema.type.value)
    params = None if isinstance(schema, m.PayloadSchemaType) else schema
    return m.PayloadIndexInfo(data_type=kind, params=params, points=0)


def _handler(fake: FakeQdrant) -> type[BaseHTTPRequestHandler]:
    class Handler(NoDelayHandler):
        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            try:
                status, result = fake.handle(method, path, json.loads(raw) if raw else None)
            except ValidationError as exc:
                status, result = 422, {"status": {"error": f"Format error in JSON body: {exc}"}}
            if hasattr(result, "model_dump") or isinstance(result, list | bool):
                result = _dump(result)
                body = {"result": result, "status": "ok", "time": 0.0001}
            else:
                body = result
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def _dump(value: Any) -> Any:
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    return value


@contextmanager
def fake_qdrant() -> Iterator[tuple[str, FakeQdrant]]:
    """A running fake on a free loopback port: yields its URL and the fake (to inspect)."""
    fake = FakeQdrant()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", fake
    finally:
        server.shutdown()
        server.server_close()
