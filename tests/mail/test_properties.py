"""Property tests: whatever bytes arrive, the gateway answers with a verdict, never a traceback."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sekimori.mail.filetype import extension
from sekimori.mail.mime import parse_message
from sekimori.mail.passwords import find_passwords
from sekimori.mail.result import Verdict
from sekimori.mail.scan import ANALYZERS, scan_bytes
from sekimori.samples import mail as samples

SEEDS = [samples.emotet_invoice_mail(), samples.link_mail(), samples.clean_mail()]
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.binary(max_size=4096), st.sampled_from(["x.eml", "x.doc", "x.zip", "x.pdf", "x"]))
def test_random_bytes_get_a_verdict(data: bytes, name: str) -> None:
    assert scan_bytes(data, name).verdict in set(Verdict)


@FAST
@given(
    st.sampled_from(SEEDS),
    st.integers(min_value=0, max_value=20_000),
    st.integers(min_value=1, max_value=2000),
    st.binary(max_size=64),
)
def test_damaged_messages_get_a_verdict(seed: bytes, start: int, length: int, junk: bytes) -> None:
    start = min(start, len(seed))
    damaged = seed[:start] + junk + seed[start + length :]
    result = scan_bytes(damaged, "damaged.eml")
    assert result.verdict in set(Verdict)
    assert result.to_json()["file"] == "damaged.eml"


@FAST
@given(st.text(max_size=2000))
def test_text_never_breaks_the_parsers(text: str) -> None:
    find_passwords(text)
    parse_message(text.encode("utf-8", "surrogatepass"), require_headers=False)


@pytest.mark.parametrize("kind", sorted(ANALYZERS))
def test_every_analyzer_is_documented_and_typed(kind: str) -> None:
    for analyzer in ANALYZERS[kind]:
        assert analyzer.__doc__, analyzer.__name__
        assert analyzer.__annotations__.get("return") in ("Analysis", "Analysis | None")


@pytest.mark.parametrize(
    "text",
    [" " * 20000, "\n" * 20000, "> \n" * 7000, "a" * 20000, "a." * 10000, "xn--" * 5000],
    ids=["spaces", "newlines", "quotes", "letters", "dots", "punycode"],
)
def test_hostile_bodies_do_not_backtrack(text: str) -> None:
    # Quadratic or worse regular expressions would make this test run for minutes.
    from sekimori.mail.links import analyze_links
    from sekimori.mail.sender import analyze_sender

    raw = b"From: a <a@x.example>\r\nTo: b@example.jp\r\nSubject: Re: x\r\n"
    raw += b"In-Reply-To: <1@example.jp>\r\n\r\n" + text.encode()
    msg = parse_message(raw)
    analyze_sender(msg)
    analyze_links(msg.text, [f'<a href="http://x.example/">{text}</a>'])


def test_hostile_headers_do_not_backtrack() -> None:
    from sekimori.mail.mime import decode_header_value

    assert decode_header_value(" " * 80000) == ""
    assert decode_header_value("a\r\n b\r\n\tc") == "a b c"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab./\\ xE請", max_size=12))
def test_extension_is_the_suffix_pathlib_gives(name: str) -> None:
    assert extension(name) == PurePosixPath(name.replace("\\", "/")).suffix.lower()
