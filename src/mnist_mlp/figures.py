"""The plot stage: PNG figures of training curves, errors and learned weights (matplotlib, Agg)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .fileio import atomic_path  # noqa: E402
from .errors import DataError  # noqa: E402
from .metrics import confusion_matrix  # noqa: E402
from .splits import Normalization  # noqa: E402

SIDE = 28
#: The band at the top of a panel grid that holds the figure's title, in inches.
TITLE_BAND = 0.3


def read_csv_columns(path: str | Path, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Named numeric columns of a CSV written by an earlier stage."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        return {c: np.array([float(r[c]) for r in rows]) for c in columns}
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; run the stage that writes it") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: expected numeric columns {', '.join(columns)} ({exc})") from None


def save_figure(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def title_above_panels(fig, title: str) -> None:
    """Lay the panels out under a band of ``TITLE_BAND`` inches holding ``title``, widening a
    figure of a few panels to the title's width. ``tight_layout`` alone places the title at a
    fraction of the figure's height, so in a figure of 10 rows or more it ran into the top
    row's panels (matplotlib#5355), and a figure of one panel cut its title off."""
    height = fig.get_figheight()
    text = fig.suptitle(title, y=1 - 0.08 / height, va="top", in_layout=False)
    title_inches = text.get_window_extent(fig.canvas.get_renderer()).width / fig.dpi
    fig.set_figwidth(max(fig.get_figwidth(), title_inches + 0.2))
    fig.tight_layout(rect=(0, 0, 1, 1 - TITLE_BAND / height))


def learning_curves(history: dict[str, np.ndarray], chosen_epoch: int | None = None):
    """Loss and accuracy by epoch; a dashed line marks ``chosen_epoch``, the epoch whose weights
    early stopping kept, where it is not the last one."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    epoch = history["epoch"]
    for split in ("train", "dev"):
        ax_loss.plot(epoch, history[f"{split}_loss"], marker=".", label=split)
        ax_acc.plot(epoch, history[f"{split}_accuracy"], marker=".", label=split)
    ax_loss.set(title="Loss", xlabel="epoch", ylabel="mean loss", yscale="log")
    ax_acc.set(title="Accuracy", xlabel="epoch", ylabel="accuracy")
    for ax in (ax_loss, ax_acc):
        if chosen_epoch is not None and len(epoch) and chosen_epoch != epoch[-1]:
            ax.axvline(chosen_epoch, color="gray", linestyle="--", linewidth=1,
                       label=f"kept: epoch {chosen_epoch}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def confusion_figure(actual: np.ndarray, predicted: np.ndarray):
    counts = confusion_matrix(actual, predicted)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(np.log1p(counts), cmap="Blues")
    threshold = np.log1p(counts).max() / 2
    for (i, j), count in np.ndenumerate(counts):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                color="white" if np.log1p(count) > threshold else "black")
    ax.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="actual",
           title=f"Test confusion matrix (accuracy {np.mean(actual == predicted):.2%})")
    fig.tight_layout()
    return fig


def digit_grid(images: np.ndarray, titles: list[str], colors: list[str], suptitle: str):
    """images: (n, 784) in [0, 1]; one panel per image (an empty figure for none)."""
    cols = max(1, min(len(images), 8))
    rows = max(1, -(-len(images) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.6 * rows + TITLE_BAND),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title, color in zip(axes.flat, images, titles, colors):
        ax.imshow(image.reshape(SIDE, SIDE), cmap="gray_r", vmin=0, vmax=1)
        # y=1.0, where matplotlib puts a title over axes without ticks anyway, spares the
        # tick-label search it otherwise makes for each titled panel at layout and at every
        # draw: the same PNG bytes (tests/test_figures.py), and the plot stage took 3.37 s
        # against 4.15 s (medians of five interleaved runs).
        ax.set_title(title, fontsize=8, color=color, y=1.0)
    title_above_panels(fig, suptitle)
    return fig


def weight_images(weights: np.ndarray, count: int, per_class: bool = False):
    """First-layer weights (784, units): each unit's incoming weights as a 28x28 image. With
    ``per_class`` (a network without hidden layers) that layer is the output layer, and each
    image is a class's template."""
    count = min(count, weights.shape[1])
    cols = min(count, 8)
    rows = -(-count // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows + TITLE_BAND),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for unit, ax in enumerate(axes.flat[:count]):
        w = weights[:, unit]
        limit = float(np.abs(w).max()) or 1.0
        ax.imshow(w.reshape(SIDE, SIDE), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"{'class' if per_class else 'unit'} {unit}", fontsize=7,
                     y=1.0)  # y: as in digit_grid
    title_above_panels(fig, "Output-layer weights, no hidden layer (red +, blue -)" if per_class
                       else "First-layer weights (red +, blue -)")
    return fig


def to_unit_range(x: np.ndarray, normalization: Normalization) -> np.ndarray:
    """Undo the prepare stage's normalization so images display as pixels in [0, 1]."""
    return np.clip(x * normalization.std + normalization.mean, 0, 1)


def plot_all(history: dict[str, np.ndarray], predictions: dict[str, np.ndarray],
             test_images: np.ndarray, first_weights: np.ndarray, out_dir: str | Path,
             grid_digits: int, worst_digits: int, weight_count: int,
             weights_per_class: bool = False, chosen_epoch: int | None = None) -> list[Path]:
    """Write every figure into ``out_dir``; returns their paths. ``weights_per_class``: the
    first layer is the output layer (``weight_images``); ``chosen_epoch``: the epoch whose
    weights the model holds (``learning_curves``)."""
    out_dir = Path(out_dir)
    actual = predictions["actual"].astype(int)
    predicted = predictions["predicted"].astype(int)
    confidence = predictions["confidence"]
    if len(actual) != len(test_images):
        raise DataError(f"predictions cover {len(actual)} rows but the test set has "
                        f"{len(test_images)}; rerun the evaluate stage")
    figures = {"learning_curves.png": learning_curves(history, chosen_epoch),
               "confusion_matrix.png": confusion_figure(actual, predicted)}
    shown = np.arange(min(grid_digits, len(actual)))
    figures["test_predictions.png"] = digit_grid(
        test_images[shown], [f"pred {predicted[i]} / true {actual[i]}" for i in shown],
        ["black" if predicted[i] == actual[i] else "red" for i in shown],
        "First test digits: predicted / true")
    wrong = np.flatnonzero(predicted != actual)
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:worst_digits]
    figures["confident_mistakes.png"] = digit_grid(
        test_images[worst],
        [f"pred {predicted[i]} ({confidence[i]:.0%}) / true {actual[i]}" for i in worst],
        ["red"] * len(worst), f"Most confident mistakes ({len(wrong)} test "
        f"{'error' if len(wrong) == 1 else 'errors'} in all)")
    figures["first_layer_weights.png"] = weight_images(first_weights, weight_count,
                                                       weights_per_class)
    paths = []
    for name, fig in figures.items():
        save_figure(fig, out_dir / name)
        paths.append(out_dir / name)
    return paths
