"""The report figures, drawn with matplotlib's Agg canvas (no pyplot, no GUI, no global
backend switch), so reports render on headless machines and in worker processes alike."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dals_tune.reports.study_runs import History

_LINE_STYLES = ("-", "--", ":", "-.")
_MAX_LAYER_LABELS = 40


def mean_curve(histories: Sequence[History]) -> tuple[list[int], list[float], list[float]]:
    """Align runs on their epochs: for each epoch e that any run reported,
    mean(e) = Σ_r v_r(e) / n(e) and the sample std over the n(e) runs that reached e
    (NaN where n(e) = 1). Non-finite values (a diverged epoch) are left out."""
    by_epoch: dict[int, list[float]] = {}
    for history in histories:
        for epoch, value in history:
            if math.isfinite(value):
                by_epoch.setdefault(int(epoch), []).append(value)
    epochs = sorted(by_epoch)
    means, stds = [], []
    for epoch in epochs:
        values = np.asarray(by_epoch[epoch])
        means.append(float(values.mean()))
        stds.append(float(values.std(ddof=1)) if len(values) > 1 else math.nan)
    return epochs, means, stds


def plot_learning_curves(
    curves: Mapping[str, Sequence[History]], path: Path, title: str, ylabel: str
) -> Path:
    """The validation metric (``ylabel``: ``validation accuracy``) over epochs, one line per
    strategy: the mean over its runs with a ± one-std band where two or more runs reached the
    epoch."""
    figure = Figure(figsize=(8, 5), layout="constrained")
    axes = figure.add_subplot()
    drawn = 0
    for index, (strategy, histories) in enumerate(curves.items()):
        epochs, means, stds = mean_curve(histories)
        if not epochs:
            continue
        color = _color(index)
        style = _LINE_STYLES[(index // 20) % len(_LINE_STYLES)]
        runs = len(histories)
        label = f"{strategy} ({runs} runs)" if runs > 1 else strategy
        axes.plot(epochs, means, style, color=color, marker=".", label=label)
        low = np.asarray(means) - np.asarray(stds)
        high = np.asarray(means) + np.asarray(stds)
        axes.fill_between(epochs, low, high, color=color, alpha=0.15, linewidth=0)
        drawn += 1
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    return _finish(figure, axes, path, title, drawn > 0, f"no run reported a {ylabel}")


def plot_lr_heatmap(histories: Mapping[str, History], path: Path, title: str) -> Path:
    """The learning rate of each depth group (rows, in the order of ``histories``) over epochs
    (columns); a logarithmic colour scale when every value is positive."""
    figure = Figure(figsize=(8, min(2 + 0.25 * len(histories), 14)), layout="constrained")
    axes = figure.add_subplot()
    epochs = sorted({int(step) for history in histories.values() for step, _ in history})
    if not epochs:
        _say(axes, "no learning rate was logged")
        axes.set_title(title)
        return save_figure(figure, path)
    column = {epoch: index for index, epoch in enumerate(epochs)}
    grid = np.full((len(histories), len(epochs)), np.nan)
    for row, history in enumerate(histories.values()):
        for step, value in history:
            grid[row, column[int(step)]] = value
    image = axes.imshow(
        np.ma.masked_invalid(grid),
        aspect="auto",
        interpolation="nearest",
        norm=_lr_norm(grid[np.isfinite(grid)]),
        cmap="viridis",
    )
    figure.colorbar(image, ax=axes, label="learning rate")
    names = list(histories)
    every = max(1, math.ceil(len(names) / _MAX_LAYER_LABELS))
    axes.set_yticks(range(0, len(names), every), names[::every], fontsize="small")
    every = max(1, math.ceil(len(epochs) / 20))
    axes.set_xticks(range(0, len(epochs), every), [str(e) for e in epochs[::every]])
    axes.set_xlabel("epoch")
    axes.set_ylabel("layer")
    axes.set_title(title)
    return save_figure(figure, path)


def plot_performance_profile(
    taus: Sequence[float], profile: Mapping[str, Sequence[float]], path: Path, title: str
) -> Path:
    """Dolan–Moré performance profile: ρ_k(τ) against τ, one step line per strategy."""
    figure = Figure(figsize=(8, 5), layout="constrained")
    axes = figure.add_subplot()
    for index, (strategy, rho) in enumerate(profile.items()):
        style = _LINE_STYLES[(index // 20) % len(_LINE_STYLES)]
        axes.step(taus, rho, style, where="post", color=_color(index), label=strategy)
    if len(taus):
        axes.set_xlim(taus[0], taus[-1])
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel("τ (error ratio to the best strategy of the study)")
    axes.set_ylabel("fraction of studies with ratio ≤ τ")
    return _finish(figure, axes, path, title, bool(profile), "no finished study yet")


def _color(index: int) -> tuple[float, ...]:
    """tab20's ten strong hues first, then their light twins, so neighbours differ."""
    return colormaps["tab20"]((2 * index) % 20 + (index // 10) % 2)


def _lr_norm(values: np.ndarray) -> Normalize:
    """Log scale when every LR is positive (they span decades across depth and schedule)."""
    if not values.size:
        return Normalize(vmin=0.0, vmax=1.0)
    low, high = float(values.min()), float(values.max())
    if low > 0:
        return LogNorm(vmin=low, vmax=max(high, low * (1 + 1e-9)))
    return Normalize(vmin=low, vmax=high if high > low else low + 1e-12)


def _say(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes)


def _finish(figure: Figure, axes: Axes, path: Path, title: str, drawn: bool, empty: str) -> Path:
    """Title, grid, and the legend outside on the right, or ``empty`` where nothing was
    drawn; then save."""
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if drawn:
        axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    else:
        _say(axes, empty)
    return save_figure(figure, path)


def save_figure(figure: Figure, path: Path) -> Path:
    """Render ``figure`` on an Agg canvas (no GUI) and write it to ``path``."""
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=120)
    return path
