"""``mmsearch ingest --collection --groups --meta``, names relative to the folder given, symlinks never
followed out of it, and ``mmsearch delete NAME --collection`` — through the real command (``run_cli``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmsearch.ingest.units import doc_id_for
from mmsearch.samples import make_image, make_pdf
from tests.support import run_cli, tiny_env

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path, tiny_models: Path) -> dict[str, str]:
    (tmp_path / "cwd").mkdir()
    return tiny_env(tmp_path / "data", tiny_models)


def cli(args: list[str], env: dict[str, str], tmp_path: Path) -> tuple[int, str, str]:
    done = run_cli(args, env, tmp_path / "cwd")
    return done.returncode, done.stdout, done.stderr


def test_a_tree_with_links_out_of_it_indexes_nothing_outside(tmp_path: Path, env: dict[str, str]) -> None:
    """The issue's case: a link to a folder outside (/etc-like) and to a file outside; nothing outside is
    indexed, each link is said once, and the run still succeeds."""
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    make_pdf(tree / "q3" / "report.pdf", 1, topic="finance")
    make_image(tree / "chart.png", "png", (120, 90), text="chart")
    make_pdf(outside / "secret.pdf", 1, topic="law")
    make_image(outside / "etc" / "passwd.png", "png", (80, 60), text="secret")
    (tree / "etc").symlink_to(outside / "etc", target_is_directory=True)
    (tree / "leak.pdf").symlink_to(outside / "secret.pdf")
    (tree / "q3" / "z-link.pdf").symlink_to(tree / "q3" / "report.pdf")  # inside: followed, one file once

    code, out, err = cli(["ingest", str(tree), "--json"], env, tmp_path)
    assert code == 0, err
    files = json.loads(out)["files"]
    assert sorted((f["name"], f["status"]) for f in files if f["status"] == "indexed") == [
        ("chart.png", "indexed"), ("q3/report.pdf", "indexed"),
    ]  # fmt: skip
    skipped = [f for f in files if f["status"] == "skipped"]
    assert sorted(Path(f["path"]).name for f in skipped) == ["etc", "leak.pdf"]
    assert all(f["code"] == "symlink_outside" for f in skipped)
    assert err.count("Skipped: ") == 2 and err.count("leak.pdf") == 1 and "outside the folders given" in err

    code, out, _ = cli(["stats", "--documents", "--json"], env, tmp_path)
    listed = json.loads(out)["documents_list"]
    assert sorted(d["name"] for d in listed) == ["chart.png", "q3/report.pdf"]
    assert not [d for d in listed if d["path"].startswith(str(outside.resolve()))]


def test_collection_groups_and_metadata_and_delete_by_name(tmp_path: Path, env: dict[str, str]) -> None:
    for department in ("finance", "legal"):
        make_pdf(tmp_path / department / "contract.pdf", 1, topic=department)
    args = ["--groups", "finance,execs", "--meta", "department=finance", "--meta", "year=2024"]
    code, out, err = cli(["ingest", str(tmp_path / "finance"), "--collection", "finance", *args, "--json"],
                         env, tmp_path)  # fmt: skip
    assert code == 0, err
    (one,) = json.loads(out)["files"]
    assert (one["collection"], one["name"], one["doc_id"]) == (
        "finance",
        "contract.pdf",
        doc_id_for("finance", "contract.pdf"),
    )
    code, out, err = cli(
        ["ingest", str(tmp_path / "legal"), "--collection", "legal", "--json"], env, tmp_path
    )
    assert code == 0, err

    code, out, _ = cli(["stats", "--documents", "--json"], env, tmp_path)
    docs = {(d["collection"], d["name"]): d for d in json.loads(out)["documents_list"]}
    assert set(docs) == {("finance", "contract.pdf"), ("legal", "contract.pdf")}  # two documents
    assert docs[("finance", "contract.pdf")]["groups"] == ["finance", "execs"]
    assert docs[("finance", "contract.pdf")]["metadata"] == {"department": "finance", "year": 2024}
    assert docs[("legal", "contract.pdf")]["groups"] == []

    code, out, err = cli(["query", "contract", "--no-rerank"], env, tmp_path)
    assert code == 0 and "finance:contract.pdf" in out and "legal:contract.pdf" in out, out

    code, out, err = cli(["delete", "contract.pdf", "--collection", "legal", "--json"], env, tmp_path)
    assert code == 0, err
    assert json.loads(out)["results"] == [
        {
            "collection": "legal",
            "name": "contract.pdf",
            "doc_id": doc_id_for("legal", "contract.pdf"),
            "deleted": 1,
        }
    ]
    code, out, _ = cli(["stats", "--documents", "--json"], env, tmp_path)
    assert [(d["collection"], d["name"]) for d in json.loads(out)["documents_list"]] == [
        ("finance", "contract.pdf")
    ]
    code, _, err = cli(["delete", "contract.pdf"], env, tmp_path)  # not in default
    assert code == 1 and "not in the index: contract.pdf" in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--collection", "Finance"], "collection 'Finance'"),
        (["--meta", "department"], "KEY=VALUE"),
        (["--meta", "a.b=1"], "metadata key"),
        (["--groups", "fin\u200bance"], "invisible"),
    ],
)
def test_bad_labels_are_refused_before_anything_runs(
    tmp_path: Path, env: dict[str, str], args: list[str], needle: str
) -> None:
    make_pdf(tmp_path / "x.pdf", 1)
    code, _, err = cli(["ingest", str(tmp_path / "x.pdf"), *args], env, tmp_path)
    assert code == 1 and err.startswith("Error: ") and needle in err and "Traceback" not in err
    assert not (tmp_path / "data" / "qdrant").exists()


def test_bad_names_in_a_tree_fail_alone(tmp_path: Path, env: dict[str, str]) -> None:
    make_pdf(tmp_path / "tree" / "good.pdf", 1)
    make_pdf(tmp_path / "tree" / "noext", 1)  # a PDF without an extension: no name for it
    code, out, _ = cli(["ingest", str(tmp_path / "tree"), "--dry-run", "--json"], env, tmp_path)
    assert code == 1
    by_path = {Path(f["path"]).name: f for f in json.loads(out)["files"]}
    assert by_path["good.pdf"]["status"] == "planned" and by_path["good.pdf"]["name"] == "good.pdf"
    assert by_path["noext"]["status"] == "failed" and by_path["noext"]["code"] == "invalid_name"
