"""docs/tools/paste_reports.py: the results page's tables are copied from the report files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "docs" / "tools" / "paste_reports.py"


def run_tool(monkeypatch, *argv: str) -> None:
    spec = importlib.util.spec_from_file_location("paste_reports", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["paste_reports.py", *argv])
    module.main()


def test_marked_blocks_get_the_report_tables_and_the_text_around_them_stays(tmp_path, monkeypatch):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "winners.md").write_text("# Winners\n\n| a | b |\n|---|---|\n| x | 1 |\n\nA note.\n")
    (reports / "ranks.md").write_text("# Ranks\n\n| strategy | s |\n|---|---|\n"
                                      "| adam | #1 |\n| dals | #2 |\n| sgd | #3 |\n")  # fmt: skip
    page = tmp_path / "results.md"
    page.write_text(
        "Intro.\n<!-- report: winners.md -->\nstale\n<!-- end report -->\nMiddle.\n"
        "<!-- report: ranks.md:sgd,dals -->\n<!-- end report -->\nEnd.\n"
    )
    run_tool(monkeypatch, "--reports", str(reports), "--page", str(page))
    assert page.read_text() == (
        "Intro.\n<!-- report: winners.md -->\n| a | b |\n|---|---|\n| x | 1 |\n\nA note.\n"
        "<!-- end report -->\nMiddle.\n<!-- report: ranks.md:sgd,dals -->\n"
        "| strategy | s |\n|---|---|\n| sgd | #3 |\n| dals | #2 |\n<!-- end report -->\nEnd.\n"
    )
    # Run again: the same page, so a page regenerated from an unchanged store is unchanged.
    before = page.read_text()
    run_tool(monkeypatch, "--reports", str(reports), "--page", str(page))
    assert page.read_text() == before


def test_a_missing_report_or_row_stops_with_one_line_and_leaves_the_page(tmp_path, monkeypatch):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "ranks.md").write_text("# Ranks\n\n| strategy | s |\n|---|---|\n| adam | #1 |\n")
    page = tmp_path / "results.md"
    for block, message in (("winners.md", "winners.md is missing"), ("ranks.md:dals", "no rows")):
        text = f"<!-- report: {block} -->\n<!-- end report -->\n"
        page.write_text(text)
        with pytest.raises(SystemExit, match=message):
            run_tool(monkeypatch, "--reports", str(reports), "--page", str(page))
        assert page.read_text() == text
