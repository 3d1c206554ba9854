"""Writing tables as CSV (for programs: full precision, empty cell for a missing value) and as
Markdown (for people: metric values to four decimals, ``mean ± std``)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

Cell = str | int | float | bool | None


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> Path:
    """Write one CSV file; None and NaN become empty cells, floats keep full precision."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for row in rows:
            writer.writerow([csv_cell(value) for value in row])
    return path


def write_markdown(
    path: Path,
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    notes: Sequence[str] = (),
) -> Path:
    """Write a Markdown file: a title, a table, then one paragraph per note."""
    lines = [f"# {title}", "", *markdown_table(header, rows)]
    for note in notes:
        lines += ["", note]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table's lines: the header, the separator, one line per row."""
    lines = ["| " + " | ".join(markdown_cell(cell) for cell in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(markdown_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def csv_cell(value: Cell) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def markdown_cell(text: str) -> str:
    """One table cell: no line breaks, and ``|`` escaped so it does not split the cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def format_value(value: float | None) -> str:
    """A metric's value (an accuracy, an RMSE) to four decimals; ``—`` when missing."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.4f}"


def format_mean_std(mean: float, std: float) -> str:
    """``0.9067 ± 0.0416``; the mean alone when the std is NaN (one seed or a single trial)."""
    if not math.isfinite(mean):
        return "—"
    if not math.isfinite(std):
        return f"{mean:.4f}"
    return f"{mean:.4f} ± {std:.4f}"


def format_number(value: float | None, missing: str = "—", digits: int = 1) -> str:
    """A count or a duration: integers without decimals, others to ``digits`` decimals."""
    if value is None or not math.isfinite(value):
        return missing
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.{digits}f}"
