"""Signed image/file URLs: valid for their own path until they expire, stable within a window."""

from __future__ import annotations

from mmsearch.api.edge.signing import UrlSigner

PATH = "/v1/images/6c1f0a43-2b7e-5a61-9d7e-0c6b2f1a9e11"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_signature_opens_its_own_path_only() -> None:
    signer = UrlSigner("s" * 32, ttl_s=3600)
    query = signer.sign(PATH)
    assert signer.verify(PATH, query["exp"], query["sig"])
    assert not signer.verify(PATH + "x", query["exp"], query["sig"])
    assert not signer.verify("/v1/documents/x/file", query["exp"], query["sig"])
    assert not signer.verify(PATH, str(int(query["exp"]) + 3600), query["sig"])  # expiry is signed too
    assert not signer.verify(PATH, query["exp"], query["sig"][:-1] + "A")


def test_missing_or_malformed_parameters_are_refused() -> None:
    signer = UrlSigner("s" * 32, ttl_s=3600)
    sig = signer.sign(PATH)["sig"]
    for exp, s in [(None, sig), ("123", None), ("", sig), ("-5", sig), ("1e9", sig)]:
        assert not signer.verify(PATH, exp, s)


def test_hostile_expiries_and_signatures_are_invalid_not_errors() -> None:
    """Found against a live server as 500s: "²" passes str.isdigit() but not int(); int() refuses more
    than 4300 digits; hmac.compare_digest raises on non-ASCII str."""
    signer = UrlSigner("s" * 32, ttl_s=3600)
    query = signer.sign(PATH)
    for exp in ["²", "١٢٣", "9" * 5000, "9" * 13, " 123", "123\n", "０１"]:
        assert not signer.verify(PATH, exp, query["sig"])
    for sig in ["é" * 32, "\x00", query["sig"] + "é"]:
        assert not signer.verify(PATH, query["exp"], sig)
    assert signer.verify(PATH, query["exp"], query["sig"])


def test_urls_expire_and_stay_stable_within_a_window() -> None:
    clock = Clock(1_000_000.0)
    signer = UrlSigner("s" * 32, ttl_s=600, clock=clock)
    first = signer.sign(PATH)
    clock.now += 100
    assert signer.sign(PATH) == first  # same URL: browsers can cache the image
    expires = int(first["exp"])
    assert 600 <= expires - 1_000_000 <= 1200
    clock.now = expires + 1
    assert not signer.verify(PATH, first["exp"], first["sig"])


def test_another_secret_does_not_verify() -> None:
    query = UrlSigner("a" * 32, ttl_s=600).sign(PATH)
    assert not UrlSigner("b" * 32, ttl_s=600).verify(PATH, query["exp"], query["sig"])
    assert not UrlSigner(None, ttl_s=600).verify(PATH, query["exp"], query["sig"])  # random per process
