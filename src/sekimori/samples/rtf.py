r"""Builder of RTF documents with an embedded OLE object (RTF 1.9.1, MS-OLEDS).

The text goes in a plain paragraph (non-ASCII as ``\uN?`` escapes, RTF 1.9.1
"Unicode RTF"). An embedded file becomes an ``\object\objemb`` group whose
``\objdata`` is the hex of an OLE 1.0 object (MS-OLEDS 2.2.4 ObjectHeader +
2.2.5 EmbeddedObject: version 0x0501, format 2, class name, topic and item
names, native data size) whose native data is a Packager "Package" stream:
label, source path, temporary path and the file's bytes, the layout that
``rtfobj``/``oleobj`` decode as an OLENativeStream (MS-OLEDS 2.3.6). That is
how documents hid a ``.exe``/``.js``/``.lnk`` behind an icon in a Word or
mail body.
"""

from __future__ import annotations

import struct

from sekimori.samples import SampleError


def _ansi_z(text: str) -> bytes:
    try:
        return text.encode("cp1252") + b"\x00"
    except UnicodeEncodeError as exc:
        raise SampleError(f"package names must be Windows-1252: {text!r}") from exc


def _length_prefixed(text: str) -> bytes:
    """A LengthPrefixedAnsiString (MS-OLEDS 2.1.4): size including the NUL, then bytes."""
    if not text:
        return struct.pack("<I", 0)
    raw = _ansi_z(text)
    return struct.pack("<I", len(raw)) + raw


def package_native_data(filename: str, data: bytes, source_dir: str = "C:\\Users\\user\\") -> bytes:
    """The native data of a Packager object holding ``filename`` with ``data``."""
    if not filename or any(c in filename for c in "\\/:"):
        raise SampleError(f"not a plain file name: {filename!r}")
    temp_path = f"C:\\Users\\user\\AppData\\Local\\Temp\\{filename}"
    temp = _ansi_z(temp_path)
    return (
        struct.pack("<H", 2)
        + _ansi_z(filename)
        + _ansi_z(source_dir + filename)
        + struct.pack("<II", 0x00030000, len(temp))
        + temp
        + struct.pack("<I", len(data))
        + data
    )


def ole1_object(class_name: str, native_data: bytes) -> bytes:
    """An embedded OLE 1.0 object (MS-OLEDS 2.2.4, 2.2.5) of class ``class_name``."""
    return (
        struct.pack("<II", 0x00000501, 0x00000002)
        + _length_prefixed(class_name)
        + _length_prefixed("")
        + _length_prefixed("")
        + struct.pack("<I", len(native_data))
        + native_data
    )


def _escape(text: str) -> str:
    out = []
    for char in text:
        if char in "\\{}":
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\par\n")
        elif ord(char) < 0x80:
            out.append(char)
        else:
            for unit in struct.unpack(
                f"<{len(char.encode('utf-16-le')) // 2}h", char.encode("utf-16-le")
            ):
                out.append(f"\\u{unit}?")
    return "".join(out)


def build_rtf(text: str, embedded_file: tuple[str, bytes] | None = None) -> bytes:
    """An RTF document with ``text`` and, optionally, a file embedded as a Package object."""
    body = _escape(text.replace("\r\n", "\n"))
    parts = [
        "{\\rtf1\\ansi\\ansicpg1252\\deff0\\uc1{\\fonttbl{\\f0\\fswiss Arial;}}\n",
        f"\\pard\\f0\\fs22 {body}\\par\n",
    ]
    if embedded_file is not None:
        name, data = embedded_file
        payload = ole1_object("Package", package_native_data(name, data)).hex()
        lines = "\n".join(payload[i : i + 128] for i in range(0, len(payload), 128))
        parts.append(
            "{\\object\\objemb{\\*\\objclass Package}\\objw1440\\objh1440"
            f"{{\\*\\objdata\n{lines}\n}}}}\n"
        )
    parts.append("}\n")
    return "".join(parts).encode("ascii")
