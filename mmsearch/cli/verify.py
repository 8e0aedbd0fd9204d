"""``mmsearch verify``: the configured served embedder/reranker against the in-process reference."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from mmsearch.cli.app import AppContext, pass_app


@click.command()
@click.option("--no-embedder", is_flag=True, help="Skip the embedder.")
@click.option("--no-reranker", is_flag=True, help="Skip the reranker.")
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
@pass_app
def verify(app: AppContext, no_embedder: bool, no_reranker: bool, as_json: bool) -> None:
    """Embed and score a built-in canary set (text, a page image, a small image, image+text, a video clip)
    through the configured servers and through the in-process models on the same weights; print per
    modality the largest component difference and cosine of the vectors and the score differences; exit 1
    when any is over the verify: tolerances. The result is kept in data_dir/verify.json; the API's
    /readyz reports it.

    \b
    Examples:
      MMSEARCH_EMBEDDING__BACKEND=sglang MMSEARCH_EMBEDDING__URL=http://gpu:30000 mmsearch verify
      mmsearch verify --no-reranker --json
    """
    from mmsearch.verify import compare, record

    settings = app.settings()
    check_embedder = not no_embedder and settings.embedding.backend != "transformers"
    check_reranker = not no_reranker and settings.reranker.backend not in ("transformers", "none")
    if not check_embedder and not check_reranker:
        raise click.UsageError(
            "nothing to verify: embedding.backend and reranker.backend are in process (set them to vllm or "
            "sglang with their url)"
        )
    report = compare.run(settings, embedder=check_embedder, reranker=check_reranker)
    _print(report, settings.embedding.backend, settings.reranker.backend, as_json)
    record.save(settings, report)  # reported by the API's /readyz
    compare.check(report, settings)


def _print(report: object, embedder: str, reranker: str, as_json: bool) -> None:
    from mmsearch.verify.compare import Report

    assert isinstance(report, Report)
    if as_json:
        out = {
            "embedding": [asdict(d) for d in report.embedding],
            "rerank": [asdict(d) | {"abs_diff": d.abs_diff} for d in report.rerank],
            "failures": report.failures,
        }
        click.echo(json.dumps(out))
        return
    if report.embedding:
        click.echo(f"embedder ({embedder}) vs in process:")
        click.echo(f"  {'modality':<12} {'max |Δ|':>10} {'cosine':>10}  ok")
        for d in report.embedding:
            click.echo(f"  {d.modality:<12} {d.max_abs:>10.2e} {d.cosine:>10.6f}  {'yes' if d.ok else 'NO'}")
    if report.rerank:
        click.echo(f"reranker ({reranker}) vs in process:")
        click.echo(f"  {'modality':<12} {'served':>8} {'in proc':>8} {'|Δ|':>10}  ok")
        for s in report.rerank:
            click.echo(
                f"  {s.modality:<12} {s.served:>8.4f} {s.reference:>8.4f} {s.abs_diff:>10.2e}  {'yes' if s.ok else 'NO'}"
            )
