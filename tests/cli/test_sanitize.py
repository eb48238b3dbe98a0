from __future__ import annotations

import email
import email.policy

from typer.testing import CliRunner

from sekimori.cli import app
from sekimori.mail.quarantine import Quarantine
from sekimori.mail.sanitize import HEADER
from tests.conftest import shared_path

runner = CliRunner()


def test_sanitize_writes_disarmed_copy_and_quarantines(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SEKIMORI_HOME", str(tmp_path / "home"))
    source = shared_path("office", "synthetic", "synthetic_eml", "jp_2020_pwzip_invoice.eml")
    out = tmp_path / "out.eml"
    result = runner.invoke(app, ["sanitize", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "malicious" in result.output and "removed:" in result.output
    msg = email.message_from_bytes(out.read_bytes(), policy=email.policy.default)
    assert HEADER in msg
    sha = result.output.split("original quarantined: ", 1)[1].split()[0]
    assert Quarantine(tmp_path / "home" / "quarantine").release(sha) == source.read_bytes()


def test_sanitize_missing_input(tmp_path) -> None:
    result = runner.invoke(app, ["sanitize", str(tmp_path / "nope.eml"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
