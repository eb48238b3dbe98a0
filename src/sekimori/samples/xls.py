"""Builder of Excel 97-2003 workbooks (.xls, BIFF8) with Excel 4.0 (XLM) or VBA macros.

The ``Workbook`` stream is a sequence of BIFF8 records (MS-XLS 2.1.4): a
globals substream (BOF 2.4.21, CODEPAGE, BoundSheet8 2.4.28 per sheet,
SupBook/ExternSheet for 3-D references, Lbl 2.4.150 for the ``Auto_Open``
built-in name, EOF) followed by one substream per sheet. Macro sheets are
BoundSheet8 ``dt = 1`` with a BOF of type 0x0040, their cells Formula
records (2.4.127) whose parsed formulas (2.5.198) this module compiles from
a small subset of the XLM language: ``NAME(arg, ...)`` with string, integer
and nested-call arguments. VBA goes in the ``_VBA_PROJECT_CUR`` storage
(MS-OVBA 2.2.1) with the ThisWorkbook and Sheet1 document modules.

oletools' ``plugin_biff`` (run by olevba's ``detect_xlm_macros``) reports the
macro sheet, the ``Auto_Open`` label and the formulas.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence

from sekimori.samples import SampleError
from sekimori.samples.cfb import Storage, Stream, write_cfb
from sekimori.samples.office import DEFAULT_XLM_FORMULAS, Cell, Macros, macro_modules
from sekimori.samples.propset import STREAM_NAME as SUMMARY_STREAM
from sekimori.samples.propset import SummaryInformation, build_summary_information
from sekimori.samples.vba import build_vba_project

EXCEL_CLSID = bytes.fromhex("2008020000000000C000000000000046")  # {00020820-...} Excel.Sheet.8

# Function numbers of the XLM functions and commands (MS-XLS 2.5.198.17 Ftab/Cetab).
XLM_FUNCTIONS = {
    "GOTO": 0x0035,
    "HALT": 0x0036,
    "RETURN": 0x0037,
    "EXEC": 0x006E,
    "CHAR": 0x006F,
    "FOPEN": 0x0084,
    "FCLOSE": 0x0085,
    "FWRITE": 0x008A,
    "REGISTER": 0x0095,
    "CALL": 0x0096,
    "GET.WORKSPACE": 0x00BA,
    "CONCATENATE": 0x0150,
    "RUN": 0x8011,
    "FORMULA": 0x8060,
    "ALERT": 0x8076,
    "WORKBOOK.HIDE": 0x817F,
}

_BOF = 0x0809
_EOF = 0x000A
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"]|"")*")|(?P<num>\d+)|(?P<name>[A-Za-z][\w.]*)|(?P<op>[(),]))'
)


def _record(opcode: int, payload: bytes = b"") -> bytes:
    if len(payload) > 8224:
        raise SampleError(f"BIFF record 0x{opcode:04X} longer than 8,224 bytes")
    return struct.pack("<HH", opcode, len(payload)) + payload


def _bof(kind: int) -> bytes:
    # vers 0x0600 (BIFF8), dt, rupBuild, rupYear 1997, bfh and sfo flags.
    return _record(_BOF, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0x000080C9, 0x0206))


def _short_string(text: str) -> bytes:
    """A ShortXLUnicodeString (MS-XLS 2.5.240): 8-bit length, then 8- or 16-bit chars."""
    if len(text) > 255:
        raise SampleError(f"string longer than 255 characters: {text[:20]!r}…")
    try:
        return struct.pack("<BB", len(text), 0) + text.encode("latin-1")
    except UnicodeEncodeError:
        return struct.pack("<BB", len(text), 1) + text.encode("utf-16-le")


def _unicode_string(text: str) -> bytes:
    """An XLUnicodeString (MS-XLS 2.5.294): 16-bit length, then 8- or 16-bit chars."""
    try:
        return struct.pack("<HB", len(text), 0) + text.encode("latin-1")
    except UnicodeEncodeError:
        return struct.pack("<HB", len(text), 1) + text.encode("utf-16-le")


def compile_formula(formula: str) -> bytes:
    """The Rgce (MS-XLS 2.5.198.103) of ``NAME(arg, ...)`` in reverse Polish order.

    Arguments are string literals (PtgStr), integers up to 65,535 (PtgInt) or
    nested calls; every call is a PtgFuncVar (value class, 0x42) with its
    argument count and function number from :data:`XLM_FUNCTIONS`.
    """
    tokens = []
    text = formula.strip().removeprefix("=")
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise SampleError(f"cannot parse formula at {position}: {text[position:]!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    out = bytearray()
    index = 0

    def expect(kind: str, value: str | None = None) -> str:
        nonlocal index
        if index >= len(tokens) or tokens[index][0] != kind:
            raise SampleError(f"bad formula {formula!r}: expected {value or kind}")
        if value is not None and tokens[index][1] != value:
            raise SampleError(f"bad formula {formula!r}: expected {value!r}")
        index += 1
        return tokens[index - 1][1]

    def expression() -> None:
        nonlocal index
        if index >= len(tokens):
            raise SampleError(f"bad formula {formula!r}: unexpected end")
        kind, value = tokens[index]
        if kind == "str":
            index += 1
            out.append(0x17)
            out.extend(_short_string(value[1:-1].replace('""', '"')))
        elif kind == "num":
            index += 1
            number = int(value)
            if number > 0xFFFF:
                raise SampleError(f"integer too large for PtgInt: {number}")
            out.append(0x1E)
            out.extend(struct.pack("<H", number))
        elif kind == "name":
            index += 1
            function = XLM_FUNCTIONS.get(value.upper())
            if function is None:
                raise SampleError(f"unknown XLM function {value!r}")
            expect("op", "(")
            count = 0
            if index < len(tokens) and tokens[index] != ("op", ")"):
                expression()
                count = 1
                while index < len(tokens) and tokens[index] == ("op", ","):
                    index += 1
                    expression()
                    count += 1
            expect("op", ")")
            out.append(0x42)
            out.extend(struct.pack("<BH", count, function))
        else:
            raise SampleError(f"bad formula {formula!r}: unexpected {value!r}")

    expression()
    if index != len(tokens):
        raise SampleError(f"bad formula {formula!r}: trailing {tokens[index][1]!r}")
    return bytes(out)


def _formula_record(row: int, col: int, formula: str) -> bytes:
    rgce = compile_formula(formula)
    # FormulaValue 0xFFFF in the top bytes with type 0 = a string result follows (none here).
    value = struct.pack("<BBBBBBH", 0, 0, 0, 0, 0, 0, 0xFFFF)
    payload = struct.pack("<HHH", row, col, 15) + value + struct.pack("<HI", 0x0002, 0)
    return _record(0x0006, payload + struct.pack("<H", len(rgce)) + rgce)


def _cell_record(row: int, col: int, value: Cell) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _record(0x0204, struct.pack("<HHH", row, col, 15) + _unicode_string(str(value)))
    return _record(0x0203, struct.pack("<HHHd", row, col, 15, float(value)))


def _dimensions(rows: int, cols: int) -> bytes:
    return _record(0x0200, struct.pack("<IIHHH", 0, rows, 0, cols, 0))


def _sheet(kind: int, body: bytes, rows: int, cols: int) -> bytes:
    window2 = _record(0x023E, struct.pack("<9H", 0x06B6, 0, 0, 0x40, 0, 0, 0, 0, 0))
    return _bof(kind) + _dimensions(rows, cols) + body + window2 + _record(_EOF)


def _workbook(
    rows: Sequence[Sequence[Cell]], formulas: Sequence[str] | None, with_vba: bool
) -> bytes:
    """The Workbook stream: globals, then Sheet1 and (if formulas) the macro sheet."""
    sheet_body = b"".join(
        _cell_record(r, c, value) for r, row in enumerate(rows) for c, value in enumerate(row)
    )
    width = max((len(row) for row in rows), default=0)
    sheets: list[tuple[str, int, int, bytes]] = [
        ("Sheet1", 0, 0, _sheet(0x0010, sheet_body, len(rows), width))
    ]
    if formulas is not None:
        macro_body = b"".join(_formula_record(i, 0, f) for i, f in enumerate(formulas))
        sheets.append(("Macro1", 1, 1, _sheet(0x0040, macro_body, len(formulas), 1)))

    def globals_substream(offsets: Sequence[int]) -> bytes:
        out = bytearray(_bof(0x0005))
        out += _record(0x00E1, struct.pack("<H", 0x04B0))  # InterfaceHdr: UTF-16
        out += _record(0x0042, struct.pack("<H", 1200))  # CodePage: UTF-16
        if with_vba:
            out += _record(0x00D3)  # ObProj: the workbook has a VBA project
            out += _record(0x01BA, _unicode_string("ThisWorkbook"))  # CodeName
        window1 = struct.pack("<9H", 0, 0, 0x4000, 0x2000, 0x38, 0, 0, 1, 0x0258)
        out += _record(0x003D, window1)  # Window1
        for (name, state, kind, _), offset in zip(sheets, offsets, strict=True):
            out += _record(0x0085, struct.pack("<IBB", offset, state, kind) + _short_string(name))
        if formulas is not None:
            macro_index = len(sheets) - 1
            out += _record(0x01AE, struct.pack("<HH", len(sheets), 0x0401))  # SupBook: self
            out += _record(0x0017, struct.pack("<HHHH", 1, 0, macro_index, macro_index))
            # Lbl: hidden built-in name 0x01 (Auto_Open) = Macro1!$A$1 (PtgRef3d, 2.5.198.85).
            rgce = struct.pack("<BHHH", 0x3A, 0, 0, 0x0000)
            lbl = struct.pack("<HBBHHHBBBB", 0x0021, 0, 1, len(rgce), 0, 0, 0, 0, 0, 0)
            out += _record(0x0018, lbl + b"\x00\x01" + rgce)
        out += _record(_EOF)
        return bytes(out)

    # BoundSheet8 needs each sheet's stream offset, which depends on the globals' size.
    size = len(globals_substream([0] * len(sheets)))
    offsets = []
    for _, _, _, data in sheets:
        offsets.append(size)
        size += len(data)
    return globals_substream(offsets) + b"".join(data for _, _, _, data in sheets)


def build_xls(
    rows: Sequence[Sequence[Cell]] = (),
    *,
    xlm_formulas: Sequence[str] | None = None,
    vba: Macros | bool = False,
    metadata: SummaryInformation | None = None,
) -> bytes:
    r"""An Excel 97-2003 workbook (.xls) of ``rows``, optionally with macros.

    ``xlm_formulas`` adds a hidden Excel 4.0 macro sheet run by ``Auto_Open``;
    ``vba`` (True for the inert dropper, or modules / ThisWorkbook source)
    adds a ``_VBA_PROJECT_CUR`` storage. ``metadata`` goes in
    ``\x05SummaryInformation``.
    """
    if xlm_formulas is not None and not xlm_formulas:
        raise SampleError("an XLM macro sheet needs at least one formula")
    with_vba = vba is not False
    root = Storage("Root Entry", clsid=EXCEL_CLSID)
    info = metadata or SummaryInformation(
        author="user", app_name="Microsoft Excel", template="", codepage=1252
    )
    root.children.append(Stream("Workbook", _workbook(rows, xlm_formulas, with_vba)))
    root.children.append(Stream(SUMMARY_STREAM, build_summary_information(info)))
    if with_vba:
        source: Macros = None if isinstance(vba, bool) else vba
        modules = dict(macro_modules(source, "ThisWorkbook"))
        modules.setdefault("Sheet1", "")
        root.children.append(build_vba_project(modules, storage_name="_VBA_PROJECT_CUR"))
    return write_cfb(root)


def build_xls_with_xlm(
    formulas: Sequence[str] = DEFAULT_XLM_FORMULAS, rows: Sequence[Sequence[Cell]] = ()
) -> bytes:
    """A .xls with a hidden Excel 4.0 macro sheet whose ``Auto_Open`` runs ``formulas``."""
    return build_xls(rows or [["請求書", 1200]], xlm_formulas=formulas)


def build_xls_with_macros(vba: Macros = None, rows: Sequence[Sequence[Cell]] = ()) -> bytes:
    """A .xls with a VBA project (default: the inert dropper on ``Workbook_Open``)."""
    return build_xls(rows or [["請求書", 1200]], vba=vba if vba is not None else True)
