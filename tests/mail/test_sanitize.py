from __future__ import annotations

import email
import email.policy
import io
import zipfile

from oletools.olevba import VBA_Parser

from sekimori.mail.context import ScanContext
from sekimori.mail.pdf import analyze_pdf
from sekimori.mail.result import Verdict
from sekimori.mail.sanitize import HEADER, defang, disarm, html_to_text, sanitize_message, strip_vba
from sekimori.mail.scan import scan_bytes
from sekimori.samples import mail as samples
from sekimori.samples.office import build_doc_with_macros, build_docm, build_xlsm
from sekimori.samples.pdf import build_pdf
from tests.mail.helpers import mail


def attachments(raw: bytes) -> dict[str, bytes]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return {p.get_filename(): p.get_payload(decode=True) for p in msg.iter_attachments()}


def has_vba(data: bytes, name: str) -> bool:
    parser = VBA_Parser(name, data=data)
    return bool(parser.detect_vba_macros())


def test_docm_becomes_docx_without_vba() -> None:
    docm = build_docm()
    assert has_vba(docm, "a.docm")
    result = disarm("請求書.docm", docm)
    assert result is not None and result.name == "請求書.docx"
    assert result.content_type.endswith("wordprocessingml.document")
    assert not has_vba(result.data, "a.docx")
    with zipfile.ZipFile(io.BytesIO(result.data)) as zf:
        names = zf.namelist()
        types = zf.read("[Content_Types].xml").decode()
        rels = zf.read("word/_rels/document.xml.rels").decode()
    assert not any("vbaProject" in n for n in names)
    assert "macroEnabled" not in types and "vbaProject" not in types
    assert "vbaProject" not in rels


def test_xlsm_becomes_xlsx_and_plain_ooxml_is_untouched() -> None:
    result = disarm("集計.xlsm", build_xlsm())
    assert result is not None and result.name == "集計.xlsx" and not has_vba(result.data, "x.xlsx")
    assert strip_vba(result.data) is None
    assert disarm("plain.xlsx", result.data) is None


def test_legacy_doc_with_macros_replaced_by_notice() -> None:
    result = disarm("old.doc", build_doc_with_macros())
    assert result is not None and result.name == "old.doc.removed.txt"
    assert "隔離" in result.data.decode() and result.content_type == "text/plain"


def test_pdf_active_content_stripped() -> None:
    pdf = build_pdf(
        "Invoice",
        open_action_js="app.alert('detector-test');",
        uri="http://phish.example.invalid/login",
        launch=("cmd.exe", "/c echo detector-test"),
        embedded_file=("run.js", b"WScript.Echo('detector-test')"),
    )
    result = disarm("invoice.pdf", pdf)
    assert result is not None and result.name == "invoice.pdf"
    after = {h.id for h in analyze_pdf(result.data, "x.pdf", ScanContext()).hits}
    assert after <= {"pdf.uri"}


def test_defang_and_html_to_text() -> None:
    assert defang("see http://a.example.com/x and https://203.0.113.5/") == (
        "see hxxp://a[.]example[.]com/x and hxxps://203[.]0[.]113[.]5/"
    )
    text = html_to_text('<p>Hello</p><script>x()</script><a href="http://e.example/a">here</a>')
    assert "Hello" in text and "hxxp://e[.]example/a" in text and "<" not in text


def test_sanitized_emotet_invoice_is_valid_and_lists_removals() -> None:
    raw = samples.emotet_invoice_mail()
    result = scan_bytes(raw, "x.eml")
    out = sanitize_message(raw, result)
    msg = email.message_from_bytes(out.data, policy=email.policy.default)
    assert HEADER in msg and "VBA macros removed" in msg[HEADER]
    body = msg.get_body(("plain",)).get_content()
    assert body.startswith("[Sekimori]") and "無害化" in body
    files = attachments(out.data)
    assert list(files) == ["請求書_20261125.zip"]
    with zipfile.ZipFile(io.BytesIO(files["請求書_20261125.zip"])) as zf:
        assert zf.namelist() == ["請求書_20261125.docx"]
        assert not has_vba(zf.read("請求書_20261125.docx"), "x.docx")
    assert out.originals and out.originals[0][1].startswith(b"PK")
    assert scan_bytes(out.data, "sanitized.eml").verdict in (Verdict.CLEAN, Verdict.SUSPICIOUS)


def test_sanitized_mail_with_docm_keeps_a_docx() -> None:
    raw = mail("Please see attached.", attachments={"report.docm": build_docm()})
    out = sanitize_message(raw)
    files = attachments(out.data)
    assert list(files) == ["report.docx"] and not has_vba(files["report.docx"], "r.docx")
    assert "report.docm: VBA macros removed" in out.removals[0]


def test_html_body_reduced_and_links_defanged() -> None:
    out = sanitize_message(samples.link_mail())
    msg = email.message_from_bytes(out.data, policy=email.policy.default)
    for part in msg.walk():
        assert part.get_content_type() != "text/html"
    text = out.data.decode("utf-8", "replace")
    assert "http://203.0.113.10" not in text
    assert "HTML body reduced to text" in msg[HEADER]


def test_clean_ppap_zip_is_kept() -> None:
    raw = samples.clean_ppap_mail()
    out = sanitize_message(raw, scan_bytes(raw, "x.eml"))
    assert list(attachments(out.data)) == list(attachments(raw))


def test_shortcut_inside_a_rebuilt_archive_becomes_a_notice() -> None:
    raw = samples.emotet_lnk_mail()
    out = sanitize_message(raw, scan_bytes(raw, "x.eml"))
    names = list(attachments(out.data))
    assert len(names) == 1
    with zipfile.ZipFile(io.BytesIO(attachments(out.data)[names[0]])) as zf:
        assert all(n.endswith(".removed.txt") for n in zf.namelist())


def test_archive_bomb_is_replaced_by_a_notice() -> None:
    from tests.mail.helpers import plain_zip

    raw = mail("x", attachments={"data.zip": plain_zip({"z.bin": b"\0" * (20 * 1024 * 1024)})})
    out = sanitize_message(raw, scan_bytes(raw, "x.eml"))
    assert list(attachments(out.data)) == ["data.zip.removed.txt"]
