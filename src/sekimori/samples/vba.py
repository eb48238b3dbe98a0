"""Builder of VBA projects as Office stores them (MS-OVBA), source code only.

A VBA project is a storage (``Macros`` in a Word 97 file, the root of
``vbaProject.bin`` in OOXML) holding, per MS-OVBA 2.2 and 2.3:

- ``VBA/dir`` (2.3.4.2): the compressed project information, references and
  module records (PROJECTSYSKIND, PROJECTLCID, PROJECTCODEPAGE, PROJECTNAME,
  …, PROJECTMODULES with MODULENAME, MODULESTREAMNAME, MODULEOFFSET,
  MODULETYPE for each module);
- ``VBA/_VBA_PROJECT`` (2.3.4.1): the 7-byte header with Version 0xFFFF and no
  performance cache, which tells the VBA host to compile from source;
- one module stream per module (2.3.4.3): with MODULEOFFSET 0 it is just the
  compressed source text, starting with ``Attribute VB_Name = "..."``;
- ``PROJECT`` (2.3.1): the text project properties, with CMG/DPB/GC encrypted
  as 2.4.3 says (unprotected, no password, visible);
- ``PROJECTwm`` (2.3.3): the module names in MBCS and UTF-16.

Compression is the LZ77 scheme of MS-OVBA 2.4.1 with real copy tokens, so long
sources compress and chunk boundaries are exercised. There is no p-code: the
project is "version independent", as in files written by non-Office tools,
and oletools reads the source.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import uuid
from collections.abc import Iterable, Mapping, Sequence

from sekimori.samples import SampleError
from sekimori.samples.cfb import Storage, Stream

CHUNK_SIZE = 4096
_MAX_CANDIDATES = 48
_CODEPAGES = {1252: "cp1252", 932: "cp932"}
_HOST_EXTENDER = "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000"
_STDOLE_LIBID = (
    "*\\G{00020430-0000-0000-C000-000000000046}#2.0#0"
    "#C:\\Windows\\System32\\stdole2.tlb#OLE Automation"
)
_DOCUMENT_BASES = {
    "thisdocument": "1Normal.ThisDocument",
    "thisworkbook": "0{00020819-0000-0000-C000-000000000046}",
}
_SHEET_BASE = "0{00020820-0000-0000-C000-000000000046}"


# --- MS-OVBA 2.4.1 compression -------------------------------------------------


def _copy_token_help(difference: int) -> tuple[int, int]:
    """(bit count of the offset, maximum length) at ``difference`` bytes into a chunk.

    MS-OVBA 2.4.1.3.19.1 CopyToken Help.
    """
    bit_count = max((difference - 1).bit_length(), 4)
    return bit_count, (0xFFFF >> bit_count) + 3


def _compress_chunk(chunk: bytes) -> bytes:
    """One CompressedChunk (MS-OVBA 2.4.1.1.4) for at most 4,096 decompressed bytes."""
    out = bytearray()
    table: dict[bytes, list[int]] = {}
    size = len(chunk)
    pos = 0

    def remember(index: int) -> None:
        if index + 3 <= size:
            table.setdefault(chunk[index : index + 3], []).append(index)

    while pos < size:
        flag_index = len(out)
        out.append(0)
        flags = 0
        for bit in range(8):
            if pos >= size:
                break
            bit_count, max_length = _copy_token_help(pos)
            best_length, best_offset = 0, 0
            limit = min(max_length, size - pos)
            for candidate in reversed(table.get(chunk[pos : pos + 3], [])[-_MAX_CANDIDATES:]):
                length = 3
                while length < limit and chunk[candidate + length] == chunk[pos + length]:
                    length += 1
                if length > best_length:
                    best_length, best_offset = length, pos - candidate
                    if length == limit:
                        break
            if best_length >= 3:
                token = ((best_offset - 1) << (16 - bit_count)) | (best_length - 3)
                out += struct.pack("<H", token)
                flags |= 1 << bit
                for index in range(pos, pos + best_length):
                    remember(index)
                pos += best_length
            else:
                out.append(chunk[pos])
                remember(pos)
                pos += 1
        out[flag_index] = flags
    if len(out) > CHUNK_SIZE:
        # MS-OVBA 2.4.1.3.10: incompressible data goes in a raw chunk of 4,096 bytes.
        header = 0x3000 | (CHUNK_SIZE + 2 - 3)
        return struct.pack("<H", header) + chunk + bytes(CHUNK_SIZE - size)
    header = 0x8000 | 0x3000 | (len(out) + 2 - 3)
    return struct.pack("<H", header) + bytes(out)


def compress(data: bytes) -> bytes:
    """A CompressedContainer (MS-OVBA 2.4.1.1.1, algorithm 2.4.1.3.6) holding ``data``."""
    out = bytearray(b"\x01")
    for start in range(0, len(data), CHUNK_SIZE):
        out += _compress_chunk(data[start : start + CHUNK_SIZE])
    return bytes(out)


def decompress(container: bytes) -> bytes:
    """The data in a CompressedContainer (MS-OVBA 2.4.1.3.1); SampleError when malformed."""
    if not container or container[0] != 0x01:
        raise SampleError("compressed container does not start with 0x01")
    out = bytearray()
    pos = 1
    while pos < len(container):
        if pos + 2 > len(container):
            raise SampleError("truncated chunk header", where=f"offset {pos}")
        (header,) = struct.unpack_from("<H", container, pos)
        if (header >> 12) & 0b111 != 0b011:
            raise SampleError("bad chunk signature", where=f"offset {pos}")
        end = min(pos + (header & 0x0FFF) + 3, len(container))
        pos += 2
        chunk_start = len(out)
        if not header & 0x8000:
            out += container[pos : pos + CHUNK_SIZE]
            pos += CHUNK_SIZE
            continue
        while pos < end:
            flags = container[pos]
            pos += 1
            for bit in range(8):
                if pos >= end:
                    break
                if not flags & (1 << bit):
                    out.append(container[pos])
                    pos += 1
                    continue
                (token,) = struct.unpack_from("<H", container, pos)
                pos += 2
                bit_count, _ = _copy_token_help(len(out) - chunk_start)
                length = (token & (0xFFFF >> bit_count)) + 3
                offset = (token >> (16 - bit_count)) + 1
                if offset > len(out) - chunk_start:
                    raise SampleError("copy token before chunk start", where=f"offset {pos}")
                for _ in range(length):
                    out.append(out[-offset])
    return bytes(out)


# --- MS-OVBA 2.4.3 data encryption (PROJECT CMG, DPB, GC) ----------------------


def encrypt_data(data: bytes, project_id: str, seed: int) -> str:
    """Hex text of ``data`` encrypted as MS-OVBA 2.4.3.2 says (Version 2)."""
    version = 2
    proj_key = sum(project_id.encode("ascii")) & 0xFF
    out = bytearray([seed, seed ^ version, seed ^ proj_key])
    unencrypted1, encrypted1, encrypted2 = proj_key, out[2], out[1]

    def encrypt(values: Iterable[int]) -> None:
        nonlocal unencrypted1, encrypted1, encrypted2
        for value in values:
            byte_enc = value ^ ((encrypted2 + unencrypted1) & 0xFF)
            out.append(byte_enc)
            encrypted2, encrypted1, unencrypted1 = encrypted1, byte_enc, value

    encrypt([0x07] * ((seed & 6) // 2))
    encrypt(struct.pack("<I", len(data)))
    encrypt(data)
    return out.hex().upper()


# --- records of the dir stream (MS-OVBA 2.3.4.2) ---------------------------------


def _record(record_id: int, payload: bytes) -> bytes:
    return struct.pack("<HI", record_id, len(payload)) + payload


def _pair(record_id: int, mbcs: bytes, reserved: int, unicode: bytes) -> bytes:
    return _record(record_id, mbcs) + struct.pack("<HI", reserved, len(unicode)) + unicode


def is_document_module(name: str) -> bool:
    """Whether ``name`` is a host document module (ThisDocument, ThisWorkbook, SheetN)."""
    lowered = name.lower()
    return lowered in _DOCUMENT_BASES or (lowered.startswith("sheet") and lowered[5:].isdigit())


def module_text(name: str, source: str) -> str:
    """The stored text of a module: its attributes then ``source`` with CRLF line ends."""
    lines = [f'Attribute VB_Name = "{name}"']
    if is_document_module(name):
        lowered = name.lower()
        base = _DOCUMENT_BASES.get(lowered, _SHEET_BASE)
        derived = "True" if lowered == "thisdocument" else "False"
        lines += [
            f'Attribute VB_Base = "{base}"',
            "Attribute VB_GlobalNameSpace = False",
            "Attribute VB_Creatable = False",
            "Attribute VB_PredeclaredId = True",
            "Attribute VB_Exposed = True",
            f"Attribute VB_TemplateDerived = {derived}",
            "Attribute VB_Customizable = True",
        ]
    body = source.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    text = "\r\n".join(lines) + "\r\n"
    if body:
        text += body.replace("\n", "\r\n") + "\r\n"
    return text


def _dir_stream(project_name: str, names: list[str], codec: str, codepage: int) -> bytes:
    def mbcs(text: str) -> bytes:
        return text.encode(codec)

    def utf16(text: str) -> bytes:
        return text.encode("utf-16-le")

    out = bytearray()
    out += _record(0x0001, struct.pack("<I", 0x01))  # PROJECTSYSKIND: Win32
    out += _record(0x0002, struct.pack("<I", 0x0409))  # PROJECTLCID (MUST be 0x409)
    out += _record(0x0014, struct.pack("<I", 0x0409))  # PROJECTLCIDINVOKE
    out += _record(0x0003, struct.pack("<H", codepage))  # PROJECTCODEPAGE
    out += _record(0x0004, mbcs(project_name))  # PROJECTNAME
    out += _pair(0x0005, b"", 0x0040, b"")  # PROJECTDOCSTRING
    out += _pair(0x0006, b"", 0x003D, b"")  # PROJECTHELPFILEPATH
    out += _record(0x0007, struct.pack("<I", 0))  # PROJECTHELPCONTEXT
    out += _record(0x0008, struct.pack("<I", 0))  # PROJECTLIBFLAGS
    out += struct.pack("<HIIH", 0x0009, 4, 1, 0)  # PROJECTVERSION
    out += _pair(0x000C, b"", 0x003C, b"")  # PROJECTCONSTANTS
    # One REFERENCE (2.3.4.2.2): stdole, present in every project Office writes.
    out += _pair(0x0016, b"stdole", 0x003E, utf16("stdole"))  # REFERENCENAME
    libid = _STDOLE_LIBID.encode("ascii")
    registered = struct.pack("<I", len(libid)) + libid + struct.pack("<IH", 0, 0)
    out += _record(0x000D, registered)  # REFERENCEREGISTERED
    out += _record(0x000F, struct.pack("<H", len(names)))  # PROJECTMODULES
    out += _record(0x0013, struct.pack("<H", 0xFFFF))  # PROJECTCOOKIE
    for name in names:
        out += _record(0x0019, mbcs(name))  # MODULENAME
        out += _record(0x0047, utf16(name))  # MODULENAMEUNICODE
        out += _pair(0x001A, mbcs(name), 0x0032, utf16(name))  # MODULESTREAMNAME
        out += _pair(0x001C, b"", 0x0048, b"")  # MODULEDOCSTRING
        out += _record(0x0031, struct.pack("<I", 0))  # MODULEOFFSET: source at 0
        out += _record(0x001E, struct.pack("<I", 0))  # MODULEHELPCONTEXT
        out += _record(0x002C, struct.pack("<H", 0xFFFF))  # MODULECOOKIE
        module_type = 0x0022 if is_document_module(name) else 0x0021  # MODULETYPE
        out += struct.pack("<HI", module_type, 0)
        out += struct.pack("<HI", 0x002B, 0)  # MODULE Terminator
    out += struct.pack("<HI", 0x0010, 0)  # dir Terminator
    return bytes(out)


def _project_stream(
    project_name: str, names: list[str], project_id: str, codec: str, seed: int
) -> bytes:
    lines = [f'ID="{project_id}"']
    for name in names:
        if is_document_module(name):
            lines.append(f"Document={name}/&H00000000")
        else:
            lines.append(f"Module={name}")
    # Unprotected (CMG), no password (DPB), visible (GC): MS-OVBA 2.3.1.15-17.
    cmg = encrypt_data(bytes(4), project_id, seed)
    dpb = encrypt_data(bytes(1), project_id, (seed + 1) & 0xFF)
    gc = encrypt_data(bytes([0xFF]), project_id, (seed + 2) & 0xFF)
    lines += [
        f'Name="{project_name}"',
        'HelpContextID="0"',
        'VersionCompatible32="393222000"',
        f'CMG="{cmg}"',
        f'DPB="{dpb}"',
        f'GC="{gc}"',
        "",
        "[Host Extender Info]",
        _HOST_EXTENDER,
        "",
        "[Workspace]",
    ]
    lines += [f"{name}=0, 0, 0, 0, C" for name in names]
    return ("\r\n".join(lines) + "\r\n").encode(codec)


def _projectwm_stream(names: list[str], codec: str) -> bytes:
    out = bytearray()
    for name in names:
        out += name.encode(codec) + b"\x00" + name.encode("utf-16-le") + b"\x00\x00"
    return bytes(out + b"\x00\x00")


def _fits(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def build_vba_project(
    modules: Mapping[str, str],
    *,
    project_name: str = "Project",
    codepage: int | None = None,
    storage_name: str = "Macros",
) -> Storage:
    """A VBA project storage (MS-OVBA 2.2.1) holding ``modules`` (name -> source).

    Module names ThisDocument, ThisWorkbook and SheetN become document modules
    (MODULETYPE 0x0022), others procedural modules (0x0021). Sources may use
    any line ends; they are stored with CRLF after the ``Attribute`` lines that
    :func:`module_text` adds, which is exactly what olevba extracts. ``codepage``
    is 1252 (Western) or 932 (Japanese, Shift_JIS): the project text, module
    names and sources are stored in it. None picks 1252 when every source fits
    in it and 932 otherwise.

    The returned storage is named ``storage_name`` ("Macros" for Word 97
    documents); write it with :func:`~sekimori.samples.cfb.write_cfb` as the
    root of ``vbaProject.bin`` for OOXML.
    """
    if codepage is None:
        codepage = 1252 if all(_fits(text, "cp1252") for text in modules.values()) else 932
    codec = _CODEPAGES.get(codepage)
    if codec is None:
        raise SampleError(f"unsupported code page {codepage}; use 1252 or 932")
    if not modules:
        raise SampleError("a VBA project needs at least one module")
    names = list(modules)
    for name in names:
        if not name.isidentifier() or len(name) > 31:
            raise SampleError(f"not a VBA module name: {name!r}", where=project_name)
    if not project_name.isidentifier():
        raise SampleError(f"not a VBA project name: {project_name!r}")
    digest = hashlib.sha256("\x00".join([project_name, *names]).encode("utf-8")).digest()
    project_id = "{" + str(uuid.UUID(bytes=digest[:16])).upper() + "}"
    try:
        vba = Storage("VBA")
        vba.children.append(Stream("_VBA_PROJECT", struct.pack("<HHBH", 0x61CC, 0xFFFF, 0, 0)))
        vba.children.append(
            Stream("dir", compress(_dir_stream(project_name, names, codec, codepage)))
        )
        for name in names:
            text = module_text(name, modules[name]).encode(codec)
            vba.children.append(Stream(name, compress(text)))
        project = _project_stream(project_name, names, project_id, codec, digest[16])
        projectwm = _projectwm_stream(names, codec)
    except UnicodeEncodeError as exc:
        raise SampleError(f"text not representable in code page {codepage}: {exc}") from exc
    return Storage(
        storage_name,
        children=[vba, Stream("PROJECT", project), Stream("PROJECTwm", projectwm)],
    )


# --- inert macro sources ------------------------------------------------------------

INERT_URLS = (
    "http://update-check.invalid/wp-content/plugins/a/",
    "http://cdn-files.invalid/images/b/",
    "http://203.0.113.10/invoice/c/",
    "http://198.51.100.23/wp-admin/d/",
    "http://192.0.2.77/content/e/",
)


def encoded_powershell(script: str) -> str:
    """The base64 of ``script`` in UTF-16LE, as ``powershell -enc`` takes it."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def inert_powershell(urls: Sequence[str] = INERT_URLS) -> str:
    """A PowerShell script shaped like an Emotet downloader that only prints a line.

    It assigns a list of URLs (under ``.invalid`` and TEST-NET) to a variable
    and runs ``Write-Output 'detector-test'``; nothing is fetched or written.
    """
    quoted = ",".join(f"'{url}'" for url in urls)
    return f"$urls = @({quoted}); Write-Output 'detector-test'"


def inert_dropper_source(trigger: str = "AutoOpen", urls: Sequence[str] = INERT_URLS) -> str:
    """VBA that looks like an Emotet dropper: an auto-exec Sub that shells PowerShell.

    ``trigger`` names the auto-exec Sub (AutoOpen, Document_Open, Workbook_Open,
    Auto_Open). The command is ``powershell -enc`` of :func:`inert_powershell`
    and is started through both ``Shell`` and ``WScript.Shell``, so olevba
    reports the auto-exec keyword and Shell, CreateObject, WScript.Shell,
    powershell. Running it prints ``detector-test`` twice.
    """
    if not trigger.isidentifier():
        raise SampleError(f"not a VBA procedure name: {trigger!r}")
    encoded = encoded_powershell(inert_powershell(urls))
    return (
        f"Sub {trigger}()\n"
        "    Dim cmd As String\n"
        f'    cmd = "powershell -w hidden -enc " & "{encoded}"\n'
        "    Shell cmd, vbHide\n"
        '    CreateObject("WScript.Shell").Run cmd, 0, False\n'
        "End Sub\n"
    )


def _vba_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def obfuscated_dropper_source(
    trigger: str = "Document_Open", urls: Sequence[str] = INERT_URLS
) -> str:
    """The inert dropper hidden the way Emotet macros hide it, still harmless.

    ``powershell`` is built by StrReverse, the ``-enc`` switch by Replace of a
    filler, the base64 in 40-character pieces joined with ``&``, and the
    ``winmgmts:`` moniker partly from ``Chr()`` calls; the process is started
    through WMI ``Win32_Process.Create`` (GetObject), not Shell. Decoding it
    gives :func:`inert_powershell`, which prints ``detector-test``.
    """
    if not trigger.isidentifier():
        raise SampleError(f"not a VBA procedure name: {trigger!r}")
    encoded = encoded_powershell(inert_powershell(urls))
    pieces = [encoded[i : i + 40] for i in range(0, len(encoded), 40)]
    joined = " & _\n        ".join(_vba_string(piece) for piece in pieces)
    moniker = " & ".join(f"Chr({ord(c)})" for c in "winm") + ' & "gmts:Win32_Process"'
    return (
        f"Sub {trigger}()\n"
        "    Dim q7, zx, kk As String\n"
        f"    q7 = StrReverse({_vba_string('llehsrewop')})\n"
        f'    zx = Replace({_vba_string(" -w]]] hidden -e]]]nc ")}, {_vba_string("]]]")}, "")\n'
        f"    kk = {joined}\n"
        f"    GetObject({moniker}).Create q7 & zx & kk, Null, Null, pid\n"
        "End Sub\n"
    )
