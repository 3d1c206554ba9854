"""``python -m dals_tune ui``: MLflow's UI on a study store, checked in a real browser.

The browser test drives Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``)
through Playwright; it never downloads a browser.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_tracking import STUDY_TAGS

from dals_tune.cli import main
from dals_tune.tracking import open_store
from dals_tune.tracking_ui import health_status, serve_ui

CHROMIUM = Path("/usr/bin/chromium")
TRIALS = [  # Ray's trial id, strategy, status, validation accuracy per epoch
    ("5c1a2_00001", "dals", "completed", [0.61, 0.85, 0.93]),
    ("5c1a2_00002", "adamw", "completed", [0.55, 0.80, 0.90]),
    ("5c1a2_00003", "cosine_sgd", "pruned", [0.40]),
    ("5c1a2_00004", "adamw", "pruned", [0.31]),
]
RERUN_SEEDS = (1, 2)  # the winner's configuration trained again
EPOCH_SECONDS = 1.25  # each epoch's training; a 3-epoch trial ran 3 × 1.25 + 0.5 s


@dataclass
class Study:
    out: Path
    experiment_id: str
    parent: str
    children: dict[str, tuple[str, str]]  # run id -> (strategy, status)


def epochs_of(accuracies: list[float]) -> list[dict]:
    """Per-epoch results as a trainer reports them (Tune's ``time_total_s`` included)."""
    return [
        {
            "epoch": epoch,
            "val_acc": acc,
            "val_loss": 1.0 - acc,
            "epoch_seconds": EPOCH_SECONDS,
            "time_total_s": 0.5 + EPOCH_SECONDS * epoch,
        }
        for epoch, acc in enumerate(accuracies, start=1)
    ]


def build_study(out: Path) -> Study:
    """A finished study through the Tracker API, written as the study driver writes it: one
    parent, four trials that ran an hour ago for as long as their epochs say, the winner's
    seed re-runs, and the report (leaderboard, plots, description) on the parent."""
    from dals_tune import reports
    from dals_tune.study.recording import study_description

    tracker = open_store(out)
    parent = tracker.start_study("synthetic", STUDY_TAGS, {"strategies": "dals,adamw,cosine_sgd"})
    children = {}
    runs = [(trial_id, "trial", None, *rest) for trial_id, *rest in TRIALS]
    runs += [
        ("dals", "rerun", seed, "dals", "completed", [0.6, 0.9, 0.93 + seed / 100])
        for seed in RERUN_SEEDS
    ]
    started = time.time() - 3600
    for trial_id, kind, seed, strategy, status, accuracies in runs:
        epochs = epochs_of(accuracies)
        run_id = tracker.log_trial(
            parent, trial_id, strategy, 3, status, {"lr": 0.1}, epochs, kind=kind, seed=seed,
            started_at=started, ended_at=started + epochs[-1]["time_total_s"],
        )  # fmt: skip
        children[run_id] = (strategy, status)
        started += 60
    folder = out / "studies" / "synthetic-study"
    report = reports.write_study_report(tracker, parent, folder)
    plots = [path.name for path in report.files if path.suffix == ".png"]
    description = study_description(report.rows, (folder / "leaderboard.md").read_text(), plots)
    tracker.finish_study(
        parent, report.winner, report.winner_value, report.files, description=description
    )
    return Study(out, tracker.experiment_for("synthetic"), parent, children)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RunningUI:
    url: str
    process: subprocess.Popen
    stdout: str = ""  # filled in once the command has ended
    stderr: str = ""
    stdout_path: str = ""  # where the command's output goes while it runs


@contextmanager
def ui_server(out: Path, port: int, timeout: float = 60.0) -> Iterator[RunningUI]:
    """Run ``python -m dals_tune ui --out OUT --port PORT`` until the block ends.

    Yields once ``/health`` answers. On leaving, sends SIGINT to the command's process group,
    as Ctrl-C in a terminal does, and waits for it to end; ``stdout``, ``stderr`` and
    ``process.returncode`` are then set. The output goes to files, not pipes: the server's
    access log would fill a pipe nobody reads.
    """
    with tempfile.TemporaryDirectory() as logs:
        stdout_path, stderr_path = Path(logs, "stdout"), Path(logs, "stderr")
        with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "dals_tune", "ui", "--out", str(out), "--port", str(port)],
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
                preexec_fn=default_sigint,
            )
        running = RunningUI(f"http://127.0.0.1:{port}", process, stdout_path=str(stdout_path))
        try:
            deadline = time.monotonic() + timeout
            while health_status("127.0.0.1", port) != 200:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"the UI did not answer on port {port}: {stderr_path.read_text()[-2000:]}"
                    )
                time.sleep(0.2)
            yield running
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            running.stdout = stdout_path.read_text()
            running.stderr = stderr_path.read_text()


def default_sigint() -> None:
    """Let the command take Ctrl-C even when pytest was started with SIGINT ignored (a
    background job of a script), which its children would inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium; .ci/run installs it",
)
def test_the_browser_shows_strategy_and_status_of_each_trial_and_the_winner(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # a loaded machine draws MLflow's pages slowly
    study = build_study(tmp_path / "study")
    port = free_port()
    with ui_server(study.out, port) as ui, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            # Wide: the runs table draws only the columns in view, and the chosen ones come
            # after MLflow's default columns.
            page = browser.new_page(viewport={"width": 2560, "height": 1200})
            page.set_default_timeout(20_000)

            # The runs table. MLflow keeps the chosen columns in the browser's local storage,
            # not in the URL, so they are chosen the way a user does: Columns, search, tick.
            page.goto(
                f"{ui.url}/#/experiments/{study.experiment_id}/runs?workflowType=machine_learning"
            )
            parent_row = page.locator(f"[role=row][row-id='{study.parent}']")
            expect(parent_row.first).to_contain_text("study-synthetic")
            page.get_by_role("button", name="Columns").click()
            selector = page.get_by_role("dialog")
            for tag in ("strategy", "status"):
                selector.get_by_placeholder("Search columns").fill(tag)
                selector.get_by_text(tag, exact=True).first.click()
            page.keyboard.press("Escape")
            for tag in ("strategy", "status"):
                header = page.locator(f"[role=columnheader][col-id='tags.`{tag}`']")
                expect(header).to_have_text(tag)

            # Trials are nested under the study's run: expand it, then read each trial's row.
            parent_row.locator("[col-id='attributes.`Run Name`'] button").click()
            for run_id, (strategy, status) in study.children.items():
                row = page.locator(f"[role=row][row-id='{run_id}']")
                expect(row.locator("[col-id='tags.`strategy`']")).to_have_text(strategy)
                expect(row.locator("[col-id='tags.`status`']")).to_have_text(status)
            expect(page.get_by_text("dals · trial 1", exact=True)).to_be_visible()
            expect(page.get_by_text("dals · seed 2", exact=True)).to_be_visible()

            # The study's own page lists the winner among its tags, as "dals.winner: dals".
            page.goto(f"{ui.url}/#/experiments/{study.experiment_id}/runs/{study.parent}")
            winner = page.get_by_text(re.compile(r"^dals\.winner\s*:\s*dals$"))
            expect(winner.first).to_be_visible()
        finally:
            browser.close()

    assert ui.process.returncode == 0  # Ctrl-C ends the command quietly
    assert f"MLflow UI: {ui.url}  (Ctrl-C to stop)" in ui.stdout.splitlines()
    assert "Traceback" not in ui.stderr


def printed_link(stdout: str, label: str) -> str:
    (line,) = [line for line in stdout.splitlines() if line.strip().startswith(label)]
    return line.split(label, 1)[1].strip()


@pytest.mark.slow
@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium; .ci/run installs it",
)
def test_the_printed_links_open_the_study_for_review_on_a_fresh_browser_profile(tmp_path):
    """What a reviewer sees without clicking around: each page in a new browser context
    (a fresh profile: no view, column or sort MLflow remembered in local storage)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # a loaded machine draws MLflow's pages slowly
    study = build_study(tmp_path / "study")
    port = free_port()
    with ui_server(study.out, port) as ui, sync_playwright() as playwright:
        deadline = time.monotonic() + 30  # the links follow the first line
        while "its runs:" not in Path(ui.stdout_path).read_text():
            assert time.monotonic() < deadline, "ui printed no links to the study"
            time.sleep(0.2)
        stdout = Path(ui.stdout_path).read_text()
        run_link, runs_link = printed_link(stdout, "its run:"), printed_link(stdout, "its runs:")
        assert run_link == (
            f"{ui.url}/#/experiments/{study.experiment_id}/runs/{study.parent}"
            "?workflowType=machine_learning"
        )
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)

        def fresh_page():
            page = browser.new_context(viewport={"width": 1600, "height": 1200}).new_page()
            page.set_default_timeout(20_000)
            return page

        try:
            # The study's run: its description is the winner line, the leaderboard, the plots.
            page = fresh_page()
            page.goto(run_link)
            expect(page.get_by_text("Model training").first).to_be_visible()
            winner = page.get_by_text(
                re.compile(
                    r"^Winner: dals, val_acc 0\.9450 ± 0\.0071, mean ± std over 2 seed re-runs\.$"
                )
            )
            expect(winner).to_be_visible()
            table = page.locator("table").filter(has_text="tuned > default")
            expect(table.locator("tr").nth(1)).to_contain_text("dals")
            expect(table.locator("tr")).to_have_count(4)  # header + dals, adamw, cosine_sgd
            expect(page.get_by_text("learning_curves.png").first).to_be_visible()

            # The study's runs: the classic runs table (not the GenAI overview), its trials
            # and re-runs as rows of their own, and nothing else.
            page = fresh_page()
            page.goto(runs_link)
            rows = page.locator("[role=row][row-id]")
            expect(rows.filter(has_text="dals · trial 1").first).to_be_visible()
            expect(page.get_by_text("Observability")).to_have_count(0)  # a GenAI tab
            shown = {rows.nth(i).get_attribute("row-id") for i in range(rows.count())}
            assert shown == set(study.children)
            expect(rows.filter(has_text="adamw · trial 2").first).to_be_visible()

            # A trial's own page: its real duration (3 × 1.25 + 0.5 s), and its learning curve
            # drawn by epoch (one line through its three epochs).
            trial = next(run for run, (strategy, _) in study.children.items() if strategy == "dals")
            page = fresh_page()
            page.goto(f"{ui.url}/#/experiments/{study.experiment_id}/runs/{trial}")
            expect(page.get_by_text("dals · trial 1").first).to_be_visible()
            expect(page.locator("body")).to_contain_text(re.compile(r"Duration\s*4\.[23]s"))
            page.goto(
                f"{ui.url}/#/experiments/{study.experiment_id}/runs/{trial}/model-metrics"
                "?workflowType=machine_learning"
            )
            chart = page.locator("div").filter(has=page.locator(".js-plotly-plot"))
            line = chart.filter(has_text="(val_acc)").last.locator("path.js-line").first
            expect(line).to_have_attribute("d", re.compile(r"^M[^L]+L[^L]+L[^L]+$"))
        finally:
            browser.close()
    assert ui.process.returncode == 0


def test_ui_without_a_store_says_to_run_search_first_and_creates_nothing(tmp_path, capsys):
    out = tmp_path / "no_study_yet"
    assert main(["ui", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1, error
    assert "no study store" in error
    assert f"python -m dals_tune search --out {out}" in error
    assert not out.exists()


def test_ui_on_a_missing_sqlite_uri_creates_no_database(tmp_path):
    uri = f"sqlite:///{tmp_path / 'missing.db'}"
    with pytest.raises(ValueError, match="no MLflow store"):
        serve_ui(tmp_path, uri)
    assert not list(tmp_path.iterdir())


def test_ui_on_a_busy_port_is_one_line_before_any_server_starts(tmp_path):
    open_store(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ValueError) as caught:
            serve_ui(tmp_path, host="127.0.0.1", port=port)
    message = str(caught.value)
    assert "\n" not in message
    assert f"port {port} on 127.0.0.1 is already in use" in message
    assert "--port" in message
