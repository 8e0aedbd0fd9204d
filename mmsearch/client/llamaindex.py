"""A LlamaIndex retriever over a running mmsearch server (``pip install mmsearch[llamaindex]``).

    from mmsearch.client.llamaindex import MmsearchRetriever

    retriever = MmsearchRetriever(url="http://127.0.0.1:8000", api_key="...", top_k=4)
    for scored in retriever.retrieve("quarterly revenue by region"):
        scored.node.text, scored.node.image_url, scored.node.metadata["citation"], scored.score

Each hit becomes an ``ImageNode`` (a ``TextNode`` with an image): ``text`` is the unit's whole text (the
search asks for it: ``include_text``), ``image_url`` the page/frame image the models saw, so multimodal
query engines can hand the page to a vision model; ``metadata`` is ``Hit.citation_metadata()`` (file,
collection, page or time, link, scores). The node's ``score`` is the hit's.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import ImageNode, NodeWithScore, QueryBundle

from mmsearch.client.async_ import AsyncClient
from mmsearch.client.results import Hit
from mmsearch.client.sync import Client

# Kept out of what the LLM and the embedder read (they stay in the metadata for the application).
NOT_FOR_READERS = (
    "doc_id", "point_id", "file_url", "image_url", "thumbnail_url", "content_hash", "vector_score",
    "rerank_score", "score", "rank", "metadata",
)  # fmt: skip


class MmsearchRetriever(BaseRetriever):
    """Give ``url`` (and ``api_key``), or a ``client`` (and for ``aretrieve`` an ``async_client``);
    ``search_kwargs``: more ``Client.search`` options (``collections``, ``filters``, ``mode``, ...)."""

    def __init__(
        self, url: str | None = None, api_key: str | None = None, *, client: Client | None = None,
        async_client: AsyncClient | None = None, top_k: int = 4, include_text: bool = True,
        search_kwargs: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        if client is None:
            if url is None:
                raise ValueError("give url= (and api_key=) or client=")
            client = Client(url, api_key)
        self.client = client
        self.async_client = async_client
        self.top_k = top_k
        self.include_text = include_text
        self.search_kwargs = dict(search_kwargs or {})
        super().__init__(**kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        result = self.client.search(
            query_bundle.query_str, top_k=self.top_k, include_text=self.include_text, **self.search_kwargs
        )
        return [to_node(hit) for hit in result.hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        if self.async_client is None:
            return await super()._aretrieve(query_bundle)  # the blocking client
        result = await self.async_client.search(
            query_bundle.query_str, top_k=self.top_k, include_text=self.include_text, **self.search_kwargs
        )
        return [to_node(hit) for hit in result.hits]


def to_node(hit: Hit) -> NodeWithScore:
    node = ImageNode(
        id_=hit.point_id, text=hit.content, image_url=hit.image_url, metadata=hit.citation_metadata(),
        excluded_llm_metadata_keys=list(NOT_FOR_READERS), excluded_embed_metadata_keys=list(NOT_FOR_READERS),
    )  # fmt: skip
    return NodeWithScore(node=node, score=hit.score)
