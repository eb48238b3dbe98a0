from __future__ import annotations

from pathlib import Path

import pytest
from oletools import mraptor
from oletools.olevba import VBA_Parser

from sekimori.mail.context import ScanContext
from sekimori.mail.office import analyze_dde, analyze_office, decrypt, is_encrypted
from sekimori.mail.scan import scan_bytes
from tests.conftest import SHARED_DATA, shared_path

OLETOOLS = SHARED_DATA / "office" / "oletools-test-data"
SYNTHETIC = ("office", "synthetic", "synthetic_emotet_like")


def _oletools_documents() -> list[Path]:
    if not OLETOOLS.exists():
        return []
    skip = {".zip", ".rtf", ".xml", ".csv", ".xps"}
    # olevba reads any text file as VBA source; the gateway only reads .vba/.bas/.cls as VBA.
    return sorted(
        p
        for p in OLETOOLS.rglob("*")
        if p.is_file() and p.suffix not in skip and p.stat().st_size and p.name != "text"
    )


def mraptor_says(path: Path) -> str:
    """What the mraptor command line prints for ``path``: no-macro, macro-ok, suspicious.

    Encrypted files are classified as mraptor classifies them once decrypted
    with Excel's default password, which the gateway also tries.
    """
    data = path.read_bytes()
    opened = decrypt(data, ("VelvetSweatshop",)) if is_encrypted(data) else None
    try:
        parser = VBA_Parser(str(path), data=opened[0] if opened else data)
    except Exception:
        return "error"
    if not parser.detect_vba_macros():
        return "no-macro"
    raptor = mraptor.MacroRaptor(parser.get_vba_code_all_modules())
    raptor.scan()
    return "suspicious" if raptor.suspicious else "macro-ok"


def ids(analysis) -> set[str]:
    return {h.id for h in analysis.hits}


@pytest.mark.parametrize("path", _oletools_documents(), ids=lambda p: p.name)
def test_oletools_documents_classified_as_mraptor_does(path: Path) -> None:
    expected = mraptor_says(path)
    result = scan_bytes(path.read_bytes(), path.name)
    # The document itself (or its decrypted form), not the files embedded in it.
    own = (path.name, f"{path.name}/{path.name} (decrypted)")
    reasons = {r.id for r in result.reasons if r.location in own}
    if expected == "suspicious":
        assert "office.mraptor_suspicious" in reasons
        assert result.verdict.value == "malicious"
    else:
        assert "office.mraptor_suspicious" not in reasons
    if expected == "no-macro":
        assert "office.vba_macros" not in reasons
    if expected == "macro-ok":
        assert "office.vba_macros" in reasons or "office.encrypted_opened" in reasons


def test_oletools_data_present() -> None:
    shared_path("office", "oletools-test-data")
    assert len(_oletools_documents()) > 50


def test_vba_autoexec_execution_and_decoded_powershell() -> None:
    data = shared_path(*SYNTHETIC, "v1_wmi_powershell_enc.vba").read_bytes()
    result = analyze_office(data, "v1.vba", ScanContext())
    assert {
        "office.vba_macros",
        "office.vba_autoexec",
        "office.vba_execution",
        "office.mraptor_suspicious",
        "decode.powershell_encoded",
        "decode.url_list",
    } <= ids(result)
    decoded = next(h for h in result.hits if h.id == "decode.powershell_encoded")
    assert decoded.evidence["decoded"] == "Write-Output 'detector-test'"
    assert len([u for u in result.urls if u.endswith(".example.invalid/x")]) == 5


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("v2_replace_obfuscation.vba", {"office.vba_obfuscation", "decode.hidden_command"}),
        ("v3_strreverse_callbyname.vba", {"office.vba_obfuscation", "decode.hidden_command"}),
        ("v5_activex_painted_shell.vba", {"office.vba_autoexec", "office.vba_execution"}),
        ("v6_cmd_msg_caret.vba", {"decode.powershell_encoded"}),
    ],
)
def test_emotet_like_variants(name: str, expected: set[str]) -> None:
    data = shared_path(*SYNTHETIC, name).read_bytes()
    assert expected <= ids(analyze_office(data, name, ScanContext()))


def test_xlm_in_slk_xls_and_xlsm() -> None:
    slk = shared_path(*SYNTHETIC, "x1_xlm_call_exec_regsvr32.slk").read_bytes()
    result = analyze_office(slk, "x.slk", ScanContext())
    assert {"office.xlm_macros", "office.xlm_execution", "office.vba_autoexec"} <= ids(result)
    assert "http://a.example.invalid/x" in result.urls
    for name in ("excel4_sample_macro.xls", "excel4_sample_macro.xlsm", "excel4_sample_macro.xlsb"):
        data = shared_path("office", "oletools-test-data", "excel4-macros", name).read_bytes()
        assert "office.xlm_macros" in ids(analyze_office(data, name, ScanContext())), name


def test_encrypted_office_default_and_body_passwords() -> None:
    folder = ("office", "oletools-test-data", "encrypted")
    xlsm = shared_path(*folder, "autostart-encrypt-standardpassword.xlsm").read_bytes()
    opened = analyze_office(xlsm, "a.xlsm", ScanContext())
    assert ids(opened) == {"office.encrypted_opened"}
    assert opened.hits[0].evidence["password"] == "VelvetSweatshop"
    assert opened.children and opened.children[0].data.startswith(b"PK")
    locked = analyze_office(
        shared_path(*folder, "encrypted.docx").read_bytes(), "e.docx", ScanContext()
    )
    assert ids(locked) == {"office.encrypted_locked"} and locked.unscannable


def test_dde_found_in_word_excel_and_csv() -> None:
    folder = ("office", "oletools-test-data", "msodde")
    for name in (
        "dde-test-from-office2003.doc",
        "dde-test.docx",
        "dde-test.xlsx",
        "dde-in-csv.csv",
    ):
        data = shared_path(*folder, name).read_bytes()
        assert "office.dde" in ids(analyze_dde(data, name, ScanContext())), name
    clean = shared_path(*folder, "harmless-clean.docx").read_bytes()
    assert ids(analyze_dde(clean, "c.docx", ScanContext())) == set()


def test_embedded_package_and_external_template() -> None:
    folder = ("office", "oletools-test-data", "oleobj")
    lnk_doc = shared_path(*folder, "sample_with_lnk_file.doc").read_bytes()
    result = analyze_office(lnk_doc, "x.doc", ScanContext())
    assert "office.embedded_object" in ids(result)
    assert [c.name for c in result.children] == ["calc.lnk"]
    ext = shared_path(*folder, "external_link", "sample_with_external_link_to_doc.docx")
    result = analyze_office(ext.read_bytes(), "x.docx", ScanContext())
    assert "office.external_template" in ids(result) and result.urls


def test_ooxml_package_bomb_is_not_parsed() -> None:
    import io
    import zipfile

    from tests.mail.helpers import CONTENT_TYPES_XLSX

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES_XLSX)
        zf.writestr("word/document.xml", b"\0" * (20 * 1024 * 1024))
    result = analyze_office(buf.getvalue(), "bomb.docx", ScanContext())
    assert ids(result) == {"archive.bomb"} and result.unscannable


def test_package_survey_sends_only_packages_that_need_it_to_olevba_and_msodde() -> None:
    from sekimori.mail.office import survey_package
    from tests.mail.helpers import clean_xlsx, plain_zip

    clean = survey_package(clean_xlsx())
    assert clean is not None and clean.ole_parts == () and not clean.may_have_dde
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100
    field = "<w:instrText>DD</w:instrText>".encode("utf-16-le")
    package = plain_zip(
        {
            "[Content_Types].xml": b"<Types/>",
            "xl/renamed.dat": ole,
            "word/document.xml": field,
        }
    )
    survey = survey_package(package)
    assert survey is not None and survey.ole_parts == ("xl/renamed.dat",) and survey.may_have_dde
    binary = survey_package(plain_zip({"[Content_Types].xml": b"<Types/>", "xl/a.bin": b"x"}))
    assert binary is not None and binary.may_have_dde
    assert survey_package(plain_zip({"a.xml": b"<a/>"})) is None
    assert survey_package(plain_zip({"[Content_Types].xml": b"<Types"})) is None
    assert survey_package(b"not a zip") is None


def test_binary_parts_send_only_excel_packages_to_msodde() -> None:
    from sekimori.mail.office import survey_package
    from tests.mail.helpers import plain_zip

    def types(kind: str) -> bytes:
        return (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f'<Override PartName="/main.xml" ContentType="{kind}"/></Types>'
        ).encode()

    word = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    excel = "application/vnd.ms-excel.sheet.binary.macroEnabled.main"
    vba = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100
    docm = survey_package(
        plain_zip({"[Content_Types].xml": types(word), "word/vbaProject.bin": vba})
    )
    assert docm is not None and docm.ole_parts == ("word/vbaProject.bin",)
    assert not docm.may_have_dde  # msodde reads only the XML of a Word package
    for kind in (excel, word + '"/><Default Extension="bin" ContentType="' + excel):
        xlsb = survey_package(plain_zip({"[Content_Types].xml": types(kind), "xl/a.bin": b"x"}))
        assert xlsb is not None and xlsb.may_have_dde
