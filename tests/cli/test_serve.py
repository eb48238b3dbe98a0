from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from sekimori.cli import app
from sekimori.cli.serve import console_url


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake_run(application: object, **kwargs: Any) -> None:
        calls.append({"app": application, **kwargs})

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return calls


def test_serve_prints_the_url_and_runs_uvicorn(
    tmp_path: Path, served: list[dict[str, Any]]
) -> None:
    db = tmp_path / "s.db"
    result = CliRunner().invoke(app, ["serve", "--db", f"sqlite:///{db}", "--port", "8765"])
    assert result.exit_code == 0, result.output
    assert "Sekimori console: http://127.0.0.1:8765/" in result.output
    assert served[0]["host"] == "127.0.0.1"
    assert served[0]["port"] == 8765
    assert db.is_file()


def test_serve_reads_sekimori_db(
    tmp_path: Path, served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "env.db"
    monkeypatch.setenv("SEKIMORI_DB", f"sqlite:///{db}")
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    assert db.is_file()
    assert "http://127.0.0.1:8000/" in result.output


def test_serve_warns_when_listening_beyond_loopback(
    tmp_path: Path, served: list[dict[str, Any]]
) -> None:
    result = CliRunner().invoke(
        app, ["serve", "--db", f"sqlite:///{tmp_path / 'w.db'}", "--host", "0.0.0.0"]
    )
    assert result.exit_code == 0
    assert "warning" in result.output
    assert "http://127.0.0.1:8000/" in result.output


def test_bad_database_is_one_clear_line(served: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(app, ["serve", "--db", "mysql://root@127.0.0.1/x"])
    assert result.exit_code == 2
    assert "unsupported database" in result.output
    assert "Traceback" not in result.output
    assert served == []


def test_console_url() -> None:
    assert console_url("::", 80) == "http://[::1]:80/"
    assert console_url("192.0.2.5", 8000) == "http://192.0.2.5:8000/"
