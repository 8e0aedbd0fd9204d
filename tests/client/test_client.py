"""The Python client against a real server (uvicorn on a free loopback port, keys on, the tiny models):
upload and wait, search with its options, a hit's image bytes, document pages, delete by name, errors as
the project's classes, sync and async; jobs followed without polling (long poll, Server-Sent Events,
webhooks signed with HMAC and sent only where allowed); the framework retrievers; the README's example.

One server for the module. Its corpus is uploaded once, through the client (``corpus``); tests that add
documents delete them again. A job the worker never runs (``parked``: created and claimed in the job
list) lets a test drive a job's progress itself.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from mmsearch import components
from mmsearch.access.keys import mint
from mmsearch.access.principal import Role
from mmsearch.api.app import create_app
from mmsearch.api.services.job_store import JobFile, new_job_id
from mmsearch.api.services.parts import Services, open_services
from mmsearch.client import AsyncClient, Client, Job, ServerError, verify_signature
from mmsearch.client.signature import SIGNATURE_HEADER
from mmsearch.errors import NotFound
from mmsearch.ingest.names import Labels
from mmsearch.samples import make_landscape, make_pdf, make_video
from tests.api.api_support import READ_KEY, WRITE_KEY, live_server
from tests.support import REPO, NoDelayHandler, budget, tiny_settings

pytestmark = pytest.mark.slow

SECRET = "webhook-secret-0123456789abcdef"


@dataclass
class Receiver:
    """A webhook receiver on loopback: answers 503 to the first delivery, then 200."""

    url: str
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    received: list[tuple[dict[str, str], bytes]] = []
    state = {"failures": 1}

    class Handler(NoDelayHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            failing = state["failures"] > 0
            state["failures"] -= 1
            self.send_response(503 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook", got=received)
    finally:
        server.shutdown()


@dataclass
class Served:
    url: str
    services: Services
    files: dict[str, Path]
    scoped_key: str  # a reader of collection "elsewhere" only
    group_key: str  # a reader of collection "library", documents of group "interns" (or of no group) only


@pytest.fixture(scope="module")
def served(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("client")
    files = {
        "report": root / "corpus" / "quarterly-report.pdf",
        "birds": root / "corpus" / "field-guide-birds.pdf",
        "photo": root / "corpus" / "photo-landscape.jpg",
        "clip": root / "clip.mp4",
    }
    files["report"].parent.mkdir()
    make_pdf(files["report"], 3, topic="finance")
    make_pdf(files["birds"], 2, topic="birds", with_tables=False)
    make_landscape(files["photo"], (320, 200))
    make_video(files["clip"], 2, fps=4, size=(96, 64))
    server = {
        "read_keys": [READ_KEY], "write_keys": [WRITE_KEY], "job_events_max_s": budget(4),
        "webhook_hosts": ["127.0.0.1"], "webhook_private": True, "webhook_secret": SECRET,
    }  # fmt: skip
    settings = tiny_settings(root / "data", tiny_models, small_media=True, server=server)
    services = open_services(settings)
    try:
        keys = components.build_key_store(settings)
        scoped, record = mint("elsewhere-reader", Role.READER, ["elsewhere"], None)
        keys.add(record)
        grouped, record = mint("intern-reader", Role.READER, ["library"], ["interns"])
        keys.add(record)
        with live_server(create_app(settings, services)) as live:
            yield Served(live.url, services, files, scoped, grouped)
    finally:
        services.close()


@pytest.fixture(scope="module")
def corpus(served: Served) -> Job:
    """The corpus uploaded through the client into ``library``, waited for (long polls)."""
    with Client(served.url, WRITE_KEY) as client:
        return client.upload(
            [served.files["report"], served.files["birds"], ("pictures/landscape.jpg", served.files["photo"].read_bytes())],
            collection="library", groups=["staff"], metadata={"year": 2024},
        )  # fmt: skip


@pytest.fixture
def parked(served: Served) -> Iterator[str]:
    """A running job (in ``library``) that the worker never takes: the test writes its progress."""
    job_id = new_job_id()
    jobs = served.services.jobs.jobs
    jobs.create(job_id, [("parked.pdf", 10)], Labels.checked("library"))
    assert jobs.claim(job_id)
    yield job_id
    jobs.finish(job_id, "cancelled")


def later(seconds: float, action: Any) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


# -- upload, search, images, documents, delete (sync) ---------------------------------------------


def test_upload_waits_for_the_job_and_reports_each_file(corpus: Job) -> None:
    assert corpus.done and corpus.state == "done" and corpus.collection == "library"
    assert corpus.indexed == 3 and corpus.failed == 0
    by_name = {f.name: f for f in corpus.files}
    assert set(by_name) == {"quarterly-report.pdf", "field-guide-birds.pdf", "pictures/landscape.jpg"}
    assert by_name["quarterly-report.pdf"].units == 3 and by_name["quarterly-report.pdf"].kind == "pdf"
    assert corpus.progress.files_done == 3 and corpus.progress.units_done == 6


def test_search_gives_typed_hits_with_citations(served: Served, corpus: Job) -> None:
    with Client(served.url, READ_KEY) as client:
        result = client.search("quarterly revenue", top_k=4, candidates=6, rerank=False)
    assert len(result) == 4 and not result.reranked and result.candidates == 6
    for rank, hit in enumerate(result, start=1):
        assert hit.rank == rank and hit.collection == "library" and hit.groups == ("staff",)
        assert hit.metadata == {"year": 2024} and hit.score == hit.vector_score
        assert hit.link.startswith(hit.file_url)
    page = next(hit for hit in result if hit.modality == "page")
    assert page.page is not None and page.page_count in (2, 3)
    assert page.citation == f"library:{page.name}, p. {page.page}/{page.page_count}"
    assert page.link.endswith(f"#page={page.page}")
    assert result.raw["hits"][0]["point_id"] == result.hits[0].point_id


def test_search_options_reach_the_server(served: Served, corpus: Job) -> None:
    with Client(served.url, READ_KEY) as client:
        pages = client.search(
            "birds", filters={"modality": "page"}, collections=["library"], top_k=10, rerank=False
        )
        assert pages.hits and {h.modality for h in pages} == {"page"}
        assert len(pages) == 5
        reranked = client.search("birds", top_k=2, candidates=3)
        assert reranked.reranked and all(h.rerank_score is not None for h in reranked)
        by_image = client.search(image=served.files["photo"], top_k=1, rerank=False)
        assert by_image.hits[0].name == "pictures/landscape.jpg"  # the same picture, nearest to itself
        by_clip = client.search(video=served.files["clip"], top_k=2, rerank=False)
        assert len(by_clip) == 2
        nothing = client.search("birds", collections=["elsewhere"], rerank=False)
        assert nothing.hits == ()
        with pytest.raises(ValueError, match="collections"):
            client.search("birds", collections=["a"], filters={"collection": "b"})


def server_takes(served: Served, *fields: str) -> None:
    """Skip unless the server's search request has ``fields`` (options of issues 20 and 21 that other
    branches add to the server: the client sends them as those branches define them)."""
    missing = [name for name in fields if not server_has(served, name)]
    if missing:
        pytest.skip(f"this server's SearchRequest has no {', '.join(missing)} yet")


def server_has(served: Served, name: str) -> bool:
    schema = httpx.get(f"{served.url}/openapi.json").json()["components"]["schemas"]["SearchRequest"]
    return name in schema["properties"]


def test_min_score_offset_and_collapse(served: Served, corpus: Job) -> None:
    server_takes(served, "min_score", "offset", "collapse")
    with Client(served.url, READ_KEY) as client:
        first = client.search("finance", top_k=2, rerank=False)
        assert first.next_offset == 2
        second = client.search("finance", top_k=2, offset=first.next_offset, rerank=False)
        assert [h.rank for h in second] == [3, 4]
        assert not {h.point_id for h in first} & {h.point_id for h in second}
        floor = first.hits[1].score
        above = client.search("finance", top_k=10, min_score=floor, rerank=False)
        assert above.hits and all(h.score >= floor for h in above)
        one_each = client.search("finance", top_k=10, collapse="document", rerank=False)
        assert len({h.doc_id for h in one_each}) == len(one_each) == 3


def test_include_text_and_mode(served: Served, corpus: Job) -> None:
    server_takes(served, "include_text", "mode")
    with Client(served.url, READ_KEY) as client:
        result = client.search("finance", mode="vector", include_text=True, top_k=3, rerank=False)
    assert result.mode == "vector"
    assert any(hit.text for hit in result if hit.modality == "page")


def test_hit_image_is_the_stored_image(served: Served, corpus: Job) -> None:
    with Client(served.url, READ_KEY) as client:
        hit = client.search("finance", top_k=1, rerank=False).hits[0]
        image = hit.image()
    assert image[:3] == b"\xff\xd8\xff"  # JPEG, as stored
    assert image == httpx.get(hit.image_url or "").content  # the signed URL serves the same bytes


def test_hit_image_from_base64(served: Served, corpus: Job) -> None:
    server_takes(served, "include_images")
    with Client(served.url, READ_KEY) as client:
        inline = client.search("finance", top_k=1, rerank=False, include_images="base64").hits[0]
        plain = client.search("finance", top_k=1, rerank=False).hits[0]
        assert inline.image() == plain.image()
        bare = client.search("finance", top_k=1, rerank=False, include_images="none").hits[0]
        assert bare.image_url is None and bare.image() == plain.image()  # through the image route


def test_search_many(served: Served, corpus: Job) -> None:
    schema = httpx.get(f"{served.url}/openapi.json").json()
    if "/v1/search/batch" not in schema["paths"]:
        pytest.skip("this server has no POST /v1/search/batch yet")
    with Client(served.url, READ_KEY) as client:
        results = client.search_many(["finance", {"text": "birds", "top_k": 1}], top_k=2, rerank=False)
        single = client.search("finance", top_k=2, rerank=False)
    assert [len(r) for r in results] == [2, 1]
    assert [h.point_id for h in results[0]] == [h.point_id for h in single]


def test_documents_iterate_every_page_and_delete_by_name(served: Served, corpus: Job, tmp_path: Path) -> None:
    with Client(served.url, WRITE_KEY) as client:
        extra = [(f"batch/memo-{i}.pdf", _tiny_pdf(tmp_path, i)) for i in range(3)]
        job = client.upload(extra, collection="memos")
        assert job.indexed == 3
        from mmsearch.client import calls

        page_size, calls.DOCUMENTS_PAGE = calls.DOCUMENTS_PAGE, 2  # several pages from a few documents
        try:
            memos = list(client.documents(collection="memos"))
            everything = list(client.documents())
        finally:
            calls.DOCUMENTS_PAGE = page_size
        assert [d.name for d in memos] == ["batch/memo-0.pdf", "batch/memo-1.pdf", "batch/memo-2.pdf"]
        assert {d.collection for d in everything} == {"library", "memos"} and len(everything) == 6
        gone = client.delete("batch/memo-1.pdf", collection="memos")
        assert gone.name == "batch/memo-1.pdf" and gone.deleted_points == 1
        by_id = client.delete(id=memos[0].doc_id)
        assert by_id.name == "batch/memo-0.pdf"
        with pytest.raises(NotFound, match="memo-1.pdf") as refused:
            client.delete("batch/memo-1.pdf", collection="memos")
        assert isinstance(refused.value, ServerError) and refused.value.http_status == 404
        client.delete("batch/memo-2.pdf", collection="memos")
        assert list(client.documents(collection="memos")) == []
        with pytest.raises(ValueError, match="one of them"):
            client.delete("x.pdf", id="abc")


def _tiny_pdf(folder: Path, i: int) -> bytes:
    path = folder / f"memo-{i}.pdf"
    make_pdf(path, 1, topic="finance")
    return path.read_bytes()


def test_errors_carry_the_servers_code_and_message(served: Served, corpus: Job) -> None:
    with Client(served.url, "not-a-valid-key-0123456789") as client, pytest.raises(ServerError) as refused:
        client.search("finance")
    assert refused.value.code == "unauthorized" and refused.value.http_status == 401
    with Client(served.url, READ_KEY) as client:
        with pytest.raises(ServerError) as bad:
            client.search("finance", top_k=0)
        assert bad.value.code == "invalid_request" and bad.value.details[0]["field"].endswith("top_k")
        with pytest.raises(ServerError, match="write") as forbidden:
            client.upload([("x.pdf", b"%PDF-1.4")])
        assert forbidden.value.http_status in (401, 403)
        with pytest.raises(NotFound):
            client.job("0" * 32)
    with (
        Client("http://127.0.0.1:9", READ_KEY, timeout=5) as client,
        pytest.raises(Exception, match="cannot reach"),
    ):
        client.search("finance")


def test_a_file_the_server_refuses_fails_in_the_job(served: Served, corpus: Job) -> None:
    with Client(served.url, WRITE_KEY) as client:
        job = client.upload([("notes.pdf", b"this is not a pdf")], collection="memos")
    assert job.state == "done" and job.failed == 1
    assert job.files[0].status == "failed" and job.files[0].code == "unsupported_file"


# -- async ------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_client_does_the_same(served: Served, corpus: Job, tmp_path: Path) -> None:
    seen: list[Job] = []
    async with AsyncClient(served.url, WRITE_KEY) as client:
        job = await client.upload(
            [("async/one.pdf", _tiny_pdf(tmp_path, 7))], collection="memos", progress=seen.append
        )
        assert job.done and job.indexed == 1 and seen[-1] == job
        result = await client.search("finance", top_k=2, rerank=False)
        assert len(result) == 2
        assert await result.hits[0].aimage() == result.hits[0].image()
        names = [doc.name async for doc in client.documents(collection="memos")]
        assert names == ["async/one.pdf"]
        deleted = await client.delete("async/one.pdf", collection="memos")
        assert deleted.deleted_points == 1
        with pytest.raises(NotFound):
            await client.delete("async/one.pdf", collection="memos")


# -- jobs without polling ---------------------------------------------------------------------------


def test_long_poll_answers_when_the_job_ends(served: Served, parked: str) -> None:
    jobs = served.services.jobs.jobs
    with Client(served.url, READ_KEY) as client:
        started = time.monotonic()
        still = client.job(parked)
        assert still.state == "running"
        waited = httpx.get(
            f"{served.url}/v1/jobs/{parked}", params={"wait": 1}, headers=_auth(READ_KEY), timeout=30
        )
        assert waited.json()["state"] == "running" and time.monotonic() - started >= 1  # the whole wait
        later(0.5, lambda: jobs.finish(parked, "done"))
        started = time.monotonic()
        ended = client.wait(parked)  # long polls of 30 s
        assert ended.state == "done" and time.monotonic() - started < 25  # not the whole 30 s
    too_long = httpx.get(f"{served.url}/v1/jobs/{parked}", params={"wait": 61}, headers=_auth(READ_KEY))
    assert too_long.status_code == 422 and too_long.json()["error"]["code"] == "invalid_request"


def test_wait_gives_up_after_its_timeout(served: Served, parked: str) -> None:
    with Client(served.url, READ_KEY) as client, pytest.raises(TimeoutError, match=parked):
        client.wait(parked, timeout=0.5)


def test_event_stream_sends_progress_then_done(served: Served, parked: str) -> None:
    jobs = served.services.jobs.jobs
    running = JobFile(0, "parked.pdf", 10, "running")
    steps = [
        lambda: jobs.update_file(parked, running),
        lambda: jobs.update_file(parked, JobFile(0, "parked.pdf", 10, "running", units=3)),
        lambda: jobs.finish(parked, "done"),
    ]
    events: list[tuple[str, dict[str, Any]]] = []
    with httpx.stream(
        "GET", f"{served.url}/v1/jobs/{parked}/events", headers=_auth(READ_KEY), timeout=30
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
                if steps:
                    steps.pop(0)()
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "progress" and kinds[-1] == "done" and kinds.count("done") == 1
    units = [body["progress"]["units_done"] for _, body in events]
    assert 3 in units and events[-1][1]["state"] == "done"
    assert events[1][1]["progress"]["current"] == "parked.pdf"


def test_event_stream_ends_after_its_lifetime(served: Served, parked: str) -> None:
    started = time.monotonic()
    with httpx.stream(
        "GET", f"{served.url}/v1/jobs/{parked}/events", headers=_auth(READ_KEY), timeout=30
    ) as stream:
        text = "".join(stream.iter_text())
    assert "event: timeout" in text and "event: done" not in text
    assert time.monotonic() - started >= served.services.settings.server.job_events_max_s


def test_client_follows_progress_through_events(served: Served, parked: str) -> None:
    jobs = served.services.jobs.jobs
    seen: list[Job] = []
    later(0.3, lambda: jobs.update_file(parked, JobFile(0, "parked.pdf", 10, "running", units=2)))
    later(0.8, lambda: jobs.finish(parked, "done"))
    with Client(served.url, READ_KEY) as client:
        ended = client.wait(parked, progress=seen.append)
    assert ended.state == "done" and seen[-1] == ended
    assert any(job.progress.units_done == 2 for job in seen)


def test_a_job_outside_the_scope_is_absent(served: Served, parked: str) -> None:
    for path in (f"/v1/jobs/{parked}", f"/v1/jobs/{parked}/events", f"/v1/jobs/{parked}?wait=1"):
        response = httpx.get(f"{served.url}{path}", headers=_auth(served.scoped_key), timeout=30)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", path
    with Client(served.url, served.scoped_key) as client, pytest.raises(NotFound):
        client.wait(parked, progress=lambda job: None)


def test_a_job_of_documents_a_group_may_not_read_is_absent(served: Served, parked: str) -> None:
    """In its collection, but writing documents for the group "staff" only: absent to a reader of "interns"
    (whose key sees the parked job, of no group)."""
    jobs = served.services.jobs.jobs
    staff_only = new_job_id()
    jobs.create(staff_only, [("staff.pdf", 10)], Labels.checked("library", ["staff"]))
    assert jobs.claim(staff_only)
    try:
        with Client(served.url, served.group_key) as client:
            assert client.job(parked).state == "running"
            for path in (f"/v1/jobs/{staff_only}?wait=1", f"/v1/jobs/{staff_only}/events"):
                response = httpx.get(f"{served.url}{path}", headers=_auth(served.group_key), timeout=30)
                assert response.status_code == 404, path
            with pytest.raises(NotFound):
                client.wait(staff_only, progress=lambda job: None)
    finally:
        jobs.finish(staff_only, "cancelled")


# -- webhooks ---------------------------------------------------------------------------------------


def test_webhook_is_signed_and_retried(
    served: Served, receiver: Receiver, corpus: Job, tmp_path: Path
) -> None:
    with Client(served.url, WRITE_KEY) as client:
        job = client.upload(
            [("hooked.pdf", _tiny_pdf(tmp_path, 9))], collection="memos", notify_url=receiver.url
        )
        deadline = time.monotonic() + budget(30)
        while len(receiver.got) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        client.delete("hooked.pdf", collection="memos")
    assert len(receiver.got) == 2  # the first answered 503, the retry 200
    bodies = []
    for headers, body in receiver.got:
        assert verify_signature(SECRET, body, headers[SIGNATURE_HEADER.lower()])
        assert not verify_signature("another-secret-0123456789", body, headers[SIGNATURE_HEADER.lower()])
        bodies.append(json.loads(body))
    assert bodies[0]["delivery"] == bodies[1]["delivery"] and bodies[0]["event"] == "job.finished"
    sent = bodies[1]["job"]
    assert sent["job_id"] == job.id and sent["state"] == "done" and sent["indexed"] == 1
    assert sent["url"].endswith(f"/v1/jobs/{job.id}")
    tampered = body.replace(b'"done"', b'"fail"')
    assert not verify_signature(SECRET, tampered, headers[SIGNATURE_HEADER.lower()])


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com/hook", "not a host webhooks may reach"),
        ("ftp://127.0.0.1/hook", "http:// or https://"),
        ("http://user:pw@127.0.0.1/hook", "credentials"),
        ("http://127.0.0.1:99999/hook", "not a URL"),
    ],
)
def test_a_webhook_to_a_host_not_allowed_is_refused(served: Served, corpus: Job, url: str, why: str) -> None:
    before = len(served.services.jobs.jobs.jobs(1000))
    with Client(served.url, WRITE_KEY) as client, pytest.raises(ServerError, match=why) as refused:
        client.upload([("refused.pdf", b"%PDF-1.4")], collection="memos", notify_url=url)
    assert refused.value.code == "invalid_request" and refused.value.details[0]["field"] == "notify_url"
    assert len(served.services.jobs.jobs.jobs(1000)) == before  # no job
    query = httpx.post(
        f"{served.url}/v1/documents", params={"notify_url": url}, headers=_auth(WRITE_KEY),
        files=[("files", ("refused.pdf", b"%PDF-1.4"))],
    )  # fmt: skip
    assert query.status_code == 422 and why in query.text


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# -- framework retrievers ---------------------------------------------------------------------------


def test_langchain_retriever_gives_documents_with_text_and_citations(served: Served, corpus: Job) -> None:
    from mmsearch.client.langchain import MmsearchRetriever

    with_text = server_has(served, "include_text")  # issue 20's field (h20c): the page's whole text
    retriever = MmsearchRetriever(
        url=served.url, api_key=READ_KEY, top_k=3, include_text=with_text,
        search_kwargs={"rerank": False, "filters": {"modality": "page"}},
    )  # fmt: skip
    docs = retriever.invoke("quarterly revenue")
    with Client(served.url, READ_KEY) as client:
        hits = client.search(
            "quarterly revenue", top_k=3, rerank=False, filters={"modality": "page"}, include_text=with_text
        ).hits
    assert [d.id for d in docs] == [h.point_id for h in hits]
    for doc, hit in zip(docs, hits, strict=True):
        assert doc.page_content == (hit.text if with_text else hit.snippet) and doc.page_content
        meta = doc.metadata
        assert meta["citation"] == hit.citation and meta["page"] == hit.page and meta["link"] == hit.link
        assert meta["score"] == hit.score and meta["image_url"] and meta["metadata"] == {"year": 2024}
        assert json.dumps(meta)  # plain JSON values: any vector store or tracer takes them
    with pytest.raises(ValueError, match="url"):
        MmsearchRetriever()


@pytest.mark.anyio
async def test_langchain_retriever_async(served: Served, corpus: Job) -> None:
    from mmsearch.client.langchain import MmsearchRetriever

    with_text = server_has(served, "include_text")
    async with AsyncClient(served.url, READ_KEY) as aclient:
        retriever = MmsearchRetriever(
            url=served.url, api_key=READ_KEY, async_client=aclient, top_k=2, include_text=with_text,
            search_kwargs={"rerank": False},
        )  # fmt: skip
        docs = await retriever.ainvoke("birds")
    assert len(docs) == 2 and all(d.metadata["collection"] == "library" for d in docs)


def test_llamaindex_retriever_gives_image_nodes_with_text_and_citations(served: Served, corpus: Job) -> None:
    from llama_index.core.schema import ImageNode, MetadataMode

    from mmsearch.client.llamaindex import MmsearchRetriever

    with_text = server_has(served, "include_text")
    retriever = MmsearchRetriever(
        served.url, READ_KEY, top_k=3, include_text=with_text, search_kwargs={"rerank": False}
    )
    scored = retriever.retrieve("quarterly revenue")
    with Client(served.url, READ_KEY) as client:
        hits = client.search("quarterly revenue", top_k=3, rerank=False, include_text=with_text).hits
    assert [s.node.node_id for s in scored] == [h.point_id for h in hits]
    for one, hit in zip(scored, hits, strict=True):
        node = one.node
        assert isinstance(node, ImageNode) and one.score == hit.score
        assert node.text == (hit.text or hit.snippet)
        assert node.image_url == hit.image_url and node.metadata["citation"] == hit.citation
        assert node.metadata["t_start"] == hit.t_start and node.metadata["page"] == hit.page
        for_llm = node.get_content(metadata_mode=MetadataMode.LLM)
        assert hit.citation in for_llm and "image_url" not in for_llm


# -- the README's example ---------------------------------------------------------------------------

README_MARK = "<!-- doc test: tests/client/test_client.py runs this block against a live server -->"


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    after = text.split(README_MARK, 1)[1]
    block = after.split("```python\n", 1)[1].split("\n```", 1)[0]
    assert "Client(" in block
    return block


def test_the_readme_example_runs(served: Served, corpus: Job, tmp_path: Path) -> None:
    """The README's client example, as written but for the server's address, in a fresh interpreter."""
    code = readme_example().replace("http://127.0.0.1:8000", served.url)
    assert served.url in code
    make_pdf(tmp_path / "report.pdf", 3, topic="finance")
    make_landscape(tmp_path / "chart.png", (200, 120))
    env = {**os.environ, "MMSEARCH_API_KEY": WRITE_KEY, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=budget(120), check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "done 2 files indexed"
    assert any("finance:report.pdf, p. " in line and "#page=" in line for line in lines[1:4])
    assert "report.pdf 3" in lines and "chart.png 1" in lines
    with Client(served.url, WRITE_KEY) as client:
        assert [d.name for d in client.documents(collection="finance")] == ["report.pdf"]  # chart.png deleted
        client.delete("report.pdf", collection="finance")
