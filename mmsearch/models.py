"""Finding and placing the Qwen3-VL checkpoints: shared by the embedder and the reranker.

- :func:`resolve_model` turns ``embedding.model`` / ``reranker.model`` (a local directory or a Hugging Face
  id) into a local folder, or raises :class:`ModelNotFound` saying what was tried and how to fix it. There
  is no fallback model.
- :func:`choose_placement` turns the ``device`` / ``dtype`` / ``attn_implementation`` settings into a
  :class:`Placement`: CPU → float32 + sdpa; CUDA → bfloat16 (float16 where bf16 is unsupported) +
  flash_attention_2 when the ``flash_attn`` package imports, else sdpa.
- :func:`load_pretrained` loads a model class onto that placement, translating loader failures.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import torch

from mmsearch.errors import ConfigError, MmsearchError, ModelNotFound

log = logging.getLogger(__name__)

# What a Qwen3-VL checkpoint folder needs for our loaders (weights may be sharded).
CHECKPOINT_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model"]

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
ATTENTION = ("sdpa", "flash_attention_2", "eager")


@dataclass(frozen=True)
class Placement:
    device: torch.device
    dtype: torch.dtype
    attn_implementation: str

    def describe(self) -> str:
        return f"{self.device} {str(self.dtype).removeprefix('torch.')} attn={self.attn_implementation}"


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _looks_like_path(name: str) -> bool:
    """Anything that cannot be a Hugging Face id (``owner/name``) is taken as a folder path."""
    return not HUB_ID.match(name) or name.startswith((".", "~"))


def _hub_offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return bool(constants.HF_HUB_OFFLINE) or flag in ("1", "true", "yes", "on")


def hub_cli() -> str:
    """The download command of the installed huggingface_hub: ``hf`` (0.34 and later; 1.0 dropped
    ``huggingface-cli``), else ``huggingface-cli`` — read from the distribution's own console scripts."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        scripts = {
            e.name for e in distribution("huggingface_hub").entry_points if e.group == "console_scripts"
        }
    except PackageNotFoundError:
        scripts = set()
    return "hf" if "hf" in scripts or "huggingface-cli" not in scripts else "huggingface-cli"


def _fix_hint(key: str, name: str) -> str:
    env = "MMSEARCH_" + key.upper().replace(".", "__")
    folder = f"/models/{name.split('/')[-1]}"
    return (
        f"Download it once (`{hub_cli()} download {name} --local-dir {folder}`) and set `{key}: {folder}` "
        f"in config.yaml (or {env}={folder}). To try mmsearch without the Hub, `bash scripts/demo.sh --tiny` "
        "runs everything on tiny random-weight models built locally"
    )


def _check_folder(path: Path, key: str) -> Path:
    if not (path / "config.json").is_file():
        raise ModelNotFound(
            f"{key} points at {path}, which has no config.json: not a Qwen3-VL checkpoint folder. "
            f"Set {key} to the folder holding config.json, the *.safetensors weights and the tokenizer files."
        )
    return path


def resolve_model(name: str, key: str = "embedding.model") -> Path:
    """The local folder of checkpoint ``name``; ``key`` names the setting in error messages."""
    if not name or not name.strip():
        raise ModelNotFound(f"{key} is empty. Set it to a Hugging Face id or a local checkpoint folder.")
    path = Path(name).expanduser()
    if path.is_dir():
        return _check_folder(path.resolve(), key)
    if _looks_like_path(name) or path.exists():
        raise ModelNotFound(
            f"{key}: no checkpoint folder at {path}. Point {key} at an existing folder holding config.json "
            "and the model weights, or at a Hugging Face id such as Qwen/Qwen3-VL-Embedding-2B."
        )
    return _from_hub(name, key)


def _from_hub(name: str, key: str) -> Path:
    from huggingface_hub import constants, snapshot_download

    offline = _hub_offline()
    try:
        folder = snapshot_download(name, allow_patterns=CHECKPOINT_PATTERNS, local_files_only=offline)
    except Exception as exc:  # any hub/cache failure means: no model here
        where = f"the Hugging Face cache ({constants.HF_HUB_CACHE})"
        tried = where + (" only, since HF_HUB_OFFLINE is set" if offline else " and the Hugging Face hub")
        raise ModelNotFound(
            f"{key} = {name!r}: not a local folder, and not found in {tried} "
            f"({type(exc).__name__}: {exc}). {_fix_hint(key, name)}."
        ) from exc
    return _check_folder(Path(str(folder)), key)


def choose_device(setting: str, key: str = "embedding.device") -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(setting)
    except RuntimeError as exc:
        raise ConfigError(f"{key}: {setting!r} is not a device; use auto, cpu, cuda or cuda:N") from exc
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"{key}: {setting!r} is not supported; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{key} is {setting!r} but no CUDA device is visible; set {key}: cpu (or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"{key}: {setting!r} does not exist ({torch.cuda.device_count()} CUDA device(s) visible)"
            )
    return device


def choose_dtype(setting: str, device: torch.device, key: str = "embedding.dtype") -> torch.dtype:
    if setting == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if setting not in DTYPES:
        raise ConfigError(f"{key}: {setting!r} is not one of auto, {', '.join(DTYPES)}")
    return DTYPES[setting]


def flash_attention_available() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def choose_attention(
    setting: str, device: torch.device, dtype: torch.dtype, key: str = "embedding.attn_implementation"
) -> str:
    if setting == "auto":
        fast = device.type == "cuda" and dtype != torch.float32 and flash_attention_available()
        return "flash_attention_2" if fast else "sdpa"
    if setting not in ATTENTION:
        raise ConfigError(f"{key}: {setting!r} is not one of auto, {', '.join(ATTENTION)}")
    if setting == "flash_attention_2":
        if device.type != "cuda" or dtype == torch.float32:
            raise ConfigError(f"{key}: flash_attention_2 needs a CUDA device and bfloat16/float16; use sdpa")
        if not flash_attention_available():
            raise ConfigError(
                f"{key}: flash_attention_2 needs the flash-attn package; install it or use sdpa"
            )
    return setting


def choose_placement(device: str, dtype: str, attn: str, section: str = "embedding") -> Placement:
    """Device, dtype and attention kernel from one settings section (``embedding`` or ``reranker``)."""
    dev = choose_device(device, f"{section}.device")
    typ = choose_dtype(dtype, dev, f"{section}.dtype")
    return Placement(dev, typ, choose_attention(attn, dev, typ, f"{section}.attn_implementation"))


M = TypeVar("M")


def load_pretrained(
    cls: type[M], folder: Path, placement: Placement, error: type[MmsearchError], what: str
) -> M:
    """``cls.from_pretrained(folder)`` in eval mode on ``placement``; failures become ``error``."""
    from transformers.utils import logging as hf_logging

    started = time.perf_counter()
    hf_logging.disable_progress_bar()
    kwargs: dict[str, Any] = {"dtype": placement.dtype, "attn_implementation": placement.attn_implementation}
    try:
        model = cls.from_pretrained(folder, **kwargs)  # type: ignore[attr-defined]
        model = model.to(placement.device).eval()
    except (OSError, ValueError, RuntimeError, KeyError, ImportError) as exc:
        raise error(f"cannot load {what} from {folder}: {type(exc).__name__}: {exc}") from exc
    log.info(
        "loaded %s from %s on %s in %.1f s", what, folder, placement.describe(), time.perf_counter() - started
    )
    return model


def load_processor(folder: Path, padding_side: Literal["left", "right"], key: str = "embedding.model") -> Any:
    """The checkpoint's ``Qwen3VLProcessor`` (tokenizer, image/video processors, chat template), padding
    on ``padding_side`` (the embedder pools the last real token under right padding; the reranker
    batches with left padding)."""
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(folder, padding_side=padding_side)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelNotFound(f"{key}: no usable Qwen3-VL processor/tokenizer in {folder}: {exc}") from exc
    processor.tokenizer.padding_side = padding_side
    if getattr(processor, "chat_template", None) is None:
        raise ModelNotFound(
            f"{key}: {folder} has no chat template (chat_template.jinja/json); it is not a Qwen3-VL checkpoint"
        )
    return processor
