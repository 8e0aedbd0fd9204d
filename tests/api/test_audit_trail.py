"""The audit trail and the logs of a real ``mmsearch serve`` (a process: everything it writes to stdout
and stderr is read): an upload, a search, a download by signed URL, refusals and a delete are recorded with
their principal; no key, token or signature appears in any line the server writes; a URL issued before a
delete and a re-upload of other bytes under the same name (the same document id) answers 404."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import READ_KEY, WRITE_KEY

from mmsearch.samples import make_image
from tests.support import SMALL_MEDIA, budget, run_cli, tiny_env

pytestmark = pytest.mark.slow

WRITE = {"Authorization": f"Bearer {WRITE_KEY}"}
READ = {"Authorization": f"Bearer {READ_KEY}"}
UNKNOWN_KEY = "unknown-key-0123456789abcdef"
URL_SECRET = "url-secret-0123456789abcdef0123"


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.stdout) + "".join(self.stderr)


def env_for(data_dir: Path, models: Path) -> dict[str, str]:
    env = tiny_env(
        data_dir, models,
        MMSEARCH_SERVER__READ_KEYS=READ_KEY, MMSEARCH_SERVER__WRITE_KEYS=WRITE_KEY,
        MMSEARCH_SERVER__URL_SECRET=URL_SECRET,
    )  # fmt: skip
    env.update({f"MMSEARCH_INGEST__{k.upper()}": str(v) for k, v in SMALL_MEDIA.items()})
    return env


@contextmanager
def serve(data_dir: Path, models: Path) -> Iterator[Served]:
    """``mmsearch -v serve`` (INFO logging everywhere) on a free port; its output kept line by line."""
    command = [sys.executable, "-m", "mmsearch", "-v", "serve", "--port", "0"]
    process = subprocess.Popen(
        command, env=env_for(data_dir, models), cwd=data_dir.parent, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    served = Served("", process)
    readers = [
        threading.Thread(target=_drain, args=(process.stdout, served.stdout), daemon=True),
        threading.Thread(target=_drain, args=(process.stderr, served.stderr), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        served.url = _wait_for_url(served)
        yield served
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for reader in readers:
            reader.join(timeout=10)


def _drain(stream: Any, into: list[str]) -> None:
    into.extend(stream)  # line by line, as the server writes them


def _wait_for_url(served: Served) -> str:
    deadline = time.monotonic() + budget(180)
    while time.monotonic() < deadline:
        found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", "".join(served.stderr))
        if found:
            return found.group(1)
        if served.process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError("mmsearch serve did not start:\n" + served.output)


def upload(client: httpx.Client, name: str, data: bytes) -> dict[str, Any]:
    response = client.post("/v1/documents", files=[("files", (name, data))], headers=WRITE)
    assert response.status_code == 202, response.text
    job = response.json()
    deadline = time.monotonic() + budget(120)
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
        job = client.get(job["url"], headers=WRITE).json()
    assert job["state"] == "done" and job["files"][0]["status"] == "indexed", job
    return job


def search(client: httpx.Client, text: str) -> list[dict[str, Any]]:
    response = client.post("/v1/search", json={"text": text, "rerank": False}, headers=READ)
    assert response.status_code == 200, response.text
    return response.json()["hits"]


def test_audit_trail_logs_and_versioned_urls_of_a_real_server(tmp_path: Path, tiny_models: Path) -> None:
    data_dir = tmp_path / "data"
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    make_image(first, "png", (200, 150), text="chart")
    make_image(second, "png", (180, 160), text="other")
    sigs: list[str] = []
    with serve(data_dir, tiny_models) as served, httpx.Client(base_url=served.url, timeout=60) as client:
        job = upload(client, "chart.png", first.read_bytes())
        doc_id = job["files"][0]["doc_id"]
        (hit,) = search(client, "a chart")
        assert hit["doc_id"] == doc_id
        image_url, file_url = hit["image_url"], hit["file_url"]
        sigs += [httpx.URL(u).params["sig"] for u in (image_url, file_url, hit["thumbnail_url"])]
        assert httpx.URL(file_url).params["by"] == "config:read"

        opened = client.get(file_url)  # no key: the signature admits it
        assert opened.status_code == 200 and opened.content == first.read_bytes()
        assert re.fullmatch(r"private, max-age=\d+", opened.headers["cache-control"])
        assert int(opened.headers["cache-control"].split("=")[1]) <= 600  # no longer than the URL lives
        assert client.get(image_url).status_code == 200
        assert client.get(file_url, headers={"Range": "bytes=10-20"}).status_code == 206  # not recorded again
        tampered = file_url.replace("by=config%3Aread", "by=config%3Awrite")
        assert tampered != file_url and client.get(tampered).status_code == 401
        assert (
            client.get("/v1/documents", headers={"Authorization": f"Bearer {UNKNOWN_KEY}"}).status_code == 401
        )
        assert client.delete(f"/v1/documents/{doc_id}", headers=READ).status_code == 403

        assert client.delete(f"/v1/documents/{doc_id}", headers=WRITE).status_code == 200
        assert client.get(file_url).status_code == 404 and client.get(image_url).status_code == 404
        again = upload(client, "chart.png", second.read_bytes())  # other bytes, the same name
        assert again["files"][0]["doc_id"] == doc_id  # the same document id: exactly the case
        gone = client.get(file_url)
        assert gone.status_code == 404 and "search again" in gone.json()["error"]["message"]
        assert client.get(image_url).status_code == 404
        assert client.get(file_url, headers=READ).status_code == 404  # a key does not revive the old version
        (fresh,) = search(client, "a chart")
        sigs += [httpx.URL(fresh["file_url"]).params["sig"]]
        assert client.get(fresh["file_url"]).content == second.read_bytes()
        bare = fresh["file_url"].split("?")[0]  # no version named: the current one, with a key
        assert client.get(bare, headers=READ).content == second.read_bytes()
        callback = client.get("/auth/callback?code=oidc-code-0123456789&state=oidc-state-0123456789")
        assert callback.status_code in (401, 404)

    output = served.output

    secrets = [READ_KEY, WRITE_KEY, UNKNOWN_KEY, URL_SECRET, "oidc-code-0123456789", "oidc-state-0123456789"]
    for secret in [*secrets, *sigs]:
        assert secret not in output, f"{secret!r} in the server's output"
    assert not re.search(r"(?i)\b(sig|code|state)=(?!\[redacted\])[^&\s\"]", output)
    assert "Bearer" not in output
    assert re.search(r'config:read "POST /v1/search HTTP/1\.1" 200', output), output
    assert re.search(r'config:write "DELETE /v1/documents/[0-9a-f-]+ HTTP/1\.1" 200', output)
    assert re.search(
        r'- - "GET /v1/documents/[^ ]+/file\?v=[0-9a-f]{16}&by=config%3Aread&exp=\d+&sig=\[redacted\] HTTP',
        output,
    )

    entries = read_trail(data_dir)
    actions = [(e["action"], e["principal"]["name"]) for e in entries]
    assert actions == [
        ("upload", "config:write"),
        ("search", "config:read"),
        ("file", "config:read"),  # by the signed URL issued to config:read
        ("image", "config:read"),
        ("denied", "unknown"),  # the tampered URL
        ("denied", "unknown"),  # the unknown key
        ("denied", "config:read"),  # a reader deleting
        ("delete", "config:write"),
        ("upload", "config:write"),
        ("search", "config:read"),
        ("file", "config:read"),
        ("file", "config:read"),  # the bare URL, with the read key
    ], actions
    upload_entry, search_entry, file_entry, image_entry, *_ = entries
    assert (
        upload_entry["details"]["names"] == ["chart.png"]
        and upload_entry["details"]["collection"] == "default"
    )
    assert search_entry["details"]["query"] == "a chart" and search_entry["details"]["doc_ids"] == [doc_id]
    assert search_entry["details"]["hits"] == 1 and search_entry["details"]["modalities"] == ["text"]
    assert search_entry["principal"] == {"name": "config:read", "role": "reader", "via": "config"}
    assert file_entry["principal"]["via"] == "url" and file_entry["details"]["doc_id"] == doc_id
    assert (
        file_entry["details"]["name"] == "chart.png" and image_entry["details"]["point_id"] == hit["point_id"]
    )
    assert entries[6]["details"]["status"] == 403 and entries[7]["details"]["doc_id"] == doc_id
    assert entries[4]["details"]["path"].endswith("/file") and "sig" not in json.dumps(entries[4])
    for secret in [*secrets, *sigs]:
        assert secret not in json.dumps(entries)


def read_trail(data_dir: Path) -> list[dict[str, Any]]:
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    result = run_cli(["--data-dir", str(data_dir), "audit", "--since", "1h", "--json"], env, data_dir.parent)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]
