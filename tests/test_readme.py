"""The README's examples stay true: its sources example validates, its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from typer.main import get_command

from crawler.sources import load_sources
from greywatch.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def test_sources_example_in_readme_is_valid(tmp_path: Path) -> None:
    block = re.search(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert block is not None
    path = tmp_path / "sources.yaml"
    path.write_text(block.group(1), encoding="utf-8")
    ids = [s.id for s in load_sources(path).sources]
    assert ids == ["bbs-finance", "classifieds-search"]


def test_every_greywatch_command_in_readme_exists() -> None:
    text = README.read_text(encoding="utf-8")
    code = "\n".join(re.findall(r"```sh\n(.*?)```", text, re.S) + re.findall(r"`([^`\n]+)`", text))
    root = get_command(app)
    used = re.findall(r"(?:greywatch|\$G) ([a-z0-9-]+)(?: ([a-z0-9-]+))?", code)
    assert len(used) > 10
    for verb, sub in used:
        assert verb in root.commands, verb
        subs = getattr(root.commands[verb], "commands", None)
        if subs and sub and not sub[0].isdigit() and not sub.startswith("-"):
            assert sub in subs, (verb, sub)


def test_quick_start_is_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [ln for ln in quick.splitlines() if ln.strip()]
    assert [c.split()[0] for c in commands] == ["scripts/demo", "scripts/test"]
    assert "scripts/test" in (README.parent / ".ci" / "run").read_text(encoding="utf-8")
