"""The services behind the routes: the parts the API opens once (parts: store, models, searcher), what
every route reaches through ``request.app.state`` (context), models made safe to share across threads
(serial) and the queues that batch searches' model calls (batcher), and ingest of uploads (worker, job_store, uploads)."""
