"""The ``sekimori`` group: every command listed, each module imported when its command runs."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from sekimori.cli import COMMANDS, app


def test_help_lists_every_command_in_order() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    listed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ")]
    assert [name for name in listed if name in COMMANDS] == list(COMMANDS)


def test_every_command_builds_under_its_name() -> None:
    for name, entry in COMMANDS.items():
        command = entry.load()
        assert command.name == name
        assert command.help


def test_a_mistyped_command_is_still_told_the_right_one() -> None:
    result = CliRunner().invoke(app, ["hnt"])
    assert result.exit_code == 2
    assert "Did you mean 'hunt'?" in result.stderr


def test_hunt_leaves_the_other_commands_modules_unloaded() -> None:
    # A fresh interpreter: this one has imported every command already.
    script = (
        "import sys\n"
        "from sekimori.cli import app\n"
        "try:\n"
        "    app(['hunt', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('modules:', *sorted(sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(done.stdout.splitlines()[-1].split())
    assert "sekimori.cli.hunt" in loaded
    for other in ("sekimori.cli.mailfilter", "sekimori.mail.smtpfilter", "sekimori.cli.intel"):
        assert other not in loaded
