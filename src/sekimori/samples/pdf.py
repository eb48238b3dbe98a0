"""Builder of PDF documents with the active content phishing PDFs carry (ISO 32000-1).

:func:`build_pdf` writes, with ``pikepdf``, a one-page PDF showing ``text`` and,
on request:

- ``open_action_js``: a JavaScript action (12.6.4.16) run at open, both as the
  catalog's ``/OpenAction`` (12.6.2, table 28) and in the ``/Names``
  ``/JavaScript`` name tree (7.7.4);
- ``uri``: a link annotation (12.5.6.5) covering the text with a ``/URI``
  action (12.6.4.7);
- ``launch``: a ``/Launch`` action (12.6.4.5) in the page's additional actions
  (``/AA /O``, 12.6.3), with the Windows-specific ``/Win`` dictionary;
- ``embedded_file``: a (name, bytes) pair stored in the ``/EmbeddedFiles``
  name tree (7.11.4).

Scripts only call ``app.alert('detector-test')``; the defaults of
:func:`inert_launch` start ``cmd.exe /c echo detector-test``.
"""

from __future__ import annotations

from io import BytesIO

import pikepdf
from pikepdf import Array, AttachedFileSpec, Dictionary, Name, Pdf, String

from sekimori.samples import SampleError

INERT_JS = "app.alert('detector-test');"
_PAGE_WIDTH = 595  # A4 in points
_PAGE_HEIGHT = 842


def inert_launch() -> tuple[str, str]:
    """The (program, parameters) of a harmless /Launch action: echo a line in cmd.exe."""
    return "cmd.exe", "/c echo detector-test"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content(lines: list[str]) -> bytes:
    """A content stream (ISO 32000-1 9.4) drawing ``lines`` in Helvetica."""
    ops = ["BT", "/F1 14 Tf", "16 TL", f"72 {_PAGE_HEIGHT - 100} Td"]
    for line in lines:
        ops.append(f"({_escape(line)}) Tj T*")
    ops.append("ET")
    return "\n".join(ops).encode("latin-1")


def build_pdf(
    text: str,
    open_action_js: str | None = None,
    uri: str | None = None,
    launch: tuple[str, str] | None = None,
    embedded_file: tuple[str, bytes] | None = None,
    title: str | None = None,
) -> bytes:
    """A one-page PDF showing ``text`` with the requested active content.

    ``text`` is drawn with the standard Helvetica font, so it must be Latin-1;
    Japanese lures go in ``title`` (``/Title`` in the Info dictionary,
    default: the first line). ``launch`` is (program, parameters). Raises
    SampleError for text that cannot be drawn.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    try:
        content = _content(lines)
    except UnicodeEncodeError as exc:
        raise SampleError(f"PDF page text must be Latin-1: {exc}") from exc
    pdf = Pdf.new()
    font = pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.Type1,
            BaseFont=Name.Helvetica,
            Encoding=Name.WinAnsiEncoding,
        )
    )
    page_dict = Dictionary(
        Type=Name.Page,
        MediaBox=[0, 0, _PAGE_WIDTH, _PAGE_HEIGHT],
        Resources=Dictionary(Font=Dictionary(F1=font)),
        Contents=pdf.make_stream(content),
    )
    pdf.pages.append(pikepdf.Page(page_dict))
    page = pdf.pages[0].obj
    pdf.docinfo[Name.Title] = String(title if title is not None else lines[0])
    pdf.docinfo[Name.Producer] = String("sekimori samples")

    names = Dictionary()
    if open_action_js is not None:
        action = pdf.make_indirect(Dictionary(S=Name.JavaScript, JS=String(open_action_js)))
        pdf.Root.OpenAction = action
        names.JavaScript = Dictionary(Names=[String("open"), action])
    if uri is not None:
        top = _PAGE_HEIGHT - 100
        link = Dictionary(
            Type=Name.Annot,
            Subtype=Name.Link,
            Rect=[70, top - 16 * len(lines), _PAGE_WIDTH - 70, top + 16],
            Border=[0, 0, 0],
            A=Dictionary(S=Name.URI, URI=String(uri)),
        )
        page.Annots = pdf.make_indirect(Array([pdf.make_indirect(link)]))
    if launch is not None:
        program, parameters = launch
        page.AA = Dictionary(
            O=Dictionary(
                S=Name.Launch,
                F=String(program),
                Win=Dictionary(F=String(program), P=String(parameters)),
                NewWindow=False,
            )
        )
    if len(names.keys()):
        pdf.Root.Names = names
    if embedded_file is not None:
        name, data = embedded_file
        if not name or "/" in name or "\\" in name:
            raise SampleError(f"not a plain file name: {name!r}")
        pdf.attachments[name] = AttachedFileSpec(pdf, data, filename=name, description=name)

    buffer = BytesIO()
    pdf.save(buffer, deterministic_id=True, compress_streams=False, min_version="1.7")
    return buffer.getvalue()
