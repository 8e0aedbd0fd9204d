"""The one HTTP client behind every served backend (vLLM and SGLang, embedding and reranking).

JSON over ``httpx``, synchronous, safe to share between threads:

- **timeouts**: every request is bounded by ``timeout_s`` (connect, read, write and pool);
- **retries**: connection errors, timeouts and answers 408 / 429 / 5xx are retried up to ``retries`` times
  with exponential backoff and "equal jitter" (half the delay fixed, half random), honouring a
  ``Retry-After`` header up to the backoff cap. Any other 4xx is the request's fault and is never retried;
- **concurrency**: at most ``concurrency`` requests are in flight at once (a semaphore, shared by all
  threads using the client); :meth:`JsonClient.post_all` fans a list of bodies out over that many threads
  and returns the answers in order;
- **auth**: ``api_key`` is sent as ``Authorization: Bearer <key>`` (vLLM ``--api-key``, SGLang
  ``--api-key``);
- **errors**: failures raise the caller's error class (:class:`~mmsearch.errors.EmbedderError` or
  :class:`~mmsearch.errors.RerankerError`) with a message naming the server, its URL, the request and the
  server's own explanation, and saying what to check.

:meth:`JsonClient.for_backend` builds one from a backend's settings (``embedding`` or ``reranker``). What
the served embedders and rerankers share beyond HTTP lives in ``index/http_embed.py`` and
``search/http_rerank.py``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, Self, TypeVar

import httpx
import numpy as np
from pydantic import Field, TypeAdapter, ValidationError

from mmsearch.errors import ConfigError, MmsearchError

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_STATUSES = frozenset({408, 429})  # plus every 5xx
MESSAGE_CHARS = 500  # how much of a server's error body goes into our message
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]  # for the numbers in a server's answer


def is_retryable(status: int) -> bool:
    return status >= 500 or status in RETRY_STATUSES


def check_url(url: str | None, setting: str) -> str:
    """The base URL without a trailing slash; a missing or non-HTTP URL is a :class:`ConfigError`."""
    if not url or not url.strip():
        raise ConfigError(f"{setting} is not set: give the server's base URL, e.g. http://127.0.0.1:8000")
    base = url.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ConfigError(f"{setting} = {url!r} is not an http(s) URL, e.g. http://127.0.0.1:8000")
    return base


def stack_rows(rows: Sequence[Sequence[float]], expected: int | None, where: str) -> np.ndarray:
    """Vectors from a server as a float32 matrix; ``ValueError`` if their lengths differ from each other or
    from ``expected`` (the size seen before). ``where`` names the server in the message."""
    sizes = {len(row) for row in rows} | ({expected} if expected is not None else set())
    if len(sizes) != 1:
        raise ValueError(f"{where} returned vectors of different sizes {sorted(sizes)}")
    return np.asarray(rows, dtype=np.float32)


def server_message(response: httpx.Response) -> str:
    """The explanation in an error answer: vLLM ``{"error": {"message"}}`` or ``{"message"}``, SGLang
    ``{"message"}``, FastAPI ``{"detail"}``; else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        inner = body.get("error")
        for candidate in (
            inner.get("message") if isinstance(inner, dict) else inner,
            body.get("message"),
            body.get("detail"),
        ):
            if candidate:
                return str(candidate)[:MESSAGE_CHARS]
    text = response.text.strip()
    return text[:MESSAGE_CHARS] if text else "(empty body)"


class ModelServerSettings(Protocol):
    """The client settings every served model backend has (``EmbeddingSettings``, ``RerankerSettings``)."""

    @property
    def url(self) -> str | None: ...
    @property
    def api_key(self) -> str | None: ...
    @property
    def timeout_s(self) -> float: ...
    @property
    def retries(self) -> int: ...
    @property
    def concurrency(self) -> int: ...


class JsonClient:
    """POSTs JSON to one server. ``server`` names it in errors ("vLLM embedding server"), ``setting`` is the
    config key of its URL ("embedding.url"), ``error`` the exception class raised on failure."""

    def __init__(
        self,
        url: str | None,
        *,
        server: str,
        setting: str,
        error: type[MmsearchError],
        api_key: str | None = None,
        timeout_s: float = 120.0,
        retries: int = 3,
        concurrency: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = check_url(url, setting)
        self.server, self.setting, self.error = server, setting, error
        self.timeout_s, self.retries, self.concurrency = timeout_s, retries, concurrency
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self._slots = threading.BoundedSemaphore(concurrency)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            transport=transport,
        )

    @classmethod
    def for_backend(
        cls,
        settings: ModelServerSettings,
        *,
        server: str,
        setting: str,
        error: type[MmsearchError],
        transport: httpx.BaseTransport | None = None,
    ) -> Self:
        """A client for the server in a backend's ``settings`` (URL, key, timeout, retries, concurrency)."""
        return cls(
            settings.url,
            server=server,
            setting=setting,
            error=error,
            api_key=settings.api_key,
            timeout_s=settings.timeout_s,
            retries=settings.retries,
            concurrency=settings.concurrency,
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        """The decoded JSON answer to ``POST path``; retried as described in the module docstring."""
        failure: _Failure | None = None
        for attempt in range(self.retries + 1):
            if failure is not None:
                log.warning(
                    "%s %s (attempt %d of %d); retrying",
                    self._where(path),
                    failure.message,
                    attempt,
                    self.retries + 1,
                )
                time.sleep(self._delay(attempt, failure.retry_after))
            result = self._attempt(path, body)
            if not isinstance(result, _Failure):
                return result
            failure = result
        assert failure is not None
        raise self.error(
            f"{self._where(path)} {failure.message}, after {self.retries + 1} attempt(s). "
            + failure.hint.format(setting=self.setting)
        ) from failure.cause

    def post_all(self, path: str, bodies: Sequence[Mapping[str, Any]]) -> list[Any]:
        """``post`` for each body, up to ``concurrency`` at once; answers in the order of ``bodies``.

        The first failure cancels the requests not yet started and is raised."""
        if len(bodies) <= 1 or self.concurrency == 1:
            return [self.post(path, body) for body in bodies]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(bodies))) as pool:
            futures: list[Future[Any]] = [pool.submit(self.post, path, body) for body in bodies]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f in done and f.exception() is not None]
            if failed:
                for future in futures:
                    future.cancel()
                failed[0].result()  # raises it
            return [future.result() for future in futures]

    def check(self, path: str, answer: Any, shape: TypeAdapter[T]) -> T:
        """``answer`` validated against ``shape`` (pydantic); a mismatch is an error naming the server."""
        try:
            return shape.validate_python(answer)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:3]
            )
            raise self.error(
                f"{self._where(path)} answered with an unexpected shape ({problems}); is {self.setting} "
                "pointing at the right kind of server, and is it a supported version (docs/serving.md)?"
            ) from exc

    def _attempt(self, path: str, body: Mapping[str, Any]) -> Any:
        """One request: the decoded answer, a retryable :class:`_Failure`, or a raised error."""
        try:
            with self._slots:
                response = self._http.post(path, json=body)
        except httpx.TimeoutException as exc:
            return _Failure(
                f"gave no answer within {self.timeout_s:g} s ({type(exc).__name__})", TIMEOUT_HINT, exc
            )
        except httpx.TransportError as exc:
            return _Failure(f"cannot be reached ({type(exc).__name__}: {exc})", DOWN_HINT, exc)
        if response.status_code < 400:
            return self._decode(path, response)
        if not is_retryable(response.status_code):
            raise self.error(
                f"{self._where(path)} rejected the request (HTTP {response.status_code}): "
                f"{server_message(response)}"
            )
        message = f"answered HTTP {response.status_code}: {server_message(response)}"
        return _Failure(message, FAILING_HINT, retry_after=_seconds(response.headers.get("retry-after")))

    def _decode(self, path: str, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            start = response.text[:200]
            raise self.error(
                f"{self._where(path)} answered HTTP {response.status_code} with a body that is not JSON "
                f"({start!r}); is {self.setting} pointing at the right server?"
            ) from exc

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(self.max_backoff_s, retry_after)
        ceiling = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    @property
    def where(self) -> str:
        """The server and its URL, for messages."""
        return f"{self.server} at {self.base_url}"

    def _where(self, path: str) -> str:
        return f"{self.where} (POST {path})"


DOWN_HINT = "Is the server running, and is {setting} right? docs/serving.md has the launch commands."
TIMEOUT_HINT = "The server is overloaded or the request too large; raise the timeout_s next to {setting}."
FAILING_HINT = "The server is failing; its log says why."


@dataclass(frozen=True)
class _Failure:
    """Why one attempt failed, in words, and whether the server asked us to wait."""

    message: str
    hint: str
    cause: Exception | None = None
    retry_after: float | None = None


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP-date Retry-After: fall back to our own backoff
