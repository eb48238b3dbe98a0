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
