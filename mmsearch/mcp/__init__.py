"""The MCP server: mmsearch's search as tools an agent calls (Model Context Protocol, the official ``mcp`` SDK).

``tools.py`` defines the four tools (``search``, ``get_page``, ``list_documents``, ``list_collections``)
once, over a ``Backend`` (``backend.py``): the embedded store in this process (``local.py``, for
``mmsearch mcp`` over stdio), the parts of a running ``mmsearch serve`` for the caller of ``/mcp``
(``served.py``, mounted by ``http.py`` under the API's auth), or a running server through its HTTP API
(``remote.py``, for ``mmsearch mcp --server URL``). ``citations.py`` is what a tool shows of a hit, a
page or a document; ``images.py`` the JPEG an agent is sent.
"""
