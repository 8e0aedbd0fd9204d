"""``mmsearch verify``: does a served embedder/reranker give the in-process reference's vectors and scores?"""
