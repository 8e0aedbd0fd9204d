"""The ``mmsearch`` command line: one module per command group, registered on the group here and
imported only when its command runs (``mmsearch --help`` imports none of them)."""

import sys

from mmsearch.ingest.pool import skip_unused_imports

skip_unused_imports()  # first, before a command module imports PyMuPDF: 1.4 s less for every command

# transformers imports scipy.optimize whenever it is installed (``loss/loss_for_object_detection.py``:
# ``linear_sum_assignment`` for DETR-family training losses), about 0.35 s of CPU in every command that
# builds a model; Qwen3-VL never calls it. ``None`` in ``sys.modules`` makes ``importlib.util.find_spec``
# answer None, so transformers' ``is_scipy_available()`` is False and the import is skipped.
sys.modules.setdefault("scipy", None)  # type: ignore[arg-type]  # None: "not importable"

from mmsearch.cli.app import cli, main, run

# name, module:attribute, the first sentence of the command's docstring (its line in --help; the test
# tests/test_cold_start.py::test_lazy_help_is_each_commands_own keeps them equal).
COMMANDS = [
    ("audit", "mmsearch.cli.audit:audit",
     ("Show the audit trail, oldest first: searches, files and images opened, uploads, deletes, keys created "
      "and revoked, sign-ins, refused requests.")),
    ("delete", "mmsearch.cli.admin:delete",
     ("Remove documents (by name, document id, or the path of a file ingested here): their points, page "
      "images and manifest entry.")),
    ("embed", "mmsearch.cli.embed:embed", "Embed a text, an image and/or a video and print the vector."),
    ("eval", "mmsearch.cli.evaluate:evaluate",
     ("Measure retrieval quality on DATASET: nDCG@5/10, recall@1/5/10/50, MRR@10 for the vector stage and "
      "after reranking, and the latency of each stage (p50/p95 per query).")),
    ("ingest", "mmsearch.cli.ingest:ingest",
     "Ingest files and folders: PDFs (one unit per page), images, videos (segments)."),
    ("keys", "mmsearch.cli.keys:keys", "Manage API keys: who may read or write which collections."),
    ("mcp", "mmsearch.cli.mcp:mcp",
     ("Serve the search to an agent over MCP (stdio): tools search, get_page, list_documents, "
      "list_collections.")),
    ("migrate", "mmsearch.cli.store_admin:migrate",
     ("Copy the collection — ids, vectors, payloads; nothing is re-embedded — between the embedded store and "
      "a Qdrant server or cluster, resumably (an interrupted copy goes on where it stopped), then verify it "
      "(point counts, and a sample of points compared vector by vector).")),
    ("optimize", "mmsearch.cli.store_admin:optimize",
     "Build the embedded store's HNSW index (and merge its segments) now."),
    ("query", "mmsearch.cli.query:query", "Search the index with TEXT, an --image, a --video clip, or a mix."),
    ("serve", "mmsearch.cli.serve:serve", "Serve the search API (OpenAPI at /docs) and the web page (at /)."),
    ("stats", "mmsearch.cli.admin:stats", "Points by modality, documents, model and dimension of the collection."),
    ("verify", "mmsearch.cli.verify:verify",
     ("Embed and score a built-in canary set (text, a page image, a small image, image+text, a video clip) "
      "through the configured servers and through the in-process models on the same weights; print per "
      "modality the largest component difference and cosine of the vectors and the score differences; exit 1 "
      "when any is over the verify: tolerances.")),
]  # fmt: skip
for name, target, short_help in COMMANDS:
    cli.add_lazy(name, target, short_help)

__all__ = ["cli", "main", "run"]
