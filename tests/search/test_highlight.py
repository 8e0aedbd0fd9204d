"""Snippets, their match ranges and highlight boxes from payloads built here: the best window is chosen,
its ranges point at the query's terms (folded, inflected, phrases whole), boxes are those of the matched
words, and every input is bounded (huge queries, many terms, many or malformed words)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from mmsearch.index.store import WORD_FIELDS, Payload
from mmsearch.search.highlight import MAX_HIGHLIGHTS, MAX_TEXT_CHARS, MAX_WORDS, find_marks, hit_text
from mmsearch.search.snippet import ELLIPSIS, WIDTH, make_snippet
from mmsearch.search.terms import (
    MAX_MATCHES,
    MAX_PHRASE_WORDS,
    MAX_SCAN_CHARS,
    MAX_TERMS,
    find,
    key,
    query_terms,
)

FILLER = "lorem ipsum dolor sit amet " * 20  # 540 characters without a query term


def payload(text: str, words: Sequence[int] = (), modality: str = "page") -> Payload:
    return Payload(
        doc_id="d", source_path="/x.pdf", modality=modality, text=text,  # type: ignore[arg-type]
        media_paths=["media/p1.jpg"], content_hash="c", source_sha256="s", ingest_time=0.0, model_id="m",
        dim=8, words=tuple(words),
    )  # fmt: skip


def boxed(text: str) -> tuple[int, ...]:
    """``words`` for ``text``: each whitespace-separated word with a box of its own (x from its offset)."""
    out: list[int] = []
    at = 0
    for word in text.split():
        start = text.index(word, at)
        at = start + len(word)
        out += [start, at, start * 10, 5, at * 10, 25]
    return tuple(out)


def marked(text: str, query: str) -> list[str]:
    snippet = make_snippet(text, find(text, query_terms(query)))
    return [snippet.text[a:b] for a, b in snippet.ranges]


@pytest.mark.parametrize(
    ("forms", "same"),
    [
        ("report reports reported reporting", True),
        ("policy policies", True),
        ("make makes making", True),
        ("run running", True),
        ("stop stopped", True),
        ("box boxes", True),
        ("agree agreed agreeing", True),
        ("Straße STRASSE strasse", True),
        ("café CAFE Cafe", True),
        ("status statu", False),
        ("quroroni1 quroroni", False),
        ("report repo", False),
    ],
)
def test_keys_fold_case_accents_and_simple_inflections(forms: str, same: bool) -> None:
    keys = {key(w) for w in forms.split()}
    assert (len(keys) == 1) is same, keys


def test_query_terms_keep_phrases_whole_and_drop_stopwords_unless_nothing_else() -> None:
    terms = query_terms('the revenue of "Gross  Margin" “bill of lading” "Quarter"')
    assert terms.phrases == (("gross", "margin"), ("bill", "of", key("lading")))
    assert terms.words == (key("quarter"), key("revenue"))  # a one-word quote is a word; "the", "of" gone
    assert query_terms("the of").words == ("the", "of")  # only stopwords: they are the query
    assert not query_terms(None) and not query_terms("  ?! ")


def test_the_snippet_is_the_window_with_the_most_distinct_terms_not_the_first_match() -> None:
    text = (
        f"Revenue appears early. {FILLER}The gross margin and revenue grew while\n\n costs   fell. {FILLER}"
    )
    snippet = make_snippet(text, find(text, query_terms('revenue "gross margin" costs')))
    assert [snippet.text[a:b] for a, b in snippet.ranges] == ["gross margin", "revenue", "costs"]
    assert snippet.text.startswith(ELLIPSIS) and snippet.text.endswith(ELLIPSIS)
    assert "grew while costs fell." in snippet.text  # whitespace runs are one space, offsets still right
    assert len(snippet.text) <= WIDTH + 2
    assert not snippet.text[1].isspace() and snippet.text[1:].split(" ", 1)[0] in text.split()  # whole words


def test_ties_go_to_more_matches_then_the_earliest() -> None:
    text = f"alpha one. {FILLER}alpha beta. {FILLER}alpha beta alpha. {FILLER}"
    snippet = make_snippet(text, find(text, query_terms("alpha beta")))
    assert [snippet.text[a:b] for a, b in snippet.ranges] == ["alpha", "beta", "alpha"]
    text = f"beta gamma. {FILLER}gamma beta. {FILLER}"
    first = make_snippet(text, find(text, query_terms("beta gamma")))
    assert first.text.startswith("beta gamma.") and first.ranges == ((0, 4), (5, 10))


def test_ranges_mark_inflected_and_folded_forms_and_phrases_only_as_phrases() -> None:
    assert marked("Policies were REPORTED; the Café reports.", "policy report cafe") == [
        "Policies", "REPORTED", "Café", "reports",
    ]  # fmt: skip
    assert marked("gross profit, then gross margin; margin gross.", '"gross margin"') == ["gross margin"]
    assert marked("no match here at all", "zebra") == []


def test_without_a_match_the_snippet_is_the_start_cut_at_a_word() -> None:
    snippet = make_snippet(FILLER, [])
    assert snippet.ranges == () and FILLER.startswith(snippet.text[:-1].rstrip())
    assert snippet.text.endswith(ELLIPSIS) and snippet.text[:-1].split()[-1] in {
        "lorem",
        "ipsum",
        "dolor",
        "sit",
        "amet",
    }
    assert make_snippet("", []).text == "" and make_snippet("  short\ttext ", []).text == "short text"


def test_unicode_offsets_are_code_points() -> None:
    text = "Überschuss 😀 im Jahr – Umsätze stiegen"
    snippet = make_snippet(text, find(text, query_terms("umsatze uberschuss")))
    assert [snippet.text[a:b] for a, b in snippet.ranges] == ["Überschuss", "Umsätze"]


def test_highlights_are_the_boxes_of_the_matched_words() -> None:
    text = "Quarterly revenue rose; gross margin fell. Revenues, gross sales."
    words = boxed(text)
    marks = find_marks(payload(text, words), query_terms('revenue "gross margin"'))
    matched = {"revenue", "gross", "margin", "Revenues,"}  # the words a match touches, punctuation and all
    expected = [
        tuple(words[i + 2 : i + 6])
        for i in range(0, len(words), WORD_FIELDS)
        if text[words[i] : words[i + 1]] in matched and words[i] < text.index("sales") - 6
    ]
    assert list(marks.highlights) == expected and len(expected) == 4  # the second "gross" is no phrase
    assert [marks.snippet.text[a:b] for a, b in marks.snippet.ranges] == [
        "revenue", "gross margin", "Revenues",
    ]  # fmt: skip


def test_no_boxes_for_a_video_or_a_unit_without_words() -> None:
    text = "safety briefing"
    terms = query_terms("safety")
    assert find_marks(payload(text, boxed(text), modality="video"), terms).highlights == ()
    assert find_marks(payload(text), terms).highlights == ()
    assert find_marks(payload(text, boxed(text)), query_terms("")).highlights == ()
    assert find_marks(payload(text, boxed(text)), terms).snippet.ranges == ((0, 6),)


def test_malformed_words_are_skipped_not_trusted() -> None:
    text = "alpha beta alpha"
    words = (
        0, 5, 10, 10, 20, 20,  # good
        0, 99, 1, 1, 2, 2,  # end past the text
        11, 16, 30, 30, 30, 40,  # empty box
        11, 16, -5, 0, 4, 4,  # negative
        11, 16, 40, 40, 50, 50,  # good
        6, 10,  # a partial entry
    )  # fmt: skip
    assert find_marks(payload(text, words), query_terms("alpha")).highlights == (
        (10, 10, 20, 20), (40, 40, 50, 50),
    )  # fmt: skip


def test_boxes_and_words_read_are_capped() -> None:
    n = MAX_WORDS + 500
    text = "x " * n
    words = [v for i in range(n) for v in (2 * i, 2 * i + 1, i, 0, i + 1, 1)]
    boxes = find_marks(payload(text, words), query_terms("x")).highlights
    assert len(boxes) == MAX_HIGHLIGHTS and boxes[0] == (0, 0, 1, 1)
    late = [0, 0, 0, 0, 0, 0] * MAX_WORDS + [0, 1, 5, 5, 6, 6]  # a match past the words read
    assert find_marks(payload("x", late), query_terms("x")).highlights == ()


def test_huge_queries_and_texts_are_bounded() -> None:
    many = " ".join(f"term{i}" for i in range(5000))
    terms = query_terms(many + ' "' + " ".join(["w"] * 100) + '"')
    assert terms.count <= MAX_TERMS and all(len(p) <= MAX_PHRASE_WORDS for p in terms.phrases)
    quotes = query_terms(" ".join(f'"a{i} b{i}"' for i in range(200)))
    assert len(quotes.phrases) == MAX_TERMS and quotes.words == ()
    for filler in ("filler " * (MAX_SCAN_CHARS // 7 + 1), "f" * (MAX_SCAN_CHARS - 3) + " "):
        assert find(filler + "needle", query_terms("needle")) == []  # past MAX_SCAN_CHARS, or cut by it
    assert len(find("x " * MAX_SCAN_CHARS, query_terms("x"))) == MAX_MATCHES  # the first ones, in order
    text = "needle " + "w " * 100_000
    marks = find_marks(payload(text), query_terms(many))
    assert marks.snippet.ranges == () and len(marks.snippet.text) <= WIDTH + 1


def test_hit_text_is_cut_and_says_so() -> None:
    assert hit_text("page text") == ("page text", False)
    long = "y" * (MAX_TEXT_CHARS + 1)
    assert hit_text(long) == (long[:MAX_TEXT_CHARS], True)
