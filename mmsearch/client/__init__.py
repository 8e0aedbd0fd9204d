"""The Python client of a running ``mmsearch serve``: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

    from mmsearch.client import Client

    with Client("http://127.0.0.1:8000", api_key="...") as client:
        client.upload(["report.pdf"], collection="finance")          # waits until it is indexed
        result = client.search("quarterly revenue", top_k=5, include_text=True)
        for hit in result.hits:
            print(hit.citation, round(hit.score, 3), hit.link)       # report.pdf, p. 3/12  0.91  http://…#page=3
        page_image = result.hits[0].image()                         # the page the models saw (bytes)

It imports httpx and stamina, never the models (``import mmsearch.client`` stays light). Errors: see
``errors.py``. Framework retrievers over it: ``mmsearch.client.langchain`` and ``mmsearch.client.llamaindex``
(the ``langchain`` and ``llamaindex`` extras).
"""

from mmsearch.client.async_ import AsyncClient
from mmsearch.client.errors import RemoteError, ServerError
from mmsearch.client.results import Deleted, Document, FileResult, Hit, Job, Progress, SearchResult
from mmsearch.client.signature import SIGNATURE_HEADER, verify_signature
from mmsearch.client.sync import Client

__all__ = [
    "SIGNATURE_HEADER",
    "AsyncClient",
    "Client",
    "Deleted",
    "Document",
    "FileResult",
    "Hit",
    "Job",
    "Progress",
    "RemoteError",
    "SearchResult",
    "ServerError",
    "verify_signature",
]
