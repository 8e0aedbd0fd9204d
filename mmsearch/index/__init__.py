"""Vectors: the embedders (in process and served), the Qdrant stores, and the ingest pipeline that joins them."""
