"""PDF analyzer (pikepdf): JavaScript, OpenAction/AA, Launch, embedded files, URI actions.

Walks every object of the document (ISO 32000-1 §12.6 actions, §7.11.4
embedded file streams) rather than only the catalog, so that actions hung
on pages, annotations and form fields are seen too. JavaScript text goes
through ``decode.py``; embedded files become children.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

from sekimori.mail.context import ScanContext
from sekimori.mail.decode import analyze_text
from sekimori.mail.observables import find_urls, merge, url_observables
from sekimori.mail.result import Analysis, Child

log = logging.getLogger(__name__)

MAX_OBJECTS = 200_000
_JS_CHARS = 100_000


def _text(value: object) -> str:
    import pikepdf

    if isinstance(value, pikepdf.Stream):
        try:
            return value.read_bytes()[:_JS_CHARS].decode("latin-1")
        except pikepdf.PdfError:
            return ""
    return str(value)[:_JS_CHARS]


def _dictionaries(pdf: Any) -> Iterator[Any]:
    """Every dictionary of the file: indirect objects and the direct ones nested in them."""
    import pikepdf

    for top in pdf.objects:
        stack = [top]
        while stack:
            obj = stack.pop()
            if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                yield obj
                values = [v for _, v in obj.items()]
            elif isinstance(obj, pikepdf.Array):
                values = list(obj)
            else:
                continue
            stack.extend(
                v
                for v in values
                if isinstance(v, pikepdf.Dictionary | pikepdf.Array) and not v.is_indirect
            )


def analyze_pdf(data: bytes, name: str, ctx: ScanContext) -> Analysis:
    """Find active content and links in a PDF; embedded files become children."""
    import pikepdf

    result = Analysis(kind="pdf")
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        result.hit("pdf.corrupt", error="encrypted with a user password")
        result.unscannable = "PDF encrypted with a password"
        return result
    except (pikepdf.PdfError, ValueError, OSError) as exc:
        result.hit("pdf.corrupt", error=str(exc)[:200])
        result.unscannable = "PDF could not be parsed"
        return result
    with pdf:
        scripts: list[str] = []
        launches: list[str] = []
        uris: list[str] = []
        auto: list[str] = []
        if "/OpenAction" in pdf.Root:
            auto.append("/OpenAction")
        for index, obj in enumerate(_dictionaries(pdf)):
            if index >= MAX_OBJECTS:
                result.hit("pdf.corrupt", error=f"more than {MAX_OBJECTS} objects")
                break
            keys = set(obj.keys())
            if "/AA" in keys:
                auto.append("/AA")
            if "/JS" in keys:
                scripts.append(_text(obj.get("/JS")))
            action = str(obj.get("/S", ""))
            if action == "/Launch":
                launches.append(_text(obj.get("/F", obj.get("/Win", ""))))
            if action == "/URI" and "/URI" in keys:
                uris.append(_text(obj.get("/URI")))
        files: list[Child] = []
        try:
            for file_name, spec in pdf.attachments.items():
                raw = spec.get_file().read_bytes()
                if len(raw) <= min(ctx.limits.max_file_size, ctx.room()) and ctx.take(len(raw)):
                    files.append(Child(str(file_name), raw))
                else:
                    result.hit("archive.bomb", limit="embedded file size", member=str(file_name))
        except (pikepdf.PdfError, ValueError, KeyError) as exc:
            result.hit("pdf.corrupt", error=f"embedded files: {exc}"[:200])
    result.facts.update(javascript=len(scripts), launch=len(launches), uris=len(uris))
    if scripts:
        result.hit("pdf.javascript", excerpt=scripts[0][:300])
        result.merge(analyze_text("\n".join(scripts), origin="pdf-javascript"))
    if auto:
        result.hit("pdf.open_action", keys=sorted(set(auto)))
    if launches:
        result.hit("pdf.launch", targets=launches[:10])
        result.merge(analyze_text("\n".join(launches), origin="pdf-launch"))
    if files:
        result.hit("pdf.embedded_file", files=[f.name for f in files][:20])
        result.children.extend(files)
    links = [u for u in (find_urls(" ".join(uris)) or uris) if u]
    if links:
        result.hit("pdf.uri", urls=links[:20])
        result.urls.extend(u for u in links if u not in result.urls)
        merge(result.observables, url_observables(links))
    return result
