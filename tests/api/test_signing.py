"""Signed image/file URLs: valid for their own path, document version and principal until they expire,
stable within a window, never longer than 15 minutes by default."""

from __future__ import annotations

from mmsearch.api.edge.signing import UrlSigner, version_tag
from mmsearch.api.settings import ApiSettings

PATH = "/v1/images/6c1f0a43-2b7e-5a61-9d7e-0c6b2f1a9e11"
SHA = "3f2a9c" + "0" * 58
V = version_tag(SHA)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_signature_opens_its_own_path_and_version_only() -> None:
    signer = UrlSigner("s" * 32, ttl_s=300)
    query = signer.sign(PATH, V, "key:finance-app")
    assert query["v"] == SHA[:16] and query["by"] == "key:finance-app"
    assert signer.verify(PATH, query)
    assert not signer.verify(PATH + "x", query)
    assert not signer.verify("/v1/documents/x/file", query)
    assert not signer.verify(PATH, {**query, "exp": str(int(query["exp"]) + 300)})  # expiry is signed too
    assert not signer.verify(PATH, {**query, "sig": query["sig"][:-1] + "A"})
    assert not signer.verify(PATH, {**query, "v": version_tag("ab" * 32)})  # another version of it
    assert not signer.verify(PATH, {k: v for k, v in query.items() if k != "v"})
    assert not signer.verify(PATH, {**query, "by": "key:legal-app"})  # the principal is signed too


def test_fields_cannot_be_shifted_between_each_other() -> None:
    signer = UrlSigner("s" * 32, ttl_s=300)
    query = signer.sign(PATH, "ab", "c")
    assert not signer.verify(PATH, {**query, "v": "a", "by": "bc"})
    assert not signer.verify(PATH, {**query, "v": "ab\nc", "by": ""})


def test_missing_or_malformed_parameters_are_refused() -> None:
    signer = UrlSigner("s" * 32, ttl_s=300)
    good = signer.sign(PATH, V, "p")
    for exp, s in [
        (None, good["sig"]),
        ("123", None),
        ("", good["sig"]),
        ("-5", good["sig"]),
        ("1e9", good["sig"]),
    ]:
        query = {**good, "exp": exp, "sig": s}
        assert not signer.verify(PATH, {k: v for k, v in query.items() if v is not None})
    assert not signer.verify(PATH, {**good, "v": "0" * 17})
    assert not signer.verify(PATH, {**good, "by": "x" * 257})


def test_hostile_expiries_and_signatures_are_invalid_not_errors() -> None:
    """Found against a live server as 500s: "²" passes str.isdigit() but not int(); int() refuses more
    than 4300 digits; hmac.compare_digest raises on non-ASCII str."""
    signer = UrlSigner("s" * 32, ttl_s=300)
    query = signer.sign(PATH, V, "p")
    for exp in ["²", "١٢٣", "9" * 5000, "9" * 13, " 123", "123\n", "０１"]:
        assert not signer.verify(PATH, {**query, "exp": exp})
    for sig in ["é" * 32, "\x00", query["sig"] + "é"]:
        assert not signer.verify(PATH, {**query, "sig": sig})
    assert signer.verify(PATH, query)


def test_urls_expire_and_stay_stable_within_a_window() -> None:
    clock = Clock(1_000_000.0)
    signer = UrlSigner("s" * 32, ttl_s=600, clock=clock)
    first = signer.sign(PATH, V, "p")
    clock.now += 100
    assert signer.sign(PATH, V, "p") == first  # same URL: browsers can cache the image
    expires = int(first["exp"])
    assert 600 <= expires - 1_000_000 <= 1200
    assert signer.seconds_left(first) == expires - int(clock.now)
    clock.now = expires + 1
    assert not signer.verify(PATH, first)


def test_by_default_a_url_lives_at_most_15_minutes() -> None:
    ttl = ApiSettings().url_ttl_s
    clock = Clock(1_000_000.0)
    signer = UrlSigner("s" * 32, ttl_s=ttl, clock=clock)
    for start in range(1_000_000, 1_000_000 + 2 * ttl, 7):
        clock.now = float(start)
        lives = int(signer.sign(PATH, V, "p")["exp"]) - start
        assert ttl <= lives <= 15 * 60


def test_another_secret_does_not_verify() -> None:
    query = UrlSigner("a" * 32, ttl_s=600).sign(PATH, V, "p")
    assert not UrlSigner("b" * 32, ttl_s=600).verify(PATH, query)
    assert not UrlSigner(None, ttl_s=600).verify(PATH, query)  # random per process
