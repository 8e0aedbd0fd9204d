"""What the MCP tests share: the session's small index (built by ``conftest.mcp_index``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mmsearch.config import Settings


@dataclass(frozen=True)
class McpIndex:
    settings: Settings
    models: Path
    pdf: Path
    photo: Path
    markers: dict[int, str]  # page -> the word only that page of the PDF holds
