from __future__ import annotations

import json

from typer.testing import CliRunner

from sekimori.cli import app
from tests.conftest import shared_path

runner = CliRunner()


def test_scan_json_lines_in_process() -> None:
    folder = shared_path("office", "synthetic", "synthetic_eml")
    result = runner.invoke(app, ["scan", str(folder), "--json", "--workers", "0"])
    assert result.exit_code == 0, result.output
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(docs) == 5
    by_name = {d["file"].rsplit("/", 1)[-1]: d for d in docs}
    invoice = by_name["jp_2020_pwzip_invoice.eml"]
    assert invoice["verdict"] == "malicious"
    assert invoice["attachments"][0]["children"][0]["name"] == "請求書_0902.xls"


def test_scan_table_with_workers(tmp_path) -> None:
    (tmp_path / "note.txt").write_text("hello")
    (tmp_path / "macro.vba").write_text('Sub AutoOpen()\nShell "cmd /c echo x"\nEnd Sub\n')
    result = runner.invoke(app, ["scan", str(tmp_path), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "malicious" in result.output and "2 scanned" in result.output


def test_scan_missing_path_is_a_clear_error(tmp_path) -> None:
    result = runner.invoke(app, ["scan", str(tmp_path / "nope.eml"), "--workers", "0"])
    assert result.exit_code == 2 and "no such file" in result.output


def test_scan_with_intel_feed(tmp_path) -> None:
    from tests.mail.helpers import mail

    (tmp_path / "m.eml").write_bytes(mail("see http://198.51.100.77/report"))
    (tmp_path / "feed.txt").write_text("198.51.100.77\n")
    args = ["scan", str(tmp_path / "m.eml"), "--json", "--workers", "0"]
    result = runner.invoke(app, [*args, "--intel", str(tmp_path / "feed.txt")])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout.splitlines()[0])
    assert doc["verdict"] == "malicious"
    assert "intel.known_bad" in [r["id"] for r in doc["reasons"]]


def test_scan_checks_the_indicator_store(tmp_path, monkeypatch) -> None:
    from sekimori.intel.indicator import Indicator
    from sekimori.intel.store import IntelStore
    from tests.mail.helpers import mail

    monkeypatch.setenv("SEKIMORI_HOME", str(tmp_path / "home"))
    store = IntelStore()
    store.upsert([Indicator(type="domain", value="c2.example.net", source="test")])
    store.close()
    (tmp_path / "m.eml").write_bytes(mail("see https://files.c2.example.net/a"))
    args = ["scan", str(tmp_path / "m.eml"), "--json", "--workers", "0"]
    checked = json.loads(runner.invoke(app, args).stdout.splitlines()[0])
    assert checked["verdict"] == "malicious"
    plain = json.loads(runner.invoke(app, [*args, "--no-intel-store"]).stdout.splitlines()[0])
    assert plain["verdict"] == "clean"
