"""The plot stage's figures (figures.py)."""

import matplotlib.axes
import matplotlib.pyplot as plt
import numpy as np
import pytest

from mnist_mlp import figures


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
