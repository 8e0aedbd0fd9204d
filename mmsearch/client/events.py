"""Server-Sent Events as the job event stream sends them (``GET /v1/jobs/{id}/events``): lines in, events
out (``event:``, ``data:`` and ``id:`` fields; a blank line ends an event; ``:`` lines are comments)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    name: str  # progress | done | timeout
    data: str
    id: str | None = None


@dataclass
class EventParser:
    _name: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None

    def feed(self, line: str) -> Event | None:
        """Take one line (without its line break); the event it completes, if any."""
        if not line:
            if not self._data:
                self._name = ""
                return None
            event = Event(self._name or "message", "\n".join(self._data), self._id)
            self._name, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            self._name = value
        elif key == "data":
            self._data.append(value)
        elif key == "id":
            self._id = value
        return None
