"""Slow clients at the connection: a deadline for a request's head, a longest pause inside its body, a cap on connections.

uvicorn (h11) has a keep-alive timeout but none for reading a request: a client that sends a partial header
and a line every few seconds holds its connection forever, and a thousand such clients hold a thousand.
``protocol`` returns uvicorn's h11 protocol with two timers added:

- **head**: from the connection's start (and from the end of each response, for the next request on a
  kept-alive connection) the request line and headers must be complete within ``server.header_timeout_s``,
  however slowly they trickle in; else the connection is closed without an answer.
- **body**: while a body is being read, at most ``server.body_timeout_s`` may pass without a byte of it;
  else the connection is closed (the route sees a client that went away: an upload is discarded).

``uvicorn_options`` gives the rest to uvicorn: ``server.max_connections`` (``limit_concurrency``: a request
arriving while that many connections are open is answered 503), ``server.max_header_kb``
(``h11_max_incomplete_event_size``: a longer head is refused with 400) and the keep-alive timeout.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from mmsearch.api.settings import ApiSettings

KEEP_ALIVE_S = 5  # uvicorn's default: an idle kept-alive connection is closed after this


def protocol(header_timeout_s: float, body_timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the head deadline and the body pause limit (module docstring)."""

    class TimedH11Protocol(H11Protocol):
        _read_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm(header_timeout_s)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            state = self.conn.their_state
            if state is h11.SEND_BODY:
                self._arm(body_timeout_s)  # a pause between body bytes, measured from the last
            elif state is not h11.IDLE:  # the request is read: the app (or the keep-alive) takes over
                self._disarm()
            # IDLE: a head still incomplete keeps its deadline, however many bytes trickle in

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._arm(header_timeout_s)  # the next request's head, on a kept-alive connection

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._read_timer = self.loop.call_later(seconds, self._read_timed_out)

        def _disarm(self) -> None:
            if self._read_timer is not None:
                self._read_timer.cancel()
                self._read_timer = None

        def _read_timed_out(self) -> None:
            self._read_timer = None
            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
                if self.cycle is not None and not self.cycle.response_complete:
                    self.cycle.disconnected = True  # the app's receive() says the client is gone
                    self.cycle.message_event.set()
                self.transport.close()

    return TimedH11Protocol


def uvicorn_options(server: ApiSettings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run``/``uvicorn.Config`` that bound slow and many clients."""
    return {
        "http": protocol(server.header_timeout_s, server.body_timeout_s),
        "limit_concurrency": server.max_connections,
        "h11_max_incomplete_event_size": server.max_header_kb * 1024,
        "timeout_keep_alive": KEEP_ALIVE_S,
    }
