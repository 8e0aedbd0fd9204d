"""What a document is called and labelled: its name, its collection, its access groups and metadata, checked.

A document is addressed by (collection, name) (``units.doc_id_for``), so a name must mean one thing:

- **Names** are folded with NFKC: NFC (so NFC and NFD ``café.png`` are one name) plus the compatibility
  mappings, so a look-alike such as ``ﬁle.png`` (the ``ﬁ`` ligature) *is* ``file.png`` and replaces it
  rather than sitting beside it as a second document. Folding was chosen over refusing because
  compatibility characters are presentation variants that real file names carry (full-width digits and
  brackets in Japanese names, ``½``): refusing them would turn whole folders away, while folding only
  changes how the name is spelled, never which document it means. Two files of one ingest run that fold
  to one name are caught there (the second is a failure, not a silent replacement).
- Invisible format characters (Unicode category Cf: zero-width spaces and joiners, bidi controls, the
  soft hyphen, the BOM) are removed; control characters (Cc, line/paragraph separators, surrogates) and
  backslashes are refused. Each ``/``-separated part is stripped of surrounding white space; an empty
  part, ``.`` or ``..`` is refused.
- What is left is at most ``MAX_NAME_BYTES`` bytes of UTF-8 and its last part has a stem (something
  besides dots) and an extension of letters and digits: ``....png``, `` .png`` and ``\\u200b.png`` are
  refused, never all turned into ``png``.

Collections are short lower-case names (``COLLECTION_PATTERN``); groups are a bounded list of short
labels; metadata is a flat JSON object of strings, numbers, booleans and lists of strings, bounded in
keys, key characters, sizes and total bytes. Every refusal is an ``InvalidName`` (a per-file
``IngestError``, 400 through the API) or an ``InvalidLabel`` (422).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mmsearch.errors import InvalidLabel, InvalidName

DEFAULT_COLLECTION = "default"  # the collection of a document given none (and of every pre-collection point)
COLLECTION_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_NAME_BYTES = 255
MAX_EXTENSION = 16
MAX_GROUPS = 32
MAX_GROUP_CHARS = 128
MAX_METADATA_KEYS = 32
# A metadata key: what a Qdrant JSON path reads as one plain segment, so ``metadata.KEY`` filters can name
# it (``index.conditions`` uses this pattern).
METADATA_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_METADATA_STRING = 1024  # characters of one string value
MAX_METADATA_LIST = 64  # strings in one list value
MAX_METADATA_BYTES = 8192  # of the whole object as compact JSON
MAX_METADATA_INT = 2**53  # integers beyond this lose precision in JSON clients

MetadataValue = str | int | float | bool | list[str]


def normalise_name(raw: str) -> str:
    """``raw`` as a document name (see the module docstring), or ``InvalidName`` saying what is wrong."""
    shown = repr(raw[:80])
    if not isinstance(raw, str) or not raw:
        raise InvalidName("the document name is empty: give the file a name with an extension")
    for ch in raw:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Zl", "Zp"):
            raise InvalidName(
                f"{shown}: the name holds a control character (U+{ord(ch):04X}); rename the file"
            )
        if ch == "\\":
            raise InvalidName(f"{shown}: the name holds a backslash; use / between folders")
    folded = unicodedata.normalize("NFKC", raw)
    visible = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    parts = [part.strip() for part in visible.split("/")]
    for part in parts:
        if part in ("", ".", ".."):
            raise InvalidName(
                f"{shown}: the name has an empty, '.' or '..' folder part; give a plain relative name"
            )
    name = "/".join(parts)
    _check_stem_and_extension(shown, parts[-1])
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        raise InvalidName(f"{shown}…: the name is {size} bytes of UTF-8, over {MAX_NAME_BYTES}; shorten it")
    return name


def _check_stem_and_extension(shown: str, last: str) -> None:
    stem, dot, extension = last.rpartition(".")
    if not dot or not stem.strip(". \t"):
        raise InvalidName(f"{shown}: the name needs a stem and an extension (like report.pdf)")
    if not extension or len(extension) > MAX_EXTENSION or not extension.isalnum():
        raise InvalidName(
            f"{shown}: the extension {extension[:20]!r} is not 1-{MAX_EXTENSION} letters or digits (like .pdf)"
        )


def check_collection(raw: str | None) -> str:
    """A collection name (``DEFAULT_COLLECTION`` for None or blank), or ``InvalidLabel``."""
    if raw is None or not raw.strip():
        return DEFAULT_COLLECTION
    value = raw.strip()
    if not COLLECTION_PATTERN.fullmatch(value):
        raise InvalidLabel(
            f"collection {value[:80]!r}: use 1-64 lower-case letters, digits, '_' or '-', starting with a "
            "letter or digit (like finance)"
        )
    return value


def check_groups(raw: Iterable[str]) -> tuple[str, ...]:
    """Access groups, each possibly a comma list (``finance,execs``): stripped, NFC, de-duplicated in order.
    At most ``MAX_GROUPS`` of at most ``MAX_GROUP_CHARS`` characters, none holding a control character."""
    out: dict[str, None] = {}
    for item in raw:
        for piece in str(item).split(","):
            group = unicodedata.normalize("NFC", piece).strip()
            if not group:
                continue
            if len(group) > MAX_GROUP_CHARS:
                raise InvalidLabel(f"group {group[:40]!r}…: longer than {MAX_GROUP_CHARS} characters")
            if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in group):
                raise InvalidLabel(f"group {group[:80]!r}: holds a control or invisible character")
            out[group] = None
    if len(out) > MAX_GROUPS:
        raise InvalidLabel(f"{len(out)} groups: at most {MAX_GROUPS} per document")
    return tuple(out)


def check_metadata(raw: object) -> dict[str, MetadataValue]:
    """A document's metadata: a flat JSON object (see the module docstring), or ``InvalidLabel``."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidLabel('metadata must be a JSON object, like {"department": "finance", "year": 2024}')
    if len(raw) > MAX_METADATA_KEYS:
        raise InvalidLabel(f"metadata has {len(raw)} keys: at most {MAX_METADATA_KEYS}")
    out: dict[str, MetadataValue] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not METADATA_KEY.fullmatch(key):
            raise InvalidLabel(
                f"metadata key {str(key)[:80]!r}: use 1-64 letters, digits, '_' or '-' (it is filtered as metadata.KEY)"
            )
        out[key] = _metadata_value(key, value)
    size = len(json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise InvalidLabel(f"metadata is {size} bytes as JSON: at most {MAX_METADATA_BYTES}")
    return out


def _metadata_value(key: str, value: object) -> MetadataValue:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_METADATA_INT:
            raise InvalidLabel(f"metadata.{key}: {value} is beyond ±2^53; store it as a string")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidLabel(f"metadata.{key}: numbers must be finite")
        return value
    if isinstance(value, str):
        return _metadata_string(key, value)
    if isinstance(value, list | tuple):
        if len(value) > MAX_METADATA_LIST:
            raise InvalidLabel(f"metadata.{key}: a list of {len(value)} values, at most {MAX_METADATA_LIST}")
        if not all(isinstance(v, str) for v in value):
            raise InvalidLabel(f"metadata.{key}: a list may hold strings only")
        return [_metadata_string(key, v) for v in value]
    raise InvalidLabel(
        f"metadata.{key}: {type(value).__name__} is not allowed (strings, numbers, booleans, lists of strings)"
    )


def _metadata_string(key: str, value: str) -> str:
    if len(value) > MAX_METADATA_STRING:
        raise InvalidLabel(
            f"metadata.{key}: a string of {len(value)} characters, at most {MAX_METADATA_STRING}"
        )
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t\n" for ch in value):
        raise InvalidLabel(f"metadata.{key}: holds a control character")
    return unicodedata.normalize("NFC", value)


def parse_meta_options(options: Iterable[str]) -> dict[str, MetadataValue]:
    """``--meta KEY=VALUE`` options → metadata: a value that reads as a JSON number or boolean is one
    (``year=2024``), anything else a string; a key given twice collects its values in a list of strings."""
    collected: dict[str, Any] = {}
    for option in options:
        key, eq, text = option.partition("=")
        if not eq:
            raise InvalidLabel(f"--meta {option[:80]!r}: write KEY=VALUE (like department=finance)")
        key = key.strip()
        value = _typed(text)
        if key in collected:
            previous = collected[key]
            collected[key] = [*(previous if isinstance(previous, list) else [str(previous)]), str(text)]
        else:
            collected[key] = value
    return check_metadata(collected)


def _typed(text: str) -> str | int | float | bool:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, bool | int | float) else text


@dataclass(frozen=True)
class Labels:
    """What an ingest gives every document it writes: the collection, access groups and metadata (checked)."""

    collection: str = DEFAULT_COLLECTION
    groups: tuple[str, ...] = ()
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)

    @classmethod
    def checked(cls, collection: str | None, groups: Iterable[str] = (), metadata: object = None) -> Labels:
        return cls(check_collection(collection), check_groups(groups), check_metadata(metadata))

    def stamp(self) -> str:
        """A short hash of the groups and metadata ("" when there are none), part of a file's fingerprint:
        the same bytes given other groups or metadata are written again, so no point keeps stale access."""
        if not self.groups and not self.metadata:
            return ""
        blob = json.dumps([list(self.groups), dict(self.metadata)], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]
