"""Write config.yaml from the settings models: every key, its default, and its description.

    .venv/bin/python scripts/write_config.py > config.yaml

tests/test_config.py checks the shipped file still lists every key with the code's default, so run this
after adding or changing a setting.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml
from pydantic import BaseModel

from mmsearch.config import Settings

HEADER = """\
# mmsearch configuration: every setting, with its default and what it does.
#
# Read from --config PATH, else $MMSEARCH_CONFIG, else ./config.yaml. Environment variables override this
# file: MMSEARCH_<SECTION>__<KEY>, e.g. MMSEARCH_EMBEDDING__DIM=256, MMSEARCH_STORE__URL=http://qdrant:6333
# (values are YAML: null, 256, [a, b]). Command-line flags override both. Unknown keys are errors.
"""

SECTIONS = {
    "ingest": "files -> units: PDF pages, images, video segments",
    "embedding": "Qwen3-VL-Embedding: in-process (transformers) or a served model (sglang, vllm; docs/serving.md)",
    "store": "Qdrant: embedded folder (default) or a server/cluster (url)",
    "index": "collection layout: MRL prefetch vector, quantization, sharding (server-only options say so)",
    "reranker": "Qwen3-VL-Reranker: transformers | vllm | sglang | none (keep the vector order)",
    "search": "the query path",
    "server": "REST API and web page (`mmsearch serve`; docs/deploy.md)",
    "verify": "`mmsearch verify`: served models vs the in-process reference (docs/serving.md)",
    "access": "who may see what: sign-in through the company's identity provider, the audit trail (docs/deploy.md)",
    "runtime": "the process: CPU threads of in-process models",
}


def scalar(value: Any) -> str:
    text: str = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def section(name: str, model: type[BaseModel]) -> list[str]:
    return [f"# {SECTIONS[name]}", f"{name}:", *keys(model, "  ")]


def keys(model: type[BaseModel], indent: str) -> list[str]:
    """Each key of ``model`` with its description and default; a nested settings model (``index.lexical``)
    key by key, one level deeper."""
    lines: list[str] = []
    defaults = model.model_construct().model_dump(mode="json")
    for key, field in model.model_fields.items():
        if field.description:
            lines.append(f"{indent}# {field.description}")
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            lines.append(f"{indent}{key}:")
            lines.extend(keys(nested, indent + "  "))
        else:
            lines.append(f"{indent}{key}: {scalar(defaults[key])}")
    return lines


def render() -> str:
    data_dir = Settings.model_fields["data_dir"]
    out = [
        HEADER,
        f"# {data_dir.description} Relative paths are relative to this file.",
        "# Without a config file the default is $XDG_DATA_HOME/mmsearch (~/.local/share/mmsearch).",
        "data_dir: ./data",
        "",
    ]
    for name in SECTIONS:
        annotation = Settings.model_fields[name].annotation
        assert isinstance(annotation, type) and issubclass(annotation, BaseModel)
        out.extend(section(name, annotation))
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render())
