"""``mmsearch query --filter``: the grammar (``cli/filter_flags.py``) parsed into ``Filters``, its usage
errors, and the flags end to end through the entry point (``tests.support.run_cli``)."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest

from mmsearch.cli.filter_flags import parse_filters
from mmsearch.index.conditions import Bounds
from mmsearch.index.store import Filters
from mmsearch.samples import make_image, make_pdf
from tests.support import run_cli, tiny_env


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["modality=page,image"], Filters(modality=("page", "image"))),
        (["modality=page", "modality=video"], Filters(modality=("page", "video"))),  # the same key adds
        (["collection=finance", "!collection=legal"], Filters(collection="finance", not_=Filters(collection="legal"))),
        (["name!=a.pdf,b\\,c.pdf"], Filters(not_=Filters(name=("a.pdf", "b,c.pdf")))),
        (["group=execs", "doc=abc"], Filters(groups="execs", doc_id="abc")),
        (["metadata.dept=fin,ops"], Filters(metadata={"dept": ["fin", "ops"]})),
        (["metadata.year=2024"], Filters(metadata={"year": ["2024", 2024]})),  # the text and the number
        (["metadata.ratio=0.5"], Filters(metadata={"ratio": ["0.5", 0.5]})),
        (["metadata.year>=2023", "metadata.year<2025"], Filters(metadata_ranges={"year": Bounds(gte=2023, lt=2025)})),
        (
            ["metadata.published>2024-01-01"],
            Filters(metadata_ranges={"published": Bounds(gt=datetime(2024, 1, 1, tzinfo=UTC))}),
        ),
        (["!metadata.year<=2020"], Filters(not_=Filters(metadata_ranges={"year": Bounds(lte=2020)}))),
        (
            ["after=2024-01-01", "before=2024-02-01T12:00"],
            Filters(ingested_after=datetime(2024, 1, 1, tzinfo=UTC).timestamp(),
                    ingested_before=datetime(2024, 2, 1, 12, tzinfo=UTC).timestamp()),
        ),
        (["path=/data/docs,/data/pics"], Filters(path_prefix=("/data/docs", "/data/pics"))),
        (["folder=reports/2024/,!x"], Filters(folder=("reports/2024", "!x"))),
    ],
)  # fmt: skip
def test_flags_parse_into_filters(flags: list[str], expected: Filters) -> None:
    assert parse_filters(flags) == expected


def test_no_flags_no_filters() -> None:
    assert parse_filters(()) is None


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["colour=red"], "unknown key 'colour'"),
        (["modality"], "expected KEY=VALUE"),
        (["modality="], "no value"),
        (["modality=page,,image"], "an empty value"),
        (["modality=audio"], "modality 'audio' is not one of"),
        (["!name!=x"], "negated twice"),
        (["collection>=a"], "collection takes = or !="),
        (["metadata.bad key=1"], "metadata key 'bad key'"),
        (["metadata.year>=soon"], "not a number or an ISO date"),
        (["metadata.year>=2025", "metadata.year<2020"], "range is empty"),
        (["metadata.year>=1", "metadata.year>=2"], "given twice"),
        (["after=yesterday"], "not an ISO date"),
        (["folder=a/../b"], "not a folder of document names"),
        (["after=2024-01-01", "after=2024-02-01"], "after given twice"),
        ([f"name={','.join(f'n{i}' for i in range(101))}"], "at most 100"),
        ([f"metadata.k{i}=1" for i in range(33)], "conditions; at most 32"),
    ],
)
def test_bad_flags_are_usage_errors(flags: list[str], needle: str) -> None:
    with pytest.raises(click.BadParameter, match=needle):
        parse_filters(flags)


@pytest.mark.slow
def test_query_filters_end_to_end(tmp_path: Path, tiny_models: Path) -> None:
    corpus = tmp_path / "corpus"
    make_pdf(corpus / "finance.pdf", 2, topic="finance")
    make_pdf(corpus / "birds.pdf", 1, topic="birds", with_tables=False)
    make_image(corpus / "photo.jpg", "jpeg", (160, 120), text="photo")
    env = tiny_env(tmp_path / "data", tiny_models)
    (tmp_path / "cwd").mkdir()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(list(args), env, tmp_path / "cwd")

    assert cli("ingest", str(corpus)).returncode == 0

    def files(*flags: str) -> set[str]:
        done = cli("query", "x", "--json", "--no-rerank", "--top-k", "20", *[f"--filter={f}" for f in flags])
        assert done.returncode == 0, done.stderr
        return {Path(h["source_path"]).name for h in json.loads(done.stdout)["hits"]}

    assert files() == {"finance.pdf", "birds.pdf", "photo.jpg"}
    assert files("modality=page,video") == {"finance.pdf", "birds.pdf"}
    assert files("!modality=page") == {"photo.jpg"}
    assert files(f"path={corpus / 'birds.pdf'},{corpus / 'photo.jpg'}") == {"birds.pdf", "photo.jpg"}
    assert files("collection=default", "!modality=image") == {"finance.pdf", "birds.pdf"}
    assert files("collection=legal") == set()
    assert files("metadata.year>=2000") == set()  # nothing carries metadata yet
    bad = cli("query", "x", "--filter", "metadata.year>=soon")
    assert bad.returncode == 2 and "--filter" in bad.stderr and "Traceback" not in bad.stderr
