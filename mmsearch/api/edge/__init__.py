"""Request handling at the edge: who may talk to the server (guard, auth), how many searches at once
(gate), bounded bodies (body, upload_stream), what goes out with a file (headers, file_types), signed
URLs (signing), paths that stay inside ``data_dir`` (paths) and an access log that names the principal
and shows no secret (access_log). None of it runs a model or opens the
store."""
