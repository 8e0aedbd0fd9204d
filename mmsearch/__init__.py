"""mmsearch: two-stage multimodal search over PDFs, images and videos.

The flow is ``ingest`` (files -> units) -> ``index`` (units -> vectors in Qdrant) -> ``search``
(query -> top-k candidates -> reranked hits). No module imports back up that chain.
"""

__version__ = "0.1.0"
