from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

import sekimori.rules
from sekimori import pipeline
from sekimori.cli import app
from sekimori.model import Severity
from sekimori.store import Store

CLEAN_CEILING = Severity.MEDIUM.rank
RULES = Path(sekimori.rules.__file__).parent


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake_run(application: object, **kwargs: Any) -> None:
        calls.append({"app": application, **kwargs})

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return calls


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    root = tmp_path_factory.mktemp("demo-cli")
    db = f"sqlite:///{root / 'store.db'}"
    result = CliRunner().invoke(
        app, ["demo", "--no-serve", "--out", str(root / "data"), "--db", db]
    )
    return (
        root,
        db,
        result.output
        if result.exit_code == 0
        else f"EXIT {result.exit_code}\n" + (result.output + repr(result.exception)),
    )


def test_demo_writes_hunts_and_stores(demo_run: tuple[Path, str, str]) -> None:
    root, db, output = demo_run
    assert not output.startswith("EXIT"), output
    assert (root / "data" / "README.md").exists()
    assert "infected in the story: WS-07, FS-01" in output
    assert "http://127.0.0.1:8000/" in output
    with Store.open(db) as store:
        files = store.list_files(run_id="demo")
    assert len(files) > 100
    assert all(not f.get("error") for f in files)


def test_the_infected_host_stands_out(demo_run: tuple[Path, str, str]) -> None:
    _, db, _ = demo_run
    with Store.open(db) as store:
        incidents = store.list_incidents(limit=1000)
    bundled = [p for p in RULES.rglob("*.yml")]
    if not incidents and not bundled:
        pytest.skip("the hunt has no bundled rules yet and found nothing to grade")
    by_host: dict[str, Severity] = {}
    for doc in incidents:
        name = doc["host"]["name"].split(".")[0].upper()
        severity = Severity(doc["severity"])
        if name not in by_host or severity.rank > by_host[name].rank:
            by_host[name] = severity
    assert by_host.get("WS-07") in (Severity.HIGH, Severity.CRITICAL), by_host
    noisy = {
        host: sev.value
        for host, sev in by_host.items()
        if host.startswith("WS-") and host != "WS-07" and sev.rank > CLEAN_CEILING
    }
    assert noisy == {}


def test_export_only_writes_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEKIMORI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SEKIMORI_DB", raising=False)
    result = CliRunner().invoke(app, ["demo", "--export", str(tmp_path / "x"), "--no-serve"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "x" / "zeek" / "conn.log").exists()
    assert not (tmp_path / "home").exists()


def test_demo_serves_unless_told_not_to(
    tmp_path: Path, served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEKIMORI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SEKIMORI_DB", raising=False)
    # The demo command imports the pipeline when it runs: an empty hunt, to serve quickly.
    monkeypatch.setattr(pipeline, "run_hunt", lambda paths, options: pipeline.HuntResult())
    result = CliRunner().invoke(app, ["demo", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "home" / "demo" / "README.md").exists()
    assert (tmp_path / "home" / "sekimori.db").exists()
    assert served and served[0]["port"] == 8123
    assert "http://127.0.0.1:8123/" in result.output


def test_a_foreign_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep")
    result = CliRunner().invoke(app, ["demo", "--export", str(tmp_path)])
    assert result.exit_code == 2
    assert "not empty" in result.output
    assert (tmp_path / "mine.txt").read_text() == "keep"
