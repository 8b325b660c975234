"""The plot stage's figures (figures.py)."""

import matplotlib.axes
import matplotlib.pyplot as plt
import numpy as np
import pytest

from mnist_mlp import figures
from mnist_mlp.splits import Normalization


def pixels(fig):
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba()).copy()
    plt.close(fig)
    return rgba


def grids():
    rng = np.random.default_rng(0)
    images = rng.random((12, 784))
    titles = [f"pred {i % 10} ({0.9 + i / 200:.0%}) / true {(i + 3) % 10}" for i in range(12)]
    return (figures.digit_grid(images, titles, ["red", "black"] * 6, "Most confident mistakes"),
            figures.weight_images(rng.normal(size=(784, 20)).astype(np.float32), 20))


def test_panel_titles_at_a_fixed_height_draw_the_pixels_of_matplotlibs_own_placement(
        monkeypatch):
    fixed = [pixels(fig) for fig in grids()]
    set_title = matplotlib.axes.Axes.set_title

    def placed_by_matplotlib(self, label, *args, y=None, **kwargs):
        return set_title(self, label, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "set_title", placed_by_matplotlib)
    automatic = [pixels(fig) for fig in grids()]
    for ours, theirs in zip(fixed, automatic):
        assert ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("count", [0, 1, 9])
def test_a_digit_grid_has_a_titled_panel_per_image_and_blank_ones_after(count):
    images = np.zeros((count, 784))
    fig = figures.digit_grid(images, ["t"] * count, ["black"] * count, "digits")
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert len(titled) == count and len(fig.axes) >= max(count, 1)
    plt.close(fig)


@pytest.mark.parametrize("per_class, units, title, panel", [
    (False, 20, "First-layer weights", "unit 19"),
    (True, 10, "Output-layer weights, no hidden layer", "class 9"),
])
def test_weight_images_name_units_or_classes(per_class, units, title, panel):
    weights = np.random.default_rng(0).normal(size=(784, units)).astype(np.float32)
    fig = figures.weight_images(weights, 32, per_class)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert fig.get_suptitle().startswith(title)
    assert len(titles) == units and titles[-1] == panel
    plt.close(fig)


def test_the_mistakes_figure_shows_the_wrong_predictions_surest_first(monkeypatch, tmp_path):
    grids_drawn = {}

    def recording_grid(images, titles, colors, suptitle):
        grids_drawn[suptitle.split(" (")[0]] = (images, titles)
        return plt.figure()

    monkeypatch.setattr(figures, "digit_grid", recording_grid)
    for name in ("learning_curves", "confusion_figure", "weight_images"):
        monkeypatch.setattr(figures, name, lambda *args: plt.figure())
    predictions = {"actual": np.array([1, 2, 3, 4, 5, 6]),
                   "predicted": np.array([1, 7, 3, 8, 9, 6]),
                   "confidence": np.array([0.99, 0.6, 0.98, 0.9, 0.7, 0.97])}
    images = np.arange(6)[:, None] * np.ones((6, 784), np.float32)
    figures.plot_all({}, predictions, images, np.zeros((784, 4), np.float32), tmp_path,
                     grid_digits=6, worst_digits=2, weight_count=4)
    shown, titles = grids_drawn["Most confident mistakes"]
    assert titles == ["pred 8 (90%) / true 4", "pred 9 (70%) / true 5"]
    np.testing.assert_array_equal(shown[:, 0], [3, 4])  # test rows 3 and 4


def test_images_shown_undo_the_normalization():
    pixels = np.array([[0, 51, 255]], np.uint8)
    for norm in (Normalization(), Normalization(mean=0.13, std=0.31)):
        shown = figures.to_unit_range(norm.apply(pixels), norm)
        np.testing.assert_allclose(shown, pixels / 255, atol=1e-6)
