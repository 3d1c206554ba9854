"""Take the screenshot in docs/ui.md: a study's runs in the MLflow UI, one row per trial.

    .venv/bin/python docs/tools/ui_screenshot.py --out STUDY_FOLDER --png docs/images/mlflow_ui.png

Starts ``python -m dals_tune ui`` on the study folder, opens the newest study's experiment in
Debian's Chromium (through Playwright, which downloads no browser), shows the columns a
reviewer reads (val_acc, the tags strategy, status and dals.winner) in place of MLflow's
Dataset/Source/Models, expands the study's run to show its trials, and saves a PNG.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dals_tune.tracking_ui import health_status

HIDDEN_ATTRIBUTES = ("Dataset", "Source", "Models")
SHOWN_COLUMNS = ("val_acc", "strategy", "status", "dals.winner")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="the study folder")
    parser.add_argument("--png", required=True, type=Path, help="where to write the screenshot")
    parser.add_argument("--workload", default=None, help="the experiment (default: newest study)")
    parser.add_argument("--port", type=int, default=None, help="default: a free port")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    port = args.port or free_port()
    with ui_server(args.out, port) as url:
        experiment_id, parent = newest_study(port, args.workload)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, headless=True)
            try:
                page = browser.new_page(viewport={"width": args.width, "height": args.height})
                page.set_default_timeout(20_000)
                show_runs_table(page, url, experiment_id, parent)
                args.png.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.png))
            finally:
                browser.close()
    print(args.png)
    return 0


def show_runs_table(page, url: str, experiment_id: str, parent: str) -> None:
    """The experiment's runs table with ``SHOWN_COLUMNS`` and the study expanded."""
    page.goto(f"{url}/#/experiments/{experiment_id}/runs?workflowType=machine_learning")
    parent_row = page.locator(f"[role=row][row-id='{parent}']")
    parent_row.first.wait_for()
    assistant_close = page.get_by_role("button", name="Close", exact=True)
    if assistant_close.count() == 1 and assistant_close.is_visible():
        assistant_close.click()  # MLflow's chat panel, open by default, takes a third of the width

    page.get_by_role("button", name="Columns").click()
    selector = page.get_by_role("dialog")

    def column(name: str):
        title = re.compile(f"^{re.escape(name)}$")
        return selector.locator(".du-bois-light-tree-title").filter(has_text=title).first

    for name in HIDDEN_ATTRIBUTES:
        node = column(name).locator("xpath=ancestor::div[contains(@class, 'treenode')][1]")
        if node.count() and "checkbox-checked" in (node.get_attribute("class") or ""):
            column(name).click()
    for name in SHOWN_COLUMNS:
        selector.get_by_placeholder("Search columns").fill(name)
        column(name).click()
    page.keyboard.press("Escape")

    parent_row.locator("[col-id='attributes.`Run Name`'] button").click()
    page.locator("[role=gridcell][col-id='tags.`strategy`']").nth(1).wait_for()
    page.mouse.click(page.viewport_size["width"] // 2, page.viewport_size["height"] - 150)
    page.mouse.move(0, page.viewport_size["height"] - 1)  # no focus or hover marks in the picture
    page.wait_for_timeout(500)


def newest_study(port: int, workload: str | None) -> tuple[str, str]:
    """(experiment id, parent run id) of the newest study, asked of the server's REST API."""
    experiments = post(port, "/api/2.0/mlflow/experiments/search", {"max_results": 1000})
    ids = [
        experiment["experiment_id"]
        for experiment in experiments.get("experiments", [])
        if workload is None or experiment["name"] == workload
    ]
    if not ids:
        raise SystemExit(f"no experiment named {workload!r} in the store")
    runs = post(
        port,
        "/api/2.0/mlflow/runs/search",
        {
            "experiment_ids": ids,
            "filter": "tags.kind = 'study'",
            "order_by": ["attributes.start_time DESC"],
            "max_results": 1,
        },
    ).get("runs", [])
    if not runs:
        raise SystemExit("no study in the store; run python -m dals_tune search first")
    info = runs[0]["info"]
    return info["experiment_id"], info["run_id"]


def post(port: int, path: str, body: dict) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        return json.loads(connection.getresponse().read() or b"{}")
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def ui_server(out: Path, port: int, timeout: float = 90.0) -> Iterator[str]:
    """``python -m dals_tune ui`` until the block ends (then Ctrl-C); yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dals_tune", "ui", "--out", str(out), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # Ctrl-C stops it
    )
    try:
        deadline = time.monotonic() + timeout
        while health_status("127.0.0.1", port) != 200:
            if process.poll() is not None:
                raise SystemExit(process.returncode or 1)
            if time.monotonic() > deadline:
                raise SystemExit(f"the MLflow UI did not answer on port {port}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=30)


if __name__ == "__main__":
    raise SystemExit(main())
