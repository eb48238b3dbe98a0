r"""RTF analyzer (oletools.rtfobj): embedded OLE objects and packages.

An RTF body can carry ``\\object`` groups with OLE objects; Emotet-era
campaigns and their kin used them for Equation Editor exploits
(CVE-2017-11882) and for OLE Package files that drop a script. rtfobj's
CLSID table names the classes known to be exploited; such an object, or a
package whose file is executable, is ``office.rtf_exploit``. Package
payloads become children. DDE fields in RTF are left to msodde (office.py).
"""

from __future__ import annotations

import logging

from sekimori.mail.context import ScanContext
from sekimori.mail.filetype import EXECUTABLE_EXTENSIONS, extension
from sekimori.mail.result import Analysis, Child

log = logging.getLogger(__name__)

_EXPLOITED_CLASSES = (b"equation", b"ole2link", b"package", b"htmlfile", b"script")


def analyze_rtf(data: bytes, name: str, ctx: ScanContext) -> Analysis:
    """Report the OLE objects in an RTF document; package payloads become children."""
    from oletools import rtfobj

    result = Analysis(kind="rtf")
    parser = rtfobj.RtfObjParser(data)
    try:
        parser.parse()
    except Exception as exc:  # rtfobj is a heuristic parser; a failure leaves the rest valid
        result.hit("scan.parser_error", parser="rtfobj", error=f"{type(exc).__name__}: {exc}")
        return result
    objects: list[dict[str, str]] = []
    exploits: list[str] = []
    for index, obj in enumerate(parser.objects):
        class_name = bytes(obj.class_name or b"")
        described = str(getattr(obj, "clsid_desc", "") or "")
        entry = {"class": class_name.decode("latin-1"), "clsid": described}
        if obj.is_package:
            file_name = str(obj.filename or f"package-{index + 1}")
            entry["file"] = file_name
            payload = bytes(obj.olepkgdata or b"")
            result.children.append(Child(file_name, payload))
            if extension(file_name) in EXECUTABLE_EXTENSIONS:
                exploits.append(file_name)
        elif obj.is_ole and obj.oledata:
            result.children.append(Child(f"object-{index + 1}.bin", bytes(obj.oledata)))
        if "CVE" in described or class_name.lower().startswith(_EXPLOITED_CLASSES):
            exploits.append(entry["class"] or described)
        objects.append(entry)
    if objects:
        result.facts["objects"] = objects[:20]
        result.hit("office.rtf_object", objects=objects[:10])
    if exploits:
        result.hit("office.rtf_exploit", objects=exploits[:10])
    return result
