"""Documentation stays true: every command and setting is documented, and examples run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import typer.main

from socialcredit.cli import app
from socialcredit.importer import import_file
from socialcredit.records import FLAT_COLUMNS, RECORD_FIELDS
from socialcredit.store.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def command_paths(group: Any, prefix: str = "scs") -> list[str]:
    paths = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):
            paths += command_paths(command, path)
        else:
            paths.append(path)
    return paths


def test_every_command_is_documented() -> None:
    text = (DOCS / "commands.md").read_text()
    missing = [p for p in command_paths(typer.main.get_group(app)) if f"`{p}" not in text]
    assert not missing, f"undocumented commands in docs/commands.md: {missing}"


def test_every_environment_setting_in_the_code_is_documented() -> None:
    text = (DOCS / "commands.md").read_text()
    used = set()
    for path in (ROOT / "src").rglob("*.py"):
        used |= set(re.findall(r"\b(SCS_[A-Z_]+)\b", path.read_text()))
    missing = sorted(name for name in used if f"`{name}`" not in text)
    assert not missing, f"undocumented settings in docs/commands.md: {missing}"


def test_every_record_field_and_flat_column_is_documented() -> None:
    text = (DOCS / "records.md").read_text()
    assert all(f"`{name}`" in text for name in RECORD_FIELDS)
    assert all(name in text for name in FLAT_COLUMNS)


def test_the_readme_opens_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2 and commands[0].endswith("scs demo")
    test_command = commands[1].split("&& ", 1)[1]
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_the_readme_record_example_imports_cleanly(registry: Registry, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    example = readme.split("```json", 1)[1].split("```", 1)[0].strip()
    path = tmp_path / "example.jsonl"
    path.write_text(example + "\n")
    summary = import_file(registry, path)
    assert summary.to_json() == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": 0,
        "rejects_file": None,
    }
    assert orjson.loads(example)["subject"]["kind"] == "person"
