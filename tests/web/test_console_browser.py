"""The console in a real headless Chromium: rows render, hostile strings stay text."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import uvicorn

from sekimori.store import Store
from sekimori.web.app import create_app
from tests.conftest import missing
from tests.store.samples import HOSTILE_ATTR, HOSTILE_SCRIPT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def console(seeded_store: Store, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(seeded_store, vendor_dir=tmp_path),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    while thread.is_alive() and not started.wait(0.05):
        if server.started:
            started.set()
    if not server.started:
        pytest.fail("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


def test_console_in_chromium(console: str, tmp_path: Path) -> None:
    if not CHROMIUM.is_file():
        missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    dialogs: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(console + "/")

            rows = page.locator("tr.incident")
            assert rows.count() == 4
            first = rows.nth(0)
            assert first.get_attribute("data-incident") == "inc-infected"
            text = first.inner_text()
            assert "WS-ACCT-07" in text
            assert "CRITICAL" in text.upper()
            assert "88.0" in text
            assert "3 findings on WS-ACCT-07" in text

            hostile = page.locator('tr[data-incident="inc-hostile"]')
            # The hostile strings are shown as text, not turned into elements.
            assert hostile.locator("td.host").inner_text().strip() == HOSTILE_SCRIPT
            assert hostile.locator("td.summary").inner_text() == HOSTILE_ATTR + HOSTILE_SCRIPT
            assert page.locator("img").count() == 0
            assert page.locator("main script").count() == 0
            assert page.evaluate("() => window.__pwned === undefined")
            # The stylesheet loaded (same origin, allowed by the CSP).
            badge = first.locator(".sev")
            assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(142, 16, 32)"
            page.screenshot(path=str(tmp_path / "incidents.png"), full_page=True)

            page.goto(console + "/incidents/" + quote("inc-hostile", safe=""))
            assert page.locator("tr.finding").count() == 1
            assert page.locator("h1 .host").inner_text() == HOSTILE_SCRIPT
            evidence = page.locator("td.evidence").inner_text()
            assert HOSTILE_SCRIPT in evidence
            assert HOSTILE_ATTR in evidence
            assert page.locator("img").count() == 0
            assert page.evaluate("() => window.__pwned === undefined")
            page.screenshot(path=str(tmp_path / "incident.png"), full_page=True)

            page.goto(console + "/incidents/inc-infected")
            assert page.locator("tr.finding").count() == 3
            page.screenshot(path=str(tmp_path / "infected.png"), full_page=True)
        finally:
            browser.close()

    assert dialogs == []
    assert errors == []
    assert (tmp_path / "incidents.png").stat().st_size > 0
