"""The CLI: every command documents itself; failures exit non-zero with a one-line reason."""
import subprocess
import sys

import pytest

from engine.cli import COMMANDS, build_parser, main


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    assert "--quiet" in capsys.readouterr().out


def test_failure_exits_non_zero_with_a_reason(settings, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ARTIFACTS_DIR", str(settings.artifacts_dir))
    assert main(["evaluate", "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "bundle" in err[-1].lower()


def test_no_command_prints_usage():
    result = subprocess.run([sys.executable, "-m", "engine"], capture_output=True, text=True)
    assert result.returncode == 2 and "<command>" in result.stdout
