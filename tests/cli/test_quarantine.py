from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from sekimori.cli import app
from sekimori.mail.quarantine import Quarantine
from tests.mail.helpers import mail

runner = CliRunner()

HOSTILE_SUBJECT = "[bold red]請求書[/] <script>x</script> $(rm -rf ~) %s {0}"


@pytest.fixture
def quarantined(tmp_path, monkeypatch) -> tuple[str, bytes]:
    """A message sanitized (and so quarantined) through the CLI, under SEKIMORI_HOME=tmp_path."""
    monkeypatch.setenv("SEKIMORI_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    raw = mail(
        "請求書をご確認ください http://invoice.example.com/a",
        subject=HOSTILE_SUBJECT,
        sender="Evil <evil@bad.example.com>",
    )
    (tmp_path / "in.eml").write_bytes(raw)
    result = runner.invoke(app, ["sanitize", "in.eml", "-o", "out.eml"])
    assert result.exit_code == 0, result.output
    return hashlib.sha256(raw).hexdigest(), raw


def test_list_shows_sender_and_subject_verbatim(quarantined) -> None:
    sha, _ = quarantined
    result = runner.invoke(app, ["quarantine", "list"])
    assert result.exit_code == 0, result.output
    row = result.stdout.splitlines()[0].split("\t")
    assert row[0] == sha
    assert row[2] in {"clean", "suspicious", "malicious", "unscannable"}
    assert row[4] == "evil@bad.example.com"
    assert row[5] == HOSTILE_SUBJECT


def test_show_prints_the_verdict_json(quarantined) -> None:
    sha, _ = quarantined
    result = runner.invoke(app, ["quarantine", "show", sha.upper()])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["sha256"] == sha
    assert record["verdict"]["message"]["subject"] == HOSTILE_SUBJECT


def test_release_writes_original_and_records_it(quarantined, tmp_path) -> None:
    sha, raw = quarantined
    out = tmp_path / "released.eml"
    result = runner.invoke(app, ["quarantine", "release", sha, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == raw
    assert Quarantine(tmp_path / "quarantine").info(sha)["released"][0]["to"] == str(out)
    assert "(released)" in runner.invoke(app, ["quarantine", "list"]).stdout
    again = runner.invoke(app, ["quarantine", "release", sha, "-o", str(out)])
    assert again.exit_code == 1 and "Traceback" not in again.output


def test_release_default_name(quarantined, tmp_path) -> None:
    sha, raw = quarantined
    result = runner.invoke(app, ["quarantine", "release", sha])
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"{sha}.eml").read_bytes() == raw


@pytest.mark.parametrize("digest", ["0" * 64, "../../etc/passwd", "abc", "zz" * 32])
@pytest.mark.parametrize("command", ["show", "release"])
def test_unknown_or_malformed_digest(quarantined, command, digest) -> None:
    result = runner.invoke(app, ["quarantine", command, digest])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")


def test_control_characters_are_escaped(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SEKIMORI_HOME", str(tmp_path))
    Quarantine().store(b"x", {"verdict": "malicious", "message": {"subject": "a\x1b[2Jb\rc"}})
    result = runner.invoke(app, ["quarantine", "list"])
    assert result.exit_code == 0
    assert "a\\x1b[2Jb\\x0dc" in result.stdout and "\x1b" not in result.stdout


def test_empty_quarantine(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SEKIMORI_HOME", str(tmp_path))
    result = runner.invoke(app, ["quarantine", "list"])
    assert result.exit_code == 0 and result.stdout == ""
