from __future__ import annotations

import io

import pikepdf
import pytest

from sekimori.samples import SampleError
from sekimori.samples.pdf import INERT_JS, build_pdf, inert_launch


def _open(data: bytes) -> pikepdf.Pdf:
    pdf = pikepdf.open(io.BytesIO(data))
    assert pdf.check_pdf_syntax() == []  # qpdf finds no structural problem
    return pdf


def test_plain_pdf_has_no_active_content() -> None:
    data = build_pdf("Meeting minutes\nNothing to see")
    pdf = _open(data)
    assert len(pdf.pages) == 1
    assert "/OpenAction" not in pdf.Root
    assert "/Names" not in pdf.Root
    assert "/Annots" not in pdf.pages[0]
    for keyword in (b"/JavaScript", b"/JS", b"/Launch", b"/URI", b"/EmbeddedFile"):
        assert keyword not in data
    content = pdf.pages[0].Contents.read_bytes()
    assert b"(Meeting minutes) Tj" in content


def test_open_action_javascript() -> None:
    pdf = _open(build_pdf("Invoice", open_action_js=INERT_JS))
    action = pdf.Root.OpenAction
    assert action.S == "/JavaScript"
    assert str(action.JS) == INERT_JS
    names = pdf.Root.Names.JavaScript.Names
    assert str(names[0]) == "open"
    assert str(names[1].JS) == INERT_JS


def test_uri_link_annotation() -> None:
    pdf = _open(build_pdf("Click", uri="http://203.0.113.10/invoice.doc"))
    (annot,) = pdf.pages[0].Annots
    assert annot.Subtype == "/Link"
    assert annot.A.S == "/URI"
    assert str(annot.A.URI) == "http://203.0.113.10/invoice.doc"


def test_launch_action() -> None:
    pdf = _open(build_pdf("Open", launch=inert_launch()))
    action = pdf.pages[0].AA.O
    assert action.S == "/Launch"
    assert str(action.Win.F) == "cmd.exe"
    assert str(action.Win.P) == "/c echo detector-test"


def test_embedded_file_and_everything_at_once() -> None:
    data = build_pdf(
        "All",
        open_action_js=INERT_JS,
        uri="http://phish.invalid/",
        launch=inert_launch(),
        embedded_file=("invoice.docm", b"PK\x03\x04 inert"),
        title="請求書",
    )
    pdf = _open(data)
    assert pdf.attachments["invoice.docm"].get_file().read_bytes() == b"PK\x03\x04 inert"
    assert "/EmbeddedFiles" in pdf.Root.Names
    assert "/JavaScript" in pdf.Root.Names
    assert str(pdf.docinfo.Title) == "請求書"
    assert data.startswith(b"%PDF-1.7")
    assert data == build_pdf(
        "All",
        open_action_js=INERT_JS,
        uri="http://phish.invalid/",
        launch=inert_launch(),
        embedded_file=("invoice.docm", b"PK\x03\x04 inert"),
        title="請求書",
    )


def test_text_is_escaped() -> None:
    pdf = _open(build_pdf("a (b) \\ c"))
    assert b"(a \\(b\\) \\\\ c) Tj" in pdf.pages[0].Contents.read_bytes()


def test_bad_input() -> None:
    with pytest.raises(SampleError):
        build_pdf("請求書")
    with pytest.raises(SampleError):
        build_pdf("x", embedded_file=("../x.exe", b""))
