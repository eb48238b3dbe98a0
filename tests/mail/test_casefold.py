"""``folded`` must keep every literal a case-insensitive regex could match findable."""

from __future__ import annotations

import re

from sekimori.mail.casefold import folded


def test_folding_covers_every_character_case_insensitive_matching_takes_for_ascii() -> None:
    # Python's re, case-insensitive: which characters outside ASCII match an ASCII one.
    printable = re.compile(r"(?i)[\x20-\x7e]")
    odd = [chr(cp) for cp in range(0x80, 0x110000) if printable.match(chr(cp))]
    assert odd == ["\u0130", "\u0131", "\u017f", "\u212a"]
    for char in odd:
        letter = folded(char)
        assert letter.isascii()
        assert re.match(f"(?i){letter}", char)


def test_folded_text_holds_what_a_case_insensitive_search_finds() -> None:
    for text in ("PaſſWORD: x", "\u212aEY", "Shell İt", "請求書 PW：abc"):
        for word in ("password", "key", "it", "pw"):
            if re.search(f"(?i){word}", text):
                assert word in folded(text)
