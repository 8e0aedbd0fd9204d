"""``mmsearch embed``: one vector, printed — for checking parity with other implementations by hand."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from mmsearch.cli.app import AppContext, pass_app
from mmsearch.errors import ConfigError


@click.command()
@click.option("--text", help="Text to embed.")
@click.option(
    "--image",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Image to embed (with --text: both).",
)
@click.option(
    "--video", type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Video to embed: its first segment (ingest.video_segment_seconds), sampled as ingest samples.",
)  # fmt: skip
@click.option("--dim", type=click.IntRange(min=64), help="MRL dimension (default: embedding.dim / full).")
@click.option(
    "--as", "role", type=click.Choice(["query", "document"]), default="query", show_default=True,
    help="Which configured instruction to use.",
)  # fmt: skip
@click.option("--instruction", help="Use this instruction instead of the configured one.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: vector, dim, norm, model.")
@pass_app
def embed(
    app: AppContext,
    text: str | None,
    image: Path | None,
    video: Path | None,
    dim: int | None,
    role: str,
    instruction: str | None,
    as_json: bool,
) -> None:
    """Embed a text, an image and/or a video and print the vector.

    \b
    Examples:
      mmsearch embed --text "a red bicycle" --json
      mmsearch embed --image page.png --as document --dim 256 --json
      mmsearch embed --video talk.mp4 --as document --json     # its first segment
    """
    from mmsearch import components
    from mmsearch.index.inputs import Content, query_clip
    from mmsearch.ingest.image import load_query_image

    if not text and image is None and video is None:
        raise click.UsageError("give --text, --image, --video, or a mix")
    settings = app.settings({"embedding": {"dim": dim}})
    img = load_query_image(image, settings.ingest) if image is not None else None
    clip = query_clip(video, settings.ingest) if video is not None else None
    try:
        embedder = components.build_embedder(settings)
    except ConfigError as exc:
        if dim is None or "embedding.dim" not in str(exc):
            raise
        raise click.BadParameter(str(exc), param_hint="--dim") from exc
    chosen = instruction or (
        settings.embedding.query_instruction if role == "query" else settings.embedding.document_instruction
    )
    vector = embedder.embed([Content(text=text, images=(img,) if img else (), video=clip)], chosen)[0]
    norm = float(np.linalg.norm(vector))
    if as_json:
        out = {"model": embedder.model_id, "dim": int(vector.shape[0]), "norm": norm, "instruction": chosen,
               "vector": [float(x) for x in vector]}  # fmt: skip
        click.echo(json.dumps(out))
    else:
        click.echo(f"model {embedder.model_id}, dim {vector.shape[0]}, norm {norm:.6f}")
        click.echo(np.array2string(vector, precision=5, threshold=16))
