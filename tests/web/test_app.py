from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from sekimori.errors import StoreError
from sekimori.store import Store
from sekimori.web.app import create_app, find_htmx
from tests.store.samples import HOSTILE_ATTR, HOSTILE_SCRIPT, JAPANESE


@pytest.fixture
def client(seeded_store: Store, tmp_path: Path) -> TestClient:
    return TestClient(create_app(seeded_store, vendor_dir=tmp_path / "no-htmx"))


def test_list_page_sorted_by_severity_then_score(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    order = re.findall(r'data-incident="([^"]+)"', page.text)
    assert order == ["inc-infected", "inc-hostile", "inc-ja", "inc/quiet?x#y"]
    assert "WS-ACCT-07" in page.text
    assert "88.0" in page.text
    assert "2026-11-02 09:15:00" in page.text
    assert "経理部-PC01" in page.text
    assert JAPANESE in page.text
    assert "/static/console.css" in page.text


def test_list_page_filters(client: TestClient) -> None:
    page = client.get("/", params={"min_severity": "critical"})
    assert re.findall(r'data-incident="([^"]+)"', page.text) == ["inc-infected"]
    empty = client.get("/", params={"tenant": "nobody"})
    assert "No incidents match this filter" in empty.text
    assert client.get("/", params={"min_severity": "apocalyptic"}).status_code == 422


def test_hostile_strings_are_escaped_everywhere(client: TestClient) -> None:
    for path in ("/", "/incidents/inc-hostile"):
        text = client.get(path).text
        assert HOSTILE_SCRIPT not in text
        assert HOSTILE_ATTR not in text
        assert "<script" not in text.lower()
        assert "<img" not in text.lower()
        assert "&lt;script&gt;window.__pwned = 1; alert(1)&lt;/script&gt;" in text
        assert "&#34;&gt;&lt;img src=x onerror=&#34;window.__pwned=2&#34;&gt;" in text


def test_pages_carry_a_strict_content_security_policy(client: TestClient) -> None:
    headers = client.get("/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


def test_incident_page_shows_findings_with_evidence(client: TestClient) -> None:
    page = client.get("/incidents/inc-infected")
    assert page.status_code == 200
    assert page.text.count('class="finding"') == 3
    for i in range(3):
        assert f"Rule number {i}" in page.text
        assert f"sekimori/rule-{i}" in page.text
    assert "process.command_line" in page.text
    assert "powershell -enc VwByAGkAdABlAC0ATwB1AHQAcAB1AHQA" in page.text
    assert "/data/ws-acct-07/sysmon.evtx" in page.text
    assert "T1059.001" in page.text
    assert "installation" in page.text


def test_ids_with_special_characters_are_linked_and_found(client: TestClient) -> None:
    page = client.get("/")
    assert f"/incidents/{quote('inc/quiet?x#y', safe='')}" in page.text
    one = client.get(f"/incidents/{quote('inc/quiet?x#y', safe='')}")
    assert one.status_code == 200
    assert "PRINTER-02" in one.text
    api = client.get(f"/api/incidents/{quote('inc/quiet?x#y', safe='')}")
    assert api.json()["incident"]["incident"]["id"] == "inc/quiet?x#y"


def test_missing_incident_is_a_404(client: TestClient) -> None:
    page = client.get("/incidents/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert page.status_code == 404
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert client.get("/api/incidents/nope").status_code == 404


def test_api_lists_incidents(client: TestClient) -> None:
    body = client.get("/api/incidents").json()
    assert body["count"] == 4
    first = body["incidents"][0]
    assert first["incident"] == {
        "id": "inc-infected",
        "status": "new",
        "updated_at": first["incident"]["updated_at"],
    }
    assert first["severity"] == "critical"
    assert first["finding_count"] == 3
    hostile = body["incidents"][1]
    assert hostile["host"]["name"] == HOSTILE_SCRIPT
    assert hostile["summary"] == HOSTILE_ATTR + HOSTILE_SCRIPT
    assert client.get("/api/incidents", params={"limit": 1}).json()["count"] == 1
    assert client.get("/api/incidents", params={"limit": 0}).status_code == 422


def test_api_incident_with_findings(client: TestClient) -> None:
    body = client.get("/api/incidents/inc-infected").json()
    assert body["incident"]["host"]["name"] == "WS-ACCT-07"
    assert [f["rule"]["id"] for f in body["findings"]] == ["rule-0", "rule-1", "rule-2"]
    assert body["findings"][0]["evidence"]["process.parent.name"] == "WINWORD.EXE"


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "store": "ok"}


def test_static_css_is_served(client: TestClient) -> None:
    css = client.get("/static/console.css")
    assert css.status_code == 200
    assert ".sev-critical" in css.text


def test_store_failure_is_a_503_without_internals(seeded_store: Store, tmp_path: Path) -> None:
    class Broken(Store):
        def list_incidents(self, *args: object, **kwargs: object) -> list[dict[str, object]]:
            raise StoreError("database is locked", where="sqlite:///secret/path.db")

    client = TestClient(create_app(Broken(seeded_store.engine), vendor_dir=tmp_path))
    response = client.get("/api/incidents")
    assert response.status_code == 503
    assert "secret" not in response.text


def test_htmx_is_served_when_installed(seeded_store: Store, tmp_path: Path) -> None:
    dist = tmp_path / "node_modules" / "htmx.org" / "dist"
    dist.mkdir(parents=True)
    (dist / "htmx.min.js").write_text("/* htmx */")
    assert find_htmx(tmp_path) == dist
    client = TestClient(create_app(seeded_store, vendor_dir=tmp_path))
    js = client.get("/static/vendor/htmx.min.js")
    assert js.status_code == 200
    assert js.text == "/* htmx */"
    assert client.get("/static/console.css").status_code == 200


def test_without_htmx_the_console_still_works(client: TestClient) -> None:
    assert client.get("/static/vendor/htmx.min.js").status_code == 404
    assert client.get("/").status_code == 200


def test_long_evidence_is_folded_but_whole(seeded_store: Store, tmp_path: Path) -> None:
    from sekimori.web.app import LONG_EVIDENCE, SHORT_EVIDENCE
    from tests.store.samples import finding, incident

    script = "IEX " + "A" * (LONG_EVIDENCE * 3) + " <end>"
    found = [finding(host_name="WS-LONG", evidence={"powershell.script": script, "short": "x"})]
    seeded_store.save_findings(found)
    seeded_store.upsert_incidents([incident(found, id="inc-long")])
    page = TestClient(create_app(seeded_store)).get("/incidents/inc-long").text
    assert '<details class="long">' in page
    assert f"{script[:SHORT_EVIDENCE]}…" in page
    assert "IEX " + "A" * (LONG_EVIDENCE * 3) + " &lt;end&gt;" in page  # the whole value is there
    assert f"({len(script)} characters)" in page
    assert "<code>x</code>" in page
