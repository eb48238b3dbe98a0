"""Wildcard patterns classified into bulk-matchable shapes."""

from __future__ import annotations

import random

import polars as pl
import pytest
from sigma.types import SigmaString

from sekimori.detect.sigma.values import merge_parts, search_core, shape


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("abc", ("eq", "abc")),
        ("*abc*", ("contains", "abc")),
        ("abc*", ("startswith", "abc")),
        ("*abc", ("endswith", "abc")),
        ("**", ("any", "")),
        ("a?c", ("regex", "^a.c$")),
        ("a*b*c", ("regex", "^a.*b.*c$")),
        ("a\\*b", ("eq", "a*b")),
        ("a.b*", ("startswith", "a.b")),
    ],
)
def test_shape(text: str, expected: tuple[str, str]) -> None:
    kind, pattern = shape(merge_parts(SigmaString(text)))
    if kind == "regex":
        pattern = pattern.replace("\\", "")
    assert (kind, pattern) == expected


@pytest.mark.parametrize(
    ("pattern", "core"),
    [
        (r"-k\s\w{1,64}(?:\s?(?:-p|-s))?", r"-k\s\w"),
        (r" [0-7]{7,13}", r" [0-7]{7}"),
        (r"net\s+user\s+", r"net\s+user\s"),
        (r"a(?:b|c)+d*?", r"a(?:b|c)"),
        (r"(a[)]b)+c{0,3}", r"(a[)]b)"),
        (r"x[a-z(]{2,}?", r"x[a-z(]{2}"),
        # Left whole: nothing to cut, or more than this reads.
        (r"ab$", r"ab$"),
        (r"ab\b", r"ab\b"),
        (r"a|b+", r"a|b+"),
        (r"(?i)ab+", r"(?i)ab+"),
        (r"x(?P<n>a)+", r"x(?P<n>a)+"),
        (r"\p{L}+", r"\p{L}+"),
        (r"[[:alpha:]]+", r"[[:alpha:]]+"),
        (r"a?", r"a?"),
    ],
)
def test_search_core(pattern: str, core: str) -> None:
    assert search_core(pattern) == core


def test_search_core_finds_what_the_pattern_finds() -> None:
    rng = random.Random(3)
    patterns = [
        r"-k\s\w{1,64}(?:\s?(?:-p|-s))?",
        r":/?(?:0[0-9]{0,2}\.)?0[0-9]{1,11}",
        r"\\[a-z0-9]{1,4}\.[a-z]{0,3}[ 'p]{1}",
        r"a(?:b|\s)+k*?",
        r"(?:k[a-]+)?[b\]]{2,}\w??",
        r"é\w{2,5}(?:x|é)*",
    ]
    alphabet = "-ks \t\nwé_09aAbk.:/\\p]'x"
    texts = ["".join(rng.choices(alphabet, k=rng.randint(0, 24))) for _ in range(3000)]
    frame = pl.DataFrame({"t": texts})
    for pattern in patterns:
        core = search_core(pattern)
        assert core != pattern
        found = frame.select(
            pl.col("t").str.contains(pattern).alias("a"), pl.col("t").str.contains(core).alias("b")
        )
        assert found["a"].sum() > 0
        assert found["a"].to_list() == found["b"].to_list(), pattern
