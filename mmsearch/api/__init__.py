"""The REST API and web page (``mmsearch serve``), by concern.

app.py        create_app: the FastAPI application, its middleware, routers, web page and docs
settings.py   the ``server:`` section of config.yaml (``ApiSettings``)
errors.py     the one JSON error shape and its handlers (statuses come from the error classes)
schemas.py    request and response bodies; openapi.py, docs.py: the OpenAPI document, /docs
prometheus.py /metrics: requests by route, search stages, ingest counters
edge/         each request at the door: host and origin (guard), keys (auth), admission (gate),
              bounded bodies and upload streaming, security headers, signed URLs, safe paths,
              the types stored files are served as
services/     what runs behind the door: the opened parts (store, models, searcher), what every
              route reaches (context), serialised models, the ingest worker and its job store,
              uploaded files on disk
routes/       the endpoints: search, images, documents, jobs, health; links (the URLs in answers)
static/       the web page
"""
