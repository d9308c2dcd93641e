"""``scs rulebook check`` and ``scs rulebook show``."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from socialcredit.rulebook import shipped_text
from socialcredit.rulebook_cli import app

runner = CliRunner()


def test_check_a_shipped_rulebook_prints_ok_with_a_summary() -> None:
    result = runner.invoke(app, ["check", "rongcheng"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK rongcheng 1.0.0: 90 record types, 6 grades, 5 lists, ")
    assert "16 measures, 1 repair rule" in result.output
    assert runner.invoke(app, ["check", "flensburg"]).output.startswith("OK flensburg 1.0.0:")


def test_check_prints_each_problem_on_its_own_line_and_exits_1(tmp_path: Path) -> None:
    text = shipped_text("flensburg").replace(
        'title = "Voluntary driving-aptitude seminar completed"',
        'title = "Attended church"\nrelatives = true',
    )
    text = text.replace('legal_basis = "StVG §4(5) sentence 1 no. 3"\n', "")
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    # schema problems come first: the line-2 key is reported, and loading stops there
    assert 'types."seminar.completed".relatives: crosses the line' in result.output
    assert "a subject's score depends only on its own records" in result.output
    fixed = text.replace("relatives = true\n", "")
    path.write_text(fixed, encoding="utf-8")
    lines = runner.invoke(app, ["check", str(path)]).output.splitlines()
    assert 'types."seminar.completed": crosses the line "religion or belief"' in lines[1]
    assert lines[2].startswith('measures."stvg.licence_withdrawal".legal_basis: a restriction')


def test_check_an_unknown_name_says_what_exists() -> None:
    result = runner.invoke(app, ["check", "atlantis"])
    assert result.exit_code == 1
    assert "shipped: flensburg, rongcheng" in result.output


def test_show_prints_the_published_toml() -> None:
    result = runner.invoke(app, ["show", "flensburg"])
    assert result.exit_code == 0
    assert result.output == shipped_text("flensburg")
    assert runner.invoke(app, ["show", "atlantis"]).exit_code == 1
