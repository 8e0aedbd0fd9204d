"""A LangChain retriever over a running mmsearch server (``pip install mmsearch[langchain]``).

    from mmsearch.client.langchain import MmsearchRetriever

    retriever = MmsearchRetriever(url="http://127.0.0.1:8000", api_key="...", top_k=4,
                                  search_kwargs={"collections": ["finance"]})
    docs = retriever.invoke("quarterly revenue by region")
    docs[0].page_content          # the page's text (its text layer or OCR)
    docs[0].metadata["citation"]  # "finance:report.pdf, p. 3/12"; also link, page, scores, image_url

Each hit becomes a ``Document`` whose ``page_content`` is the unit's whole text (the search asks for it:
``include_text``) and whose metadata is ``Hit.citation_metadata()``: file, collection, page or time,
link, scores and the page image's URL (a vision model reads the page from there, or from
``Client.search(...).hits[i].image()``).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, model_validator

from mmsearch.client.async_ import AsyncClient
from mmsearch.client.results import Hit
from mmsearch.client.sync import Client


class MmsearchRetriever(BaseRetriever):
    """Give ``url`` (and ``api_key``), or a ``client`` (and for async use an ``async_client``).
    ``search_kwargs``: more ``Client.search`` options (``collections``, ``filters``, ``mode``, ``rerank``,
    ``min_score``, ``collapse``, ...)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    url: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    client: Client | None = None
    async_client: AsyncClient | None = None
    top_k: int = 4
    include_text: bool = True
    search_kwargs: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _connect(self) -> MmsearchRetriever:
        if self.client is None:
            if self.url is None:
                raise ValueError("give url= (and api_key=) or client=")
            self.client = Client(self.url, self.api_key)
        return self

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        assert self.client is not None  # _connect made it
        result = self.client.search(
            query, top_k=self.top_k, include_text=self.include_text, **self.search_kwargs
        )
        return [to_document(hit) for hit in result.hits]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        if self.async_client is None:  # the blocking client, off the event loop
            return await super()._aget_relevant_documents(query, run_manager=run_manager)
        result = await self.async_client.search(
            query, top_k=self.top_k, include_text=self.include_text, **self.search_kwargs
        )
        return [to_document(hit) for hit in result.hits]


def to_document(hit: Hit) -> Document:
    return Document(page_content=hit.content, metadata=hit.citation_metadata(), id=hit.point_id)
