"""Property tests: whatever bytes arrive, the gateway answers with a verdict, never a traceback."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
