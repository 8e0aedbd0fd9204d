"""The query path: the rerankers (in process and served), the searcher, and the hits it returns."""
