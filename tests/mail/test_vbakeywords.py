"""The keyword search that stands in for olevba's must find exactly what olevba's finds."""

from __future__ import annotations

import re

import pytest
from oletools import olevba
from oletools.olevba import VBA_Parser

from sekimori.mail import vbakeywords
from sekimori.mail.vbakeywords import (
    detect_autoexec,
    detect_suspicious,
    keyword_search,
    required_text,
)
from sekimori.samples.office import build_doc_with_macros, build_docm, build_xlsm
from tests.conftest import SHARED_DATA, shared_path

OLETOOLS = SHARED_DATA / "office" / "oletools-test-data"
OBFUSCATIONS = (None, "Hex", "Base64", "VBA expression")


def _keywords() -> list[str]:
    tables = (
        olevba.AUTOEXEC_KEYWORDS,
        olevba.SUSPICIOUS_KEYWORDS,
        olevba.AUTOEXEC_KEYWORDS_REGEX,
        olevba.SUSPICIOUS_KEYWORDS_REGEX,
    )
    return [k for table in tables for values in table.values() for k in values]


def _texts() -> list[str]:
    """Macro-like texts holding every keyword, in several cases and spellings."""
    plain = [k for k in _keywords() if re.escape(k) == k or not any(c in k for c in "\\[(?*+")]
    joined = " ".join(plain)
    return [
        "",
        "Sub Foo()\nEnd Sub",
        joined,
        joined.upper(),
        joined.lower(),
        # Each keyword glued to a word character: no word boundary, no match.
        " ".join(f"x{k}" for k in plain),
        # Characters that case-insensitive matching takes for i, k and s.
        joined.replace("i", "\u0131").replace("k", "\u212a").replace("s", "\u017f"),
        joined.replace("I", "\u0130"),
        "Private Sub CommandButton1_Click()\nx = EnumDateFormatsExEx\n Doc.Variables",
        "Could contain following functions: EXEC and REGISTER( and execve popen",
        'Shell("cmd")\b\b 請求書 Document_Open ｓhell',
    ]


@pytest.mark.parametrize("obfuscation", OBFUSCATIONS)
def test_same_results_as_olevba_on_every_keyword(obfuscation: str | None) -> None:
    for text in _texts():
        assert detect_autoexec(text, obfuscation) == olevba.detect_autoexec(text, obfuscation)
        assert detect_suspicious(text, obfuscation) == olevba.detect_suspicious(text, obfuscation)


def test_every_keyword_is_found_as_olevba_finds_it() -> None:
    text = _texts()[2]
    found = {k for k, _ in detect_autoexec(text) + detect_suspicious(text)}
    assert len(found) > 150


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (re.escape("WScript.Shell"), "wscript.shell"),
        (r"\w+_Click", "_click"),
        (r"EnumDateFormats(?:W|(?:Ex){1,2})?", "enumdateformats"),
        (r"(?<!Could contain following functions: )EXEC", "exec"),
        (r"\.\s*Variables", "variables"),
        (r"exec[lv][ep]?", "exec"),
        (r"a|b", ""),
        (r"(unclosed", ""),
        ("請求書", ""),
    ],
)
def test_required_text(pattern: str, text: str) -> None:
    assert required_text(pattern) == text


def _documents() -> list[tuple[str, bytes]]:
    vba = (
        "Sub AutoOpen()\n"
        '  Set o = CreateObject("WScript.Shell")\n'
        '  o.Run "powershell -enc SQBFAFgA", 0\n'
        '  x = Chr(104) & "ttp://198.51.100.7/a.exe"\n'
        '  s = "68747470733A2F2F6578616D706C652E636F6D2F"\n'
        "End Sub\n"
    )
    documents = [
        ("a.doc", build_doc_with_macros(vba)),
        ("a.docm", build_docm(vba)),
        ("a.xlsm", build_xlsm('Sub Workbook_Open()\n Shell "calc"\nEnd Sub\n')),
    ]
    if OLETOOLS.exists():
        documents += [
            (p.name, p.read_bytes())
            for p in sorted(OLETOOLS.rglob("*"))
            if p.is_file() and p.stat().st_size < 2_000_000
        ]
    return documents


def _analysis(name: str, data: bytes) -> object:
    try:
        parser = VBA_Parser(name, data=data)
    except Exception:
        return "not olevba's"
    try:
        if not (parser.detect_vba_macros() or parser.detect_xlm_macros()):
            return "no macros"
        return parser.analyze_macros(show_decoded_strings=True)
    except Exception as exc:
        return type(exc).__name__
    finally:
        parser.close()


def test_analyze_macros_gives_olevbas_results_inside_keyword_search() -> None:
    compared = 0
    for name, data in _documents():
        expected = _analysis(name, data)
        with keyword_search():
            got = _analysis(name, data)
        assert got == expected, name
        compared += isinstance(expected, list)
    assert compared >= 3


def test_keyword_search_puts_olevbas_functions_back() -> None:
    original = (olevba.detect_autoexec, olevba.detect_suspicious)
    with keyword_search():
        with keyword_search():
            assert olevba.detect_autoexec is vbakeywords.detect_autoexec
        assert olevba.detect_suspicious is vbakeywords.detect_suspicious
    assert (olevba.detect_autoexec, olevba.detect_suspicious) == original
    with pytest.raises(RuntimeError), keyword_search():
        raise RuntimeError
    assert (olevba.detect_autoexec, olevba.detect_suspicious) == original


def test_oletools_data_compared_when_present() -> None:
    shared_path("office", "oletools-test-data")
    assert len(_documents()) > 50
