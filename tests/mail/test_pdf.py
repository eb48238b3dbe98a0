from __future__ import annotations

import io

import pikepdf

from sekimori.mail.context import ScanContext
from sekimori.mail.pdf import analyze_pdf
from tests.conftest import shared_path


def ids(analysis) -> set[str]:
    return {h.id for h in analysis.hits}


def build_pdf(*, launch: bool = False, attach: bool = False) -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.Root.AA = pikepdf.Dictionary(
        O=pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)"))
    )
    if launch:
        pdf.Root.OpenAction = pikepdf.Dictionary(
            S=pikepdf.Name.Launch, F=pikepdf.String("cmd.exe /c echo detector-test")
        )
    if attach:
        pdf.attachments["note.js"] = pikepdf.AttachedFileSpec(pdf, b"WScript.Echo('x')")
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_openaction_javascript_and_uri_fixture() -> None:
    data = shared_path("office", "synthetic", "synthetic_pdf", "openaction_js_uri.pdf").read_bytes()
    result = analyze_pdf(data, "x.pdf", ScanContext())
    assert ids(result) == {"pdf.javascript", "pdf.open_action", "pdf.uri"}
    assert result.urls == ["http://phish.example.invalid/login"]


def test_launch_aa_and_embedded_file() -> None:
    result = analyze_pdf(build_pdf(launch=True, attach=True), "x.pdf", ScanContext())
    assert {"pdf.launch", "pdf.open_action", "pdf.javascript", "pdf.embedded_file"} <= ids(result)
    assert [c.name for c in result.children] == ["note.js"]
    assert "decode.hidden_command" not in ids(result)


def test_damaged_pdf_is_unscannable() -> None:
    result = analyze_pdf(b"%PDF-1.4\n garbage", "x.pdf", ScanContext())
    assert result.unscannable and ids(result) == {"pdf.corrupt"}
