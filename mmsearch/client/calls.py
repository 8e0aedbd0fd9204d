"""The API calls the two clients make, as data: each method's arguments turned into one ``Call`` (method,
path, query, body), the same for ``Client`` and ``AsyncClient``, which only send them.

Options left at their default are not sent, so the server's defaults (``search.top_k``, reranking on, image
URLs) apply and a server older than an option still answers a call that does not use it. A query image
goes in the JSON body as base64; a video clip needs a file part, so a search with ``video`` is sent as
multipart/form-data to ``POST /v1/search/upload`` (``/v1/search`` on a server that predates it).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

SEARCH = "/v1/search"
SEARCH_FORM = "/v1/search/upload"
SEARCH_BATCH = "/v1/search/batch"
DOCUMENTS_PAGE = 1000  # documents asked per page of a listing (the API allows 10000)

Mode = Literal["hybrid", "vector", "keyword"]
Collapse = Literal["document", "content"]
IncludeImages = Literal["url", "base64", "none"]
Media = bytes | str | Path  # the bytes, or a path to read them from
Upload = str | Path | tuple[str, bytes | str | Path | IO[bytes]]  # a path, or (name, content)


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    data: dict[str, str] | None = None
    files: list[tuple[str, tuple[str, Any, str]]] | None = (
        None  # multipart parts: (field, (name, content, type))
    )
    timeout: float | None = None  # this call's read timeout (a long poll's); None: the client's

    @contextmanager
    def opened(self) -> Iterator[dict[str, Any]]:
        """The keyword arguments of ``httpx.Client.request`` for one attempt of this call: a file part
        given as a path is opened for it (and closed after), one given as a file object rewound."""
        args: dict[str, Any] = {}
        if self.params:
            args["params"] = self.params
        if self.json is not None:
            args["json"] = self.json
        if self.data is not None:
            args["data"] = self.data
        with ExitStack() as stack:
            if self.files is not None:
                args["files"] = [
                    (key, (name, _opened(content, stack), kind)) for key, (name, content, kind) in self.files
                ]
            yield args


def search_body(
    text: str | None = None,
    image: Media | None = None,
    *,
    filters: Mapping[str, Any] | None = None,
    collections: Sequence[str] | None = None,
    mode: Mode | None = None,
    top_k: int | None = None,
    candidates: int | None = None,
    rerank: bool | None = None,
    min_score: float | None = None,
    offset: int | None = None,
    collapse: Collapse | None = None,
    include_text: bool = False,
    include_images: IncludeImages = "url",
) -> dict[str, Any]:
    """The JSON body of one search (``SearchRequest``), with only the options given."""
    if isinstance(collections, str):
        raise TypeError("collections is a list of names: collections=['finance'], not 'finance'")
    chosen = dict(filters or {})
    if collections is not None:
        if "collection" in chosen:
            raise ValueError("give the collections once: in collections= or in filters['collection']")
        chosen["collection"] = list(collections)
    body: dict[str, Any] = {
        "text": text, "top_k": top_k, "candidates": candidates, "rerank": rerank, "mode": mode,
        "min_score": min_score, "offset": offset, "collapse": collapse, "filters": chosen or None,
        "include_text": include_text or None, "include_images": None if include_images == "url" else include_images,
    }  # fmt: skip
    if image is not None:
        body["image"] = base64.b64encode(read_media(image)).decode("ascii")
    return {k: v for k, v in body.items() if v is not None}


def search(body: dict[str, Any], video: Media | None = None, path: str | None = None) -> Call:
    """``POST /v1/search`` with ``body``; with a ``video``, the multipart form (at ``path``)."""
    if video is None:
        return Call("POST", SEARCH, json=body)
    form = {k: json.dumps(v) if isinstance(v, dict | bool | list) else str(v) for k, v in body.items()}
    files = [("video", ("query-video", read_media(video), "application/octet-stream"))]
    if "image" in form:
        image = base64.b64decode(form.pop("image"))
        files.append(("image", ("query-image", image, "application/octet-stream")))
    return Call("POST", path or SEARCH_FORM, data=form, files=files)


def search_batch(bodies: Sequence[dict[str, Any]]) -> Call:
    return Call("POST", SEARCH_BATCH, json={"queries": list(bodies)})


def batch_bodies(
    queries: Iterable[str | Mapping[str, Any]], common: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """One body per query: a text, or a mapping of ``search()``'s arguments (``text``, ``image``,
    ``filters``, ...), each over ``common`` (the options every query shares)."""
    bodies = []
    for query in queries:
        asked = {"text": query} if isinstance(query, str) else dict(query)
        if "video" in asked:
            raise ValueError(
                "a batch takes text and image queries; search a video clip with search(video=...)"
            )
        bodies.append(search_body(**{**common, **asked}))
    if not bodies:
        raise ValueError("give at least one query")
    return bodies


def upload(
    items: Upload | Sequence[Upload],
    collection: str | None,
    groups: Sequence[str] | None,
    metadata: Mapping[str, Any] | None,
    replace: bool | None,
    notify_url: str | None,
) -> Call:
    """``POST /v1/documents``: the labels as form fields ahead of the files (the server's order)."""
    fields: dict[str, str] = {}
    if collection is not None:
        fields["collection"] = collection
    if groups:
        if isinstance(groups, str):
            raise TypeError("groups is a list of names: groups=['staff'], not 'staff'")
        fields["groups"] = ",".join(groups)
    if metadata:
        fields["metadata"] = json.dumps(dict(metadata), ensure_ascii=False)
    if replace is not None:
        fields["replace"] = "true" if replace else "false"
    if notify_url is not None:
        fields["notify_url"] = notify_url
    parts = [("files", (name, content, "application/octet-stream")) for name, content in _named(items)]
    if not parts:
        raise ValueError("give at least one file to upload")
    return Call("POST", "/v1/documents", data=fields, files=parts)


def _named(items: Upload | Sequence[Upload]) -> list[tuple[str, Any]]:
    """(name, content) of each item: a path is named by its file name (and read as it is sent)."""
    listed: Sequence[Upload] = [items] if isinstance(items, str | Path | tuple) else items
    out: list[tuple[str, Any]] = []
    for item in listed:
        if isinstance(item, tuple):
            name, content = item
            out.append((name, Path(content) if isinstance(content, str) else content))
        else:
            path = Path(item)
            if not path.is_file():
                raise FileNotFoundError(f"no file at {path}")
            out.append((path.name, path))
    return out


def _opened(content: Any, stack: ExitStack) -> Any:
    """A file part's content for one attempt: a path opened, a file object rewound, bytes as they are."""
    if isinstance(content, Path):
        return stack.enter_context(content.open("rb"))
    if hasattr(content, "seek") and hasattr(content, "seekable") and content.seekable():
        content.seek(0)
    return content


def read_media(media: Media) -> bytes:
    """The bytes of a query image, a clip or a file: given, or read from the path."""
    if isinstance(media, bytes | bytearray):
        return bytes(media)
    return Path(media).read_bytes()


def job(job_id: str, wait: float = 0.0) -> Call:
    params = {"wait": f"{wait:g}"} if wait > 0 else {}
    return Call("GET", f"/v1/jobs/{_segment(job_id)}", params=params, timeout=wait + 30.0 if wait else None)


def job_events(job_id: str) -> Call:
    return Call("GET", f"/v1/jobs/{_segment(job_id)}/events")


def cancel(job_id: str) -> Call:
    return Call("DELETE", f"/v1/jobs/{_segment(job_id)}")


def documents(offset: int, collection: str | None) -> Call:
    params: dict[str, Any] = {"limit": DOCUMENTS_PAGE, "offset": offset}
    if collection is not None:
        params["collection"] = collection
    return Call("GET", "/v1/documents", params=params)


def delete(name: str | None, collection: str | None, doc_id: str | None) -> Call:
    if (name is None) == (doc_id is None):
        raise ValueError("delete by name= (and collection=) or by id=, one of them")
    if doc_id is not None:
        if collection is not None:
            raise ValueError("a document id names one document: give collection= only with name=")
        return Call("DELETE", f"/v1/documents/{_segment(doc_id)}")
    params = {"name": name, **({"collection": collection} if collection is not None else {})}
    return Call("DELETE", "/v1/documents", params=params)


def image(point_id: str, width: int | None = None) -> Call:
    return Call("GET", f"/v1/images/{_segment(point_id)}", params={"w": width} if width else {})


def point(point_id: str) -> Call:
    return Call("GET", f"/v1/points/{_segment(point_id)}")


def _segment(value: str) -> str:
    """An id as one path segment (ids are hex or UUIDs; anything else must not change the path)."""
    if not value or any(ch in value for ch in "/?#%") or value in (".", ".."):
        raise ValueError(f"not an id: {value[:80]!r}")
    return value
