"""Every command teaches: each has help text, and `--help` works for all of them."""

from __future__ import annotations

import typer
from typer.main import get_command
from typer.testing import CliRunner

from greywatch.cli import app


def _walk(cmd: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    out = [(path, cmd)]
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        out.extend(_walk(sub, (*path, name)))
    return out


COMMANDS = _walk(get_command(app))


def test_the_main_verbs_exist() -> None:
    names = {p for p, _ in COMMANDS}
    for verb in [("analyze",), ("lexicon", "check")]:
        assert verb in names


def test_every_command_has_help_text() -> None:
    missing = [
        " ".join(p) for p, c in COMMANDS if p and not (getattr(c, "help", None) or "").strip()
    ]
    assert not missing, f"commands without help: {missing}"


def test_every_command_answers_help() -> None:
    runner = CliRunner()
    for path, _ in COMMANDS:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_root_app_is_a_typer() -> None:
    assert isinstance(app, typer.Typer)
