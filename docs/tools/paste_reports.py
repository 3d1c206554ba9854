"""Fill the report tables into docs/results.md from the benchmark store's own files.

    python -m dals_tune report --out results/cpu
    .venv/bin/python docs/tools/paste_reports.py --reports results/cpu/reports

Each block of the page between ``<!-- report: NAME -->`` and ``<!-- end report -->`` is
replaced by the table of ``<reports>/NAME`` (its Markdown file without the title line), so
the page's tables are exactly what the report wrote; ``NAME:STRATEGY,...`` keeps only those
strategies' rows of a table whose first column is the strategy (``ranks.md``). The text
around the blocks is written by hand and says what the tables mean.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

BLOCK = re.compile(r"(<!-- report: (?P<name>[^ ]+) -->\n)(?P<body>.*?)(<!-- end report -->)", re.S)


def table_of(reports: Path, spec: str) -> str:
    """The Markdown of ``spec``'s report file without its title, or only some rows of it."""
    name, _, keep = spec.partition(":")
    path = reports / name
    if not path.is_file():
        raise SystemExit(f"{path} is missing; run python -m dals_tune report --out ... first")
    lines = path.read_text().splitlines()
    body = [line for line in lines if not line.startswith("# ")]
    while body and not body[0].strip():
        body.pop(0)
    if keep:
        wanted = keep.split(",")
        rows = {line.split("|")[1].strip(): line for line in body[2:] if line.startswith("|")}
        missing = [strategy for strategy in wanted if strategy not in rows]
        if missing:
            raise SystemExit(f"{name} has no rows for {', '.join(missing)}")
        body = body[:2] + [rows[strategy] for strategy in wanted]
    return "\n".join(body).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=Path("results/cpu/reports"))
    parser.add_argument("--page", type=Path, default=Path("docs/results.md"))
    args = parser.parse_args()
    page = args.page.read_text()

    def filled(match: re.Match[str]) -> str:
        return match.group(1) + table_of(args.reports, match.group("name")) + match.group(4)

    args.page.write_text(BLOCK.sub(filled, page))


if __name__ == "__main__":
    main()
