"""The web console and REST API of a single node (``sekimori serve``).

``create_app(store)`` returns a FastAPI application: an HTML list of
incidents, one page per incident with its findings and their evidence, the
same data as JSON under ``/api``, and ``/healthz``.

Everything shown comes from attackers' hands (host names, command lines,
subjects), so templates are autoescaped and every response carries a strict
Content-Security-Policy that allows no inline script at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from sekimori import __version__
from sekimori.errors import StoreError
from sekimori.model import Severity, parse_iso
from sekimori.store import Store
from sekimori.store.store import DEFAULT_LIMIT

log = logging.getLogger(__name__)

MAX_LIMIT = 5000
HTMX_DIST = Path("node_modules") / "htmx.org" / "dist"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _when(value: str | None) -> str:
    """``2026-11-02T09:15:00.123456Z`` → ``2026-11-02 09:15:00``, for people."""
    if not value:
        return ""
    try:
        moment: datetime = parse_iso(value)
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M:%S")


LONG_EVIDENCE = 240
SHORT_EVIDENCE = 120


def _show(value: Any) -> str:
    """A value of the evidence as text: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _path_part(value: str) -> str:
    """Percent-encode one path segment (ids may hold any character)."""
    return quote(value, safe="")


def _severity_class(value: str) -> str:
    """A CSS class for a severity; unknown values get a neutral one."""
    return value if value in Severity.__members__.values() else "unknown"


def template_environment() -> jinja2.Environment:
    """Jinja2 with autoescape on for every template (and strings rendered from them)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sekimori.web", "templates"),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,  # documents omit empty fields
    )
    env.filters["when"] = _when
    env.filters["show"] = _show
    env.filters["path_part"] = _path_part
    env.filters["severity_class"] = _severity_class
    # Evidence values longer than this are folded behind their first characters.
    env.globals["long_evidence"] = LONG_EVIDENCE
    env.globals["short_evidence"] = SHORT_EVIDENCE
    return env


def find_htmx(start: Path | None = None) -> Path | None:
    """The folder of ``htmx.min.js`` installed by ``make`` from npm, when there is one."""
    roots = [start] if start else [Path(__file__).resolve().parents[3], Path.cwd()]
    for root in roots:
        folder = root / HTMX_DIST
        if (folder / "htmx.min.js").is_file():
            return folder
    return None


def create_app(store: Store, vendor_dir: Path | None = None) -> FastAPI:
    """The console and API over ``store``; ``vendor_dir`` overrides where htmx is looked for."""
    app = FastAPI(
        title="Sekimori",
        version=__version__,
        description="Incidents and findings of Emotet-style intrusions.",
        docs_url=None,  # the Swagger page loads its assets from a CDN
        redoc_url=None,
    )
    templates = Jinja2Templates(env=template_environment())
    static = resources.files("sekimori.web") / "static"
    htmx = find_htmx(vendor_dir)
    if htmx is not None:
        app.mount("/static/vendor", StaticFiles(directory=htmx), name="vendor")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(StoreError)
    async def store_unavailable(request: Request, exc: StoreError) -> Response:
        log.error("store error on %s: %s", request.url.path, exc)
        return JSONResponse({"detail": "the store is not available"}, status_code=503)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        """Liveness and store reachability."""
        ok = store.ping()
        return JSONResponse(
            {"status": "ok" if ok else "degraded", "store": "ok" if ok else "unreachable"},
            status_code=200 if ok else 503,
        )

    @app.get("/api/incidents")
    def api_incidents(
        tenant: str | None = None,
        min_severity: Severity | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    ) -> dict[str, Any]:
        """Incidents, most severe first, then by score."""
        items = store.list_incidents(tenant=tenant, min_severity=min_severity, limit=limit)
        return {"count": len(items), "incidents": items}

    @app.get("/api/incidents/{incident_id:path}")
    def api_incident(incident_id: str) -> dict[str, Any]:
        """One incident and its findings, oldest first."""
        detail = store.get_incident(incident_id)
        if detail is None:
            raise HTTPException(status_code=404, detail="no such incident")
        return {"incident": detail.incident, "findings": detail.findings}

    @app.get("/", response_class=HTMLResponse)
    def incidents_page(
        request: Request,
        tenant: str | None = None,
        min_severity: Severity | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    ) -> Response:
        """The list of incidents."""
        items = store.list_incidents(tenant=tenant, min_severity=min_severity, limit=limit)
        return templates.TemplateResponse(
            request,
            "incidents.html",
            {
                "incidents": items,
                "severities": [s.value for s in Severity],
                "tenant": tenant or "",
                "min_severity": min_severity.value if min_severity else "",
                "title": "Incidents",
            },
        )

    @app.get("/incidents/{incident_id:path}", response_class=HTMLResponse)
    def incident_page(request: Request, incident_id: str) -> Response:
        """One incident with its findings and their evidence."""
        detail = store.get_incident(incident_id)
        if detail is None:
            return templates.TemplateResponse(
                request,
                "not_found.html",
                {"what": incident_id, "title": "Not found"},
                status_code=404,
            )
        return templates.TemplateResponse(
            request,
            "incident.html",
            {
                "incident": detail.incident,
                "findings": detail.findings,
                "title": detail.incident.get("host", {}).get("name", "incident"),
            },
        )

    return app
