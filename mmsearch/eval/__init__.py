"""Retrieval quality on local datasets: ``mmsearch eval`` (dataset → corpus → runner → report)."""
