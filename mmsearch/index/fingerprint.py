"""How a collection's vectors were made: a fingerprint of the preprocessing, recorded with the collection.

Vectors of one model still differ when the model reads different tokens: transformers 5.10–5.24 wrapped
every video prompt in an extra pair of vision markers (issue 17), and a resize with another filter moves
every image vector. Such a change does not show in the model id or the dimension, so a collection records,
beside them, one hash per modality:

- ``image``, ``page``, ``video``, ``text``: the token ids the embedder feeds the model for a fixed canary
  input (a small synthetic image, a page-shaped image, a 2-frame clip, a short text), rendered through the
  embedder's own path with the document instruction; for the media kinds, hashed together with
  :data:`PIXEL_PIPELINE`.
- :data:`PIXEL_PIPELINE` is this code's version of the pixel path (qwen-vl-utils sizing, bicubic resize,
  frame picking): bump it whenever what the model sees of an image or a frame changes for the same file
  (token ids only see the grid, not the filter).

Who renders what:

- ``transformers`` (in process): the processor's ``input_ids`` of the canary, through
  ``TransformersEmbedder.plan``/``load``/``batch_inputs`` — the same calls an ingest makes; the check
  loads only the processor (tokenizer, chat template), never the weights.
- ``sglang``: the client renders the prompt (``SGLangEmbedder.entry``), so its token ids are hashed; how
  the server then expands the media placeholders (its own transformers) is not visible here —
  ``mmsearch verify`` compares served vectors with in-process ones.
- ``vllm``: the server renders the chat template itself; nothing can be rendered here, so every modality
  is recorded as unknown (``None``) and never compared.

A collection holds a modality when it has points of it (``page``, ``image``, ``video``); ``text`` when it
has any point (every query is text, and every document prompt has the same text frame). A difference in a
modality the collection holds is a warning for ``stats``/``serve`` and a refusal for ``ingest``; one in a
modality it does not hold is silent, and the next ingest records the current rendering for it.
Beside the hashes the record keeps :func:`environment_key` (versions, sources, the checkpoint's small
files): ``stats`` and ``serve`` render the canaries only when it has changed.
A collection made before fingerprints existed has none: nothing is compared, and the next ingest
records the current one (its vectors are taken to be this environment's, as before this check existed).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from importlib.metadata import distributions
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from mmsearch.errors import PreprocessingMismatch
from mmsearch.index.embedder import Embedder
from mmsearch.index.inputs import Content, VideoClip
from mmsearch.index.settings import EmbeddingSettings

log = logging.getLogger(__name__)

PIXEL_PIPELINE = 1  # bump when what the model sees of an image or a video frame changes for the same file
FORMAT = 1
MODALITIES = ("page", "image", "video", "text")
MEDIA = frozenset({"page", "image", "video"})
SMALL_FILES = frozenset({".json", ".jinja", ".txt", ".model"})  # a checkpoint's files the rendering reads
RENDERING_SETTINGS = {"backend", "model", "document_instruction"}  # embedding.* that shape the input
CANARY_TEXT = "mmsearch canary: quarterly revenue by region, 2023."

TokenIds = Callable[[Content, str], list[int] | None]


@dataclass(frozen=True)
class Fingerprint:
    """One hash per modality (``None``: could not be rendered here) and who rendered them (shown, not
    compared)."""

    hashes: Mapping[str, str | None]
    rendered_by: str
    environment: str | None = None  # environment_key(): the same key renders the same tokens

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "pixels": PIXEL_PIPELINE, "hashes": dict(self.hashes),
                "rendered_by": self.rendered_by, "environment": self.environment}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any) -> Fingerprint | None:
        """The recorded fingerprint, or None when there is none (or it is not one this version reads)."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            return None
        hashes = data.get("hashes")
        if not isinstance(hashes, Mapping):
            return None
        environment = data.get("environment")
        return cls({str(k): v if isinstance(v, str) else None for k, v in hashes.items()},
                   str(data.get("rendered_by", "unknown")),
                   environment if isinstance(environment, str) else None)  # fmt: skip

    def differs(self, current: Fingerprint, held: Collection[str]) -> list[str]:
        """The modalities in ``held`` whose hashes are known on both sides and differ."""
        return [
            m
            for m in MODALITIES
            if m in held
            and self.hashes.get(m) is not None
            and current.hashes.get(m) is not None
            and self.hashes[m] != current.hashes[m]
        ]


class RecordsFingerprint(Protocol):
    """What a store offers to keep a fingerprint beside its collection's model and dimension."""

    def preprocessing(self) -> dict[str, Any] | None: ...

    def record_preprocessing(self, fingerprint: dict[str, Any]) -> None: ...


# -- the canaries -------------------------------------------------------------------------------------


def _gradient(width: int, height: int, seed: int) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([(x * 255) // max(width - 1, 1), (y * 255) // max(height - 1, 1),
                       np.full_like(x, (seed * 97) % 256)], axis=-1)  # fmt: skip
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def canaries() -> dict[str, Content]:
    """The fixed inputs, one per modality, as ``inputs.unit_content`` builds a unit's content."""
    return {
        "page": Content(images=(_gradient(85, 110, 1),)),
        "image": Content(images=(_gradient(64, 48, 2),)),
        "video": Content(video=VideoClip(frames=(_gradient(64, 64, 3), _gradient(64, 64, 4)), fps=1.0)),
        "text": Content(text=CANARY_TEXT),
    }


def digest(modality: str, ids: list[int]) -> str:
    pixels = PIXEL_PIPELINE if modality in MEDIA else None
    blob = json.dumps({"pixels": pixels, "ids": ids}, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def fingerprint(token_ids: TokenIds, settings: EmbeddingSettings, rendered_by: str) -> Fingerprint:
    hashes: dict[str, str | None] = {}
    for modality, content in canaries().items():
        ids = token_ids(content, settings.document_instruction)
        hashes[modality] = None if ids is None else digest(modality, ids)
    return Fingerprint(hashes, rendered_by, environment_key(settings))


def environment_key(settings: EmbeddingSettings) -> str | None:
    """A hash of everything the rendering depends on: the ``embedding.*`` settings that shape the
    input (:data:`RENDERING_SETTINGS`; never the server's key), every installed distribution's
    version, mmsearch's own sources and the checkpoint's small files (tokenizer, processor and template
    configs). The same key renders the same tokens, so ``stats``/``serve`` skip the rendering (and the
    seconds of importing transformers) when it matches the recorded one; any change renders again.
    None for a checkpoint that is not a local folder (a hub id's files are not read here)."""
    import mmsearch

    folder = Path(settings.model).expanduser()
    if not folder.is_dir():
        return None
    key = hashlib.sha256(settings.model_dump_json(include=RENDERING_SETTINGS).encode())
    key.update(f"{FORMAT} {PIXEL_PIPELINE} {sys.version}".encode())
    key.update("\n".join(sorted(f"{d.metadata['Name']}=={d.version}" for d in distributions())).encode())
    package = Path(mmsearch.__file__).parent
    files = [(package, p) for p in sorted(package.rglob("*.py"))]
    files += [(folder, p) for p in sorted(folder.iterdir()) if p.suffix in SMALL_FILES and p.is_file()]
    for root, path in files:
        key.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return key.hexdigest()[:16]


# -- the backends' renderings -------------------------------------------------------------------------


def current(settings: EmbeddingSettings, embedder: Embedder | None = None) -> Fingerprint:
    """This environment's fingerprint for ``embedding.*``. ``embedder``, when it is the configured backend
    already built, renders the canaries; otherwise only the processor (tokenizer, templates) is loaded."""
    if settings.backend not in ("transformers", "sglang"):
        return fingerprint(lambda content, instruction: None, settings, f"{settings.backend} server")
    import transformers

    version = f"transformers {transformers.__version__}"
    if settings.backend == "transformers":
        return fingerprint(_in_process(settings, embedder), settings, f"{version}, in process")
    return fingerprint(_sglang(settings, embedder), settings, f"SGLang client prompt ({version})")


def _in_process(settings: EmbeddingSettings, embedder: Embedder | None) -> TokenIds:
    from mmsearch.index.transformers_embedder import TransformersEmbedder

    renderer = embedder if isinstance(embedder, TransformersEmbedder) else _processor_only(settings)

    def token_ids(content: Content, instruction: str) -> list[int]:
        inputs = renderer.batch_inputs([renderer.prepare(0, content, instruction)])
        ids, mask = inputs["input_ids"][0], inputs["attention_mask"][0]
        return [int(i) for i in ids[mask.bool()].tolist()]

    return token_ids


def _processor_only(settings: EmbeddingSettings) -> Any:
    """The in-process embedder's input path without the weights (the checkpoint's small files only)."""
    from mmsearch.index.http_embed import load_templater
    from mmsearch.index.transformers_embedder import TransformersEmbedder

    return TransformersEmbedder.input_path(settings, load_templater(settings.model))


def _sglang(settings: EmbeddingSettings, embedder: Embedder | None) -> TokenIds:
    from mmsearch.index.sglang_embedder import SGLangEmbedder

    client = embedder if isinstance(embedder, SGLangEmbedder) else SGLangEmbedder(settings)

    def token_ids(content: Content, instruction: str) -> list[int]:
        prompt, _, _ = client.entry(0, content, instruction)
        return [int(i) for i in client.templater.tokenizer(prompt, add_special_tokens=False)["input_ids"]]

    return token_ids


# -- what a store holds, and the checks ----------------------------------------------------------------


def held(by_modality: Mapping[str, int]) -> set[str]:
    """The modalities a collection holds, from its points per modality (``StoreStats.by_modality``)."""
    kinds = {m for m, count in by_modality.items() if count > 0}
    return kinds | {"text"} if kinds else kinds


def recorded(store: object) -> Fingerprint | None:
    """The store's recorded fingerprint; None when it has none or cannot keep one (a store keeps one by
    offering :class:`RecordsFingerprint`). (Looked up by name,
    not ``isinstance``: the API hands out the store behind a locking proxy, whose methods Python 3.12's
    protocol check does not see.)"""
    read = getattr(store, "preprocessing", None)
    return Fingerprint.from_dict(read()) if callable(read) else None


def record(store: object, fingerprint: Fingerprint) -> None:
    """Record ``fingerprint`` for the store's collection (a no-op for a store without one, when the
    collection does not exist yet — the next call, after the ingest made it, records it — or when it is
    recorded already: an ingest or upload job into an unchanged environment writes nothing)."""
    write = getattr(store, "record_preprocessing", None)
    if callable(write) and recorded(store) != fingerprint:
        write(fingerprint.to_dict())


def stale_in(store: Any, now: Fingerprint) -> tuple[Fingerprint | None, list[str]]:
    """The store's recorded fingerprint and the modalities it holds that ``now`` renders differently
    (its points are counted only when some modality differs at all): what an ingest into it checks."""
    stored = recorded(store)
    if stored is None or not stored.differs(now, MODALITIES):
        return stored, []
    return stored, stale(stored, now, store.stats().by_modality)


def stale(stored: Fingerprint | None, now: Fingerprint, by_modality: Mapping[str, int]) -> list[str]:
    return [] if stored is None else stored.differs(now, held(by_modality))


def describe_stale(where: str, modalities: list[str], stored: Fingerprint, now: Fingerprint) -> str:
    kinds = ", ".join(modalities)
    return (
        f"{where} holds {kinds} vectors made by preprocessing that this environment renders differently "
        f"(recorded: {stored.rendered_by}; now: {now.rendered_by}; see mmsearch/index/fingerprint.py): "
        f"new {kinds} embeddings, queries included, would not match the stored ones"
    )


def refusal(
    where: str, modalities: list[str], stored: Fingerprint, now: Fingerprint
) -> PreprocessingMismatch:
    return PreprocessingMismatch(
        f"{describe_stale(where, modalities, stored, now)}. Nothing was ingested. Re-embed with this "
        "environment: `mmsearch ingest --reindex PATH…` drops the collection and rebuilds it (re-ingest every "
        "folder you had indexed); or go back to the versions in constraints.txt (`bash scripts/setup.sh`)."
    )


def warning(where: str, modalities: list[str], stored: Fingerprint, now: Fingerprint) -> str:
    return (
        f"{describe_stale(where, modalities, stored, now)}. Search results for them are unreliable until "
        "they are re-embedded: `mmsearch ingest --reindex PATH…` (every folder you had indexed), or go back "
        "to the versions in constraints.txt (`bash scripts/setup.sh`)."
    )


@dataclass(frozen=True)
class Status:
    """What ``stats`` and ``serve`` say about a collection's fingerprint against this environment."""

    recorded: bool
    rendered_by: str | None = None
    differs: tuple[str, ...] = ()
    warning: str | None = None
    note: str | None = None

    def summary(self) -> str:
        if self.warning:
            return f"differs for {', '.join(self.differs)} (recorded: {self.rendered_by})"
        if self.note:
            return self.note
        return f"matches this environment (recorded: {self.rendered_by})"


def check(
    store: object, settings: EmbeddingSettings, where: str, by_modality: Callable[[], Mapping[str, int]]
) -> Status:
    """The collection's recorded fingerprint against this environment's (``by_modality`` is only asked
    when some modality differs). Never raises for a check it cannot make: the status says why."""
    stored = recorded(store)
    if stored is None:
        return Status(False, note="none recorded yet: the next `mmsearch ingest` records this environment's")
    if stored.environment is not None and stored.environment == environment_key(settings):
        return Status(True, stored.rendered_by)  # the same environment renders the same tokens
    try:
        now = current(settings)
    except Exception as exc:  # noqa: BLE001 - a check that cannot run (no checkpoint files) never stops them
        return Status(True, stored.rendered_by, note=f"not compared: {type(exc).__name__}: {exc}")
    kinds = stale(stored, now, by_modality()) if stored.differs(now, MODALITIES) else []
    if not kinds:
        return Status(True, stored.rendered_by)
    return Status(True, stored.rendered_by, tuple(kinds), warning(where, kinds, stored, now))
