"""Lower-cased text in which a case-insensitive regex's literal text can be looked for.

A plain substring test (``needle in text``) is far cheaper than a regex
search, so a search that needs a literal word is skipped where the word is
not. With ``re.IGNORECASE``, four characters outside ASCII match an ASCII
letter (found by trying every code point; a test does it again) and
``str.lower`` alone maps them elsewhere: they become that letter first.
"""

from __future__ import annotations

_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


def folded(text: str) -> str:
    """``text`` lower-cased so that a case-insensitive match's ASCII literal is found in it."""
    return text.lower() if text.isascii() else text.translate(_FOLD).lower()


__all__ = ["folded"]
