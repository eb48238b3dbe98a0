"""The ``sekimori`` group: every command listed, each module imported when its command runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_main_exits_with_the_commands_code_and_output(tmp_path: Path) -> None:
    # main() collects and freezes the heap on the way out; the exit code and the
    # lines written stay the command's own.
    script = "import sys; sys.argv[0] = 'sekimori'; from sekimori.cli import main; main()"
    data = Path(__file__).resolve().parent.parent / "data" / "cli"
    runs = {
        0: ["hunt", str(data / "logs"), "--rules", str(data / "rules"), "--no-default-rules"],
        1: ["hunt", str(tmp_path / "nowhere"), "--no-default-rules"],
    }
    for code, args in runs.items():
        done = subprocess.run(
            [sys.executable, "-c", script, *args, "--json"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == code, done.stderr
        assert len(done.stdout.splitlines()) == 1 - code
        assert "event(s) read" in done.stderr.splitlines()[-1]
