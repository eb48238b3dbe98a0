"""Office documents: VBA and Excel 4.0/XLM macros, DDE, encryption (oletools, msoffcrypto).

What it reports follows olevba and MacroRaptor (decalage2/oletools): VBA
source of every module, AutoExec triggers, suspicious keywords (grouped into
execution, download and obfuscation by olevba's own descriptions), IOCs,
the strings olevba decodes (hex, Base64, Dridex, VBA expressions), and
MacroRaptor's A+W/X classification (``office.mraptor_suspicious``). XLM
macro sheets are found by olevba in .xls and SYLK (plugin_biff) and, for
.xlsm/.xlsb, by their ``macrosheets/`` part. DDE fields come from msodde.
Encrypted files are opened with msoffcrypto using Excel's default
``VelvetSweatshop`` and the passwords written in the message; the
decrypted file becomes a child of the encrypted one. Macro text and XLM
formulas go through ``decode.py`` so that what they would run is decoded.

An OOXML package is read once first (``survey_package``): olevba only finds
VBA and XLM in OLE parts of a package, and msodde only reports field codes
and ``ddeLink`` elements, so a package with neither is not handed to them.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from sekimori.mail.context import ScanContext
from sekimori.mail.decode import analyze_text
from sekimori.mail.embedded import extract_embedded
from sekimori.mail.observables import find_urls, merge, url_observables
from sekimori.mail.result import Analysis, Child
from sekimori.mail.vbakeywords import keyword_search

log = logging.getLogger(__name__)

DEFAULT_PASSWORDS = ("VelvetSweatshop",)
_MAX_CODE_EVIDENCE = 2000
_XLM_EXEC_RE = re.compile(
    r"(?i)\b(?:EXEC|CALL|RUN|REGISTER|FORMULA(?:\.FILL)?|URLDownloadToFile\w*|ShellExecute\w*)\s*\("
)
# olevba yields XLM dumps and P-code listings as pseudo-modules under these names.
_PSEUDO_MODULES = ("xlm_macro.txt", "VBA_P-code.txt")
_XLM_DOWNLOAD_RE = re.compile(r"(?i)urlmon|URLDownloadToFile|WinHttp|XMLHTTP")
_XLM_AUTO_RE = re.compile(r"(?i)auto_open|auto_close|_xlnm\.auto")
_XLM_FORMULA_RE = re.compile(r"<f[^>]{0,1000}>([^<]{0,100000})</f>")
_WORKBOOK_RE = re.compile(r"xl/workbook\.(xml|bin)$")
_UTF16_RE = re.compile(rb"(?:[\x20-\x7e]\x00){4,}")
_ASCII_RE = re.compile(rb"[\x20-\x7e]{6,}")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# What msodde looks for in a package: Word field codes (fldSimple, fldChar,
# instrText) and Excel ddeLink elements, matched on lower-cased text with NULs
# dropped so that UTF-16 and UTF-32 parts match too. A part declaring any other
# encoding is handed to msodde without looking.
_FIELD_MARKERS = (b"ddelink", b"instrtext", b"fldchar", b"fldsimple")
_PLAIN_ENCODING_RE = re.compile(
    rb"""encoding\s*=\s*["'](?:utf-?8|utf-?16(?:le|be)?|utf-?32(?:le|be)?|us-ascii|ascii)["']"""
)
_XML_PARTS = (".xml", ".rels", ".vml")
_IMAGE_PARTS = (".png", ".jpeg", ".jpg", ".gif", ".emf", ".wmf", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True, slots=True)
class PackageSurvey:
    """What one read of an OOXML package tells about it.

    ``ole_parts``: parts that are OLE files (where olevba finds VBA and XLM);
    ``may_have_dde``: a part holds a field code, a ``ddeLink``, or is binary
    (msodde must look).
    """

    ole_parts: tuple[str, ...]
    may_have_dde: bool


class _Package(zipfile.ZipFile):
    """An OOXML package whose small parts are read (inflated, checked) once for every look.

    The survey, the XLM and the embedded-object looks read the same parts
    (``[Content_Types].xml``, the ``.rels``); a part is kept up to
    ``_KEEP_PART`` bytes, and ``_KEEP_ALL`` in all.
    """

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self._kept: dict[str, bytes] = {}
        self._kept_bytes = 0

    def read(self, name: str | zipfile.ZipInfo, pwd: bytes | None = None) -> bytes:
        # By name only: a ZipInfo may be one of two members of the same name.
        if not isinstance(name, str) or pwd is not None:
            return super().read(name, pwd)
        kept = self._kept.get(name)
        if kept is not None:
            return kept
        content = super().read(name)
        if len(content) <= _KEEP_PART and self._kept_bytes < _KEEP_ALL:
            self._kept[name] = content
            self._kept_bytes += len(content)
        return content


_KEEP_PART = 256 * 1024
_KEEP_ALL = 4 * 1024 * 1024


def open_package(data: bytes) -> zipfile.ZipFile | None:
    """The zip container of an OOXML package, opened once for every look at it; None if none."""
    if not data.startswith(b"PK"):
        return None
    try:
        return _Package(data)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return None


# Content types as msodde (oletools.ooxml.get_type) tells Word, Excel and PowerPoint apart.
_EXCEL_TYPES = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.",
    "application/vnd.ms-excel.",
)
# Any of these and no Excel type: msodde reads the package as Word (XML only).
_NOT_EXCEL_TYPES = (
    "application/vnd.openxmlformats-officedocument.wordprocessingml.",
    "application/vnd.openxmlformats-officedocument.presentationml.",
    "application/vnd.ms-word.",
    "application/vnd.ms-powerpoint.",
)


def survey_package(data: bytes, zf: zipfile.ZipFile | None = None) -> PackageSurvey | None:
    """Read an OOXML package once; None when it is not a well-formed one (full analysis).

    ``zf`` is the package already opened by ``open_package`` (else it is opened here).
    """
    if not data.startswith(b"PK"):
        return None
    try:
        if zf is None:
            with zipfile.ZipFile(io.BytesIO(data)) as own:
                return _survey(own)
        return _survey(zf)
    except (
        zipfile.BadZipFile,
        ElementTree.ParseError,
        OSError,
        KeyError,
        ValueError,
        EOFError,
        NotImplementedError,
        RuntimeError,
        zlib.error,
    ):
        return None


def _survey(zf: zipfile.ZipFile) -> PackageSurvey | None:
    names = zf.namelist()
    if "[Content_Types].xml" not in names:
        return None
    types = zf.read("[Content_Types].xml")
    if len(types) > 1_000_000 or b"<!ENTITY" in types:
        return None
    # msodde parses this part too; one it cannot parse sends the file down
    # another path, so such a package gets the full analysis.
    root = ElementTree.fromstring(types)  # noqa: S314 (bounded, no entities)
    declared = [str(e.get("ContentType") or "") for e in root.iter()]
    excel = any(t.startswith(_EXCEL_TYPES) for t in declared)
    other = any(t.startswith(_NOT_EXCEL_TYPES) for t in declared)
    # msodde reads binary parts only in Excel packages (.xlsb records); a Word or
    # PowerPoint package's binary parts (vbaProject.bin, images) are not its business.
    binary_matters = excel or not other
    ole_parts: list[str] = []
    fields = binary = False
    for part in names:
        lower = part.lower()
        markup = lower.endswith(_XML_PARTS) and not fields
        # Of any other part (images, vbaProject.bin), only the head tells: an OLE file or not.
        content = zf.read(part) if markup else _head(zf, part)
        if content.startswith(_OLE_MAGIC):
            ole_parts.append(part)
        if not markup:
            binary = binary or not (fields or lower.endswith(_IMAGE_PARTS))
            continue
        text = content.replace(b"\x00", b"").lower()
        head = text[:300]
        odd = b"encoding" in head and not _PLAIN_ENCODING_RE.search(head)
        fields = odd or any(marker in text for marker in _FIELD_MARKERS)
    return PackageSurvey(tuple(ole_parts), fields or (binary and binary_matters))


def _head(zf: zipfile.ZipFile, part: str) -> bytes:
    with zf.open(part) as fh:
        return fh.read(len(_OLE_MAGIC))


def _category(description: str, keyword: str) -> str | None:
    text = f"{description} {keyword}".lower()
    if "download" in text:
        return "download"
    if "obfuscat" in text or "stomping" in text or "encoded strings" in text:
        return "obfuscation"
    if any(
        word in text
        for word in (
            "run ",
            "execute",
            "ole object",
            "powershell",
            "shellcode",
            "inject",
            "dll",
            "application (if",
        )
    ):
        return "execution"
    return None


def is_encrypted(data: bytes) -> bool:
    """True when ``data`` is an encrypted Office file (msoffcrypto's test)."""
    import msoffcrypto

    try:
        return bool(msoffcrypto.OfficeFile(io.BytesIO(data)).is_encrypted())
    except Exception:  # msoffcrypto raises assorted errors on files it does not know
        log.debug("msoffcrypto could not tell whether the file is encrypted", exc_info=True)
        return False


def decrypt(data: bytes, passwords: tuple[str, ...]) -> tuple[bytes, str] | None:
    """``(decrypted bytes, password)`` for the first password that opens ``data``."""
    import msoffcrypto

    for password in passwords:
        try:
            office = msoffcrypto.OfficeFile(io.BytesIO(data))
            office.load_key(password=password)
            out = io.BytesIO()
            office.decrypt(out)
        except Exception:  # wrong password, unsupported cipher: msoffcrypto's types vary
            log.debug("password %r does not open the document", password, exc_info=True)
            continue
        plain = out.getvalue()
        # A wrong key can "decrypt" to noise without complaint: keep only real documents.
        if plain.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            return plain, password
    return None


def analyze_office(data: bytes, name: str, ctx: ScanContext) -> Analysis:
    """Analyze an OLE/OOXML/SYLK/Office-XML/CSV document or plain VBA source."""
    result = Analysis(kind="office")
    if data.startswith(b"\xd0\xcf\x11\xe0") and is_encrypted(data):
        result.facts["encrypted"] = True
        opened = decrypt(data, (*DEFAULT_PASSWORDS, *ctx.passwords))
        if opened is None:
            result.hit("office.encrypted_locked", tried=len(ctx.passwords) + 1)
            result.unscannable = "encrypted with an unknown password"
            return result
        plain, password = opened
        result.facts["password"] = password
        result.hit("office.encrypted_opened", password=password)
        result.children.append(Child(f"{name} (decrypted)", plain))
        return result
    package = open_package(data)
    try:
        _analyze_unencrypted(data, name, ctx, package, result)
    finally:
        if package is not None:
            package.close()
    return result


def _analyze_unencrypted(
    data: bytes,
    name: str,
    ctx: ScanContext,
    package: zipfile.ZipFile | None,
    result: Analysis,
) -> None:
    """Every look at one document; an OOXML package's zip is opened once for all of them."""
    bomb = _package_bomb(package, ctx)
    if bomb is not None:
        result.hit("archive.bomb", limit=bomb)
        result.unscannable = f"Office package beyond the {bomb} limit"
        return
    survey = survey_package(data, package) if package is not None else None
    if survey is None or survey.ole_parts:
        _macros(data, name, result)
    else:
        # What olevba reports for a package without OLE parts: no VBA, no XLM.
        result.facts["container"] = "OpenXML"
    if package is not None:
        _xlm_ooxml(package, result)
    if survey is None or survey.may_have_dde:
        result.merge(analyze_dde(data, name, ctx))
    embedded, external = extract_embedded(data, package)
    for child in embedded:
        result.children.append(child)
    if embedded:
        result.hit("office.embedded_object", files=[c.name for c in embedded][:20])
    if external:
        result.hit("office.external_template", targets=external[:10])
        merge(result.observables, url_observables(u for u in external if "://" in u))
        result.urls.extend(u for u in external if "://" in u and u not in result.urls)


def _package_bomb(package: zipfile.ZipFile | None, ctx: ScanContext) -> str | None:
    """Which limit an OOXML package breaks (parts are zip members), or None."""
    if package is None:
        return None
    limits = ctx.limits
    infos = package.infolist()
    if len(infos) > limits.max_members * 10:
        return "part count"
    if sum(i.file_size for i in infos) > limits.max_total_size:
        return "total size"
    for info in infos:
        too_big = info.file_size > limits.max_file_size
        ratio = info.file_size / max(1, info.compress_size)
        if too_big or (info.file_size > limits.ratio_floor and ratio > limits.max_ratio):
            return "part size or ratio"
    return None


def _macros(data: bytes, name: str, result: Analysis) -> None:
    from oletools import mraptor
    from oletools.olevba import VBA_Parser

    try:
        parser = VBA_Parser(name or "document", data=data)
    except Exception as exc:  # olevba raises FileOpenError and parser errors of its libraries
        result.facts["olevba"] = f"not an Office file for olevba: {type(exc).__name__}"
        return
    try:
        vba = bool(parser.detect_vba_macros())
        xlm = bool(parser.detect_xlm_macros())
        result.facts["container"] = str(parser.type)
        if not (vba or xlm):
            return
        modules = parser.extract_all_macros()
        vba_modules = [
            (str(stream), str(vba_name), str(code))
            for (_, stream, vba_name, code) in modules
            if isinstance(code, str) and vba_name not in _PSEUDO_MODULES
        ]
        code = "\n".join(c for (_, _, c) in vba_modules)
        # MacroRaptor reads what its command line reads: every module, XLM dumps included.
        raptor_code = str(parser.get_vba_code_all_modules()) if vba else ""
        with keyword_search():
            results = parser.analyze_macros(show_decoded_strings=True) or []
        xlm_text = "\n".join(str(line) for line in (parser.xlm_macros or []))
        stomping = any(k == "VBA Stomping" for (_, k, _) in results)
    except Exception as exc:  # a broken VBA project must not hide the rest of the file
        result.hit("scan.parser_error", parser="olevba", error=f"{type(exc).__name__}: {exc}")
        return
    finally:
        parser.close()
    _report_vba(vba_modules, code, results, result, vba=vba, stomping=stomping)
    if vba and raptor_code.strip():
        raptor = mraptor.MacroRaptor(raptor_code)
        raptor.scan()
        result.facts["mraptor"] = raptor.get_flags() or "-"
        if raptor.suspicious:
            result.hit(
                "office.mraptor_suspicious", flags=raptor.get_flags(), matches=raptor.matches[:10]
            )
    if xlm:
        _report_xlm(xlm_text, result)


def _report_vba(
    modules: list[tuple[str, str, str]],
    code: str,
    results: list[Any],
    result: Analysis,
    *,
    vba: bool,
    stomping: bool,
) -> None:
    autoexec: list[str] = []
    found: dict[str, list[str]] = {"execution": [], "download": [], "obfuscation": []}
    decoded: list[dict[str, str]] = []
    iocs: list[str] = []
    for kind, keyword, description in results:
        kind, keyword, description = str(kind), str(keyword), str(description)
        if kind == "AutoExec":
            autoexec.append(keyword)
        elif kind == "Suspicious":
            category = _category(description, keyword)
            if category and keyword not in found[category]:
                found[category].append(keyword)
        elif kind == "IOC":
            iocs.append(keyword)
        elif kind in ("Hex String", "Base64 String", "Dridex string", "VBA string"):
            decoded.append({"type": kind, "encoded": keyword[:200], "decoded": description[:200]})
    if vba and code.strip():
        result.facts["vba_modules"] = [m[1] for m in modules][:50]
        result.facts["vba_code"] = code[:_MAX_CODE_EVIDENCE]
        result.hit("office.vba_macros", modules=[m[1] for m in modules][:20])
    if autoexec:
        result.hit("office.vba_autoexec", triggers=autoexec[:20])
    if found["execution"]:
        result.hit("office.vba_execution", keywords=found["execution"][:20])
    if found["download"]:
        result.hit("office.vba_download", keywords=found["download"][:20])
    if found["obfuscation"] or decoded or stomping:
        result.hit(
            "office.vba_obfuscation", keywords=found["obfuscation"][:20], decoded=decoded[:10]
        )
    urls = [u for u in iocs if "://" in u]
    decoded_text = "\n".join(d["decoded"] for d in decoded)
    inner = analyze_text(f"{code}\n{decoded_text}", origin="vba")
    result.merge(inner)
    for url in find_urls("\n".join(urls)):
        if url not in result.urls:
            result.urls.append(url)
    merge(result.observables, url_observables(result.urls))
    result.facts["iocs"] = iocs[:50]


def _report_xlm(xlm_text: str, result: Analysis) -> None:
    result.facts["xlm"] = xlm_text[:_MAX_CODE_EVIDENCE]
    result.hit("office.xlm_macros", excerpt=xlm_text[:300])
    calls = sorted(
        {m.group(0).rstrip("(").strip().upper() for m in _XLM_EXEC_RE.finditer(xlm_text)}
    )
    risky = [c for c in calls if c not in ("FORMULA", "FORMULA.FILL")]
    if risky or _XLM_DOWNLOAD_RE.search(xlm_text):
        result.hit("office.xlm_execution", functions=calls)
    if _XLM_AUTO_RE.search(xlm_text):
        result.hit("office.vba_autoexec", triggers=["Auto_Open (XLM)"])
    result.merge(analyze_text(xlm_text, origin="xlm"))


def _xlm_ooxml(zf: zipfile.ZipFile, result: Analysis) -> None:
    """XLM macro sheets of .xlsm/.xlsb/.xltm, which olevba leaves to XLMMacroDeobfuscator."""
    try:
        sheets = [n for n in zf.namelist() if "/macrosheets/" in n and not n.endswith(".rels")]
        if not sheets or "office.xlm_macros" in {h.id for h in result.hits}:
            return
        texts: list[str] = []
        for sheet in sheets[:20]:
            raw = zf.read(sheet)[:5_000_000]
            if sheet.endswith(".xml"):
                texts.extend(_XLM_FORMULA_RE.findall(raw.decode("utf-8", "replace")))
            else:
                texts.extend(_utf16_strings(raw))
        workbook = next((n for n in zf.namelist() if _WORKBOOK_RE.match(n)), "")
        names = zf.read(workbook)[:2_000_000] if workbook else b""
    except (
        zipfile.BadZipFile,
        OSError,
        KeyError,
        ValueError,
        EOFError,
        NotImplementedError,
    ):
        return
    text = "\n".join(texts)
    if b"Auto_Open" in names or "Auto_Open".encode("utf-16-le") in names:
        text += "\nAuto_Open"
    result.facts["xlm_sheets"] = sheets
    _report_xlm(text or "(macro sheet present)", result)


def _utf16_strings(raw: bytes) -> list[str]:
    return [m.decode("utf-16-le", "replace") for m in _UTF16_RE.findall(raw)] + [
        m.decode("ascii") for m in _ASCII_RE.findall(raw)
    ]


def analyze_dde(data: bytes, name: str, ctx: ScanContext) -> Analysis:
    """DDE fields (msodde) in Word, Excel, RTF, CSV and Office XML documents."""
    from oletools import msodde

    result = Analysis(kind="dde")
    suffix = Path(name).suffix.lower() if name else ""
    if not suffix or len(suffix) > 6 or not suffix[1:].isalnum():
        suffix = ".bin"
    # msodde reads files by path; the copy lives only for the call.
    fd, tmp = tempfile.mkstemp(prefix="sekimori-dde-", suffix=suffix)
    path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        found = str(msodde.process_file(str(path), msodde.FIELD_FILTER_DDE) or "")
    except Exception as exc:  # msodde fails on files it does not support; that is not DDE
        log.debug("msodde gave up on %s: %s", name, exc)
        return result
    finally:
        path.unlink(missing_ok=True)
    lines = [ln.strip() for ln in found.splitlines() if ln.strip()]
    if lines:
        result.facts["dde"] = lines[:20]
        result.hit("office.dde", fields=lines[:10])
        result.merge(analyze_text("\n".join(lines), origin="dde"))
    return result
