"""Wildcard patterns classified into bulk-matchable shapes."""

from __future__ import annotations

import pytest
from sigma.types import SigmaString

from sekimori.detect.sigma.values import merge_parts, shape


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
