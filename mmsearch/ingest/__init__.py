"""Files → units: the first stage of mmsearch. Imports nothing from ``index`` or ``search``.

Public API (one module per idea):

- ``walk.walk(paths, settings)`` → ``walk.WalkedFile`` (absolute resolved path + name relative to the folder
  given), ``walk.FileFailure`` and ``walk.Skipped`` (a symlink out of the folders given) entries.
- ``names``: document names, collections, groups and metadata, normalised and bounded (``Labels``).
- ``reader.read_file(path, settings)`` → ``(Source, Iterator[Unit])``; raises ``IngestError`` subclasses.
  Dispatches on content (``sniff``) to ``pdf``, ``image`` and ``video``.
- ``media.save_media / load_media / prune_media / delete_media``: stored page/frame JPEGs in ``data_dir``.
- ``manifest.Manifest``: which documents are done (sqlite, keyed by document id); marked only by the caller.
- ``image.load_query_image(path_or_bytes, settings)``: a query image prepared like an ingested one.
- ``pixels.fit_size``: the model-grid size every stored image has.
"""
