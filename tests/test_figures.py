"""The plot stage's figures (figures.py)."""

import re

import matplotlib.axes
import matplotlib.pyplot as plt
import numpy as np
import pytest

from mnist_mlp import figures
from mnist_mlp.errors import DataError
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


@pytest.mark.parametrize("predicted, title", [
    ([1, 2, 3], "Most confident mistakes (0 test errors in all)"),
    ([1, 2, 4], "Most confident mistakes (1 test error in all)"),
    ([1, 3, 4], "Most confident mistakes (2 test errors in all)"),
])
def test_the_mistakes_figure_counts_the_errors_in_its_title(monkeypatch, tmp_path, predicted,
                                                              title):
    titles = []
    monkeypatch.setattr(figures, "digit_grid", lambda *args: titles.append(args[3]) or
                        plt.figure())
    predictions = {"actual": np.array([1, 2, 3]), "predicted": np.array(predicted),
                   "confidence": np.full(3, 0.9)}
    figures.plot_all({"epoch": np.array([1]), **{f"{split}_{kind}": np.array([0.5])
                      for split in ("train", "dev") for kind in ("loss", "accuracy")}},
                     predictions, np.zeros((3, 784), np.float32), np.zeros((784, 4), np.float32),
                     tmp_path, grid_digits=3, worst_digits=3, weight_count=4)
    assert titles[1] == title


def test_images_shown_undo_the_normalization():
    pixels = np.array([[0, 51, 255]], np.uint8)
    for norm in (Normalization(), Normalization(mean=0.13, std=0.31)):
        shown = figures.to_unit_range(norm.apply(pixels), norm)
        np.testing.assert_allclose(shown, pixels / 255, atol=1e-6)


FIGURE_FILES = ["learning_curves.png", "confusion_matrix.png", "test_predictions.png",
                "confident_mistakes.png", "first_layer_weights.png"]
HISTORY = {"epoch": np.array([1.0, 2.0, 3.0]),
           "train_loss": np.array([0.9, 0.5, 0.3]), "dev_loss": np.array([1.0, 0.6, 0.45]),
           "train_accuracy": np.array([0.7, 0.85, 0.9]),
           "dev_accuracy": np.array([0.68, 0.8, 0.86])}


def drawn(monkeypatch, tmp_path, first_weights=None, weights_per_class=False,
          chosen_epoch=None):
    """plot_all on ten test rows (two wrong), and its figures by file name (save_figure
    still writes each: the figures stay inspectable after it closes them)."""
    kept = {}
    save = figures.save_figure

    def keep(fig, path):
        kept[path.name] = fig
        save(fig, path)

    monkeypatch.setattr(figures, "save_figure", keep)
    predictions = {"actual": np.arange(10.0),
                   "predicted": np.array([0, 1, 7, 3, 4, 5, 6, 7, 3, 9.0]),
                   "confidence": np.linspace(0.5, 0.95, 10)}
    images = np.random.default_rng(0).random((10, 784))
    if first_weights is None:
        first_weights = np.random.default_rng(1).normal(size=(784, 6)).astype(np.float32)
    paths = figures.plot_all(HISTORY, predictions, images, first_weights, tmp_path,
                             grid_digits=4, worst_digits=2, weight_count=32,
                             weights_per_class=weights_per_class, chosen_epoch=chosen_epoch)
    return paths, kept, images


def test_plot_all_writes_the_five_pngs_and_returns_their_paths(monkeypatch, tmp_path):
    paths, kept, _ = drawn(monkeypatch, tmp_path)
    assert paths == [tmp_path / name for name in FIGURE_FILES]
    assert list(kept) == FIGURE_FILES
    for path in paths:
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_learning_curves_draw_each_splits_history(monkeypatch, tmp_path):
    _, kept, _ = drawn(monkeypatch, tmp_path)
    loss, accuracy = kept["learning_curves.png"].axes
    assert loss.get_yscale() == "log"
    for ax, metric in ((loss, "loss"), (accuracy, "accuracy")):
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert sorted(lines) == ["dev", "train"]
        for split, line in lines.items():
            np.testing.assert_array_equal(line.get_xdata(), HISTORY["epoch"])
            np.testing.assert_array_equal(line.get_ydata(), HISTORY[f"{split}_{metric}"])


@pytest.mark.parametrize("chosen_epoch, marked", [(2, True), (3, False), (None, False)])
def test_learning_curves_mark_the_epoch_early_stopping_kept(monkeypatch, tmp_path,
                                                            chosen_epoch, marked):
    _, kept, _ = drawn(monkeypatch, tmp_path, chosen_epoch=chosen_epoch)
    fig = kept["learning_curves.png"]
    for ax in fig.axes:
        marks = [line for line in ax.get_lines() if line.get_label().startswith("kept")]
        assert len(marks) == marked
        if marked:
            assert marks[0].get_label() == "kept: epoch 2"
            np.testing.assert_array_equal(marks[0].get_xdata(), [2, 2])
            assert "kept: epoch 2" in [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close(fig)


def test_the_confusion_figure_writes_each_cells_count(monkeypatch, tmp_path):
    _, kept, _ = drawn(monkeypatch, tmp_path)
    ax, = [ax for ax in kept["confusion_matrix.png"].axes if ax.texts]
    counts = {(round(t.get_position()[1]), round(t.get_position()[0])): int(t.get_text())
              for t in ax.texts}
    expected = np.eye(10, dtype=int)
    expected[2, 2] = expected[8, 8] = 0
    expected[2, 7] = expected[8, 3] = 1  # true 2 read as 7, true 8 as 3
    assert len(counts) == 100
    assert all(counts[i, j] == expected[i, j] for i in range(10) for j in range(10))
    assert "accuracy 80.00%" in ax.get_title()
    assert (ax.get_ylabel(), ax.get_xlabel()) == ("actual", "predicted")  # rows are the truth


def panels(fig):
    """(title, colour, image array, colour limits, colormap) of each panel with an image."""
    return [(ax.get_title(), ax.title.get_color(), ax.images[0].get_array(),
             ax.images[0].get_clim(), ax.images[0].get_cmap().name)
            for ax in fig.axes if ax.images]


def test_the_first_test_digits_show_prediction_and_truth_red_where_wrong(monkeypatch, tmp_path):
    _, kept, images = drawn(monkeypatch, tmp_path)
    shown = panels(kept["test_predictions.png"])
    assert [(title, colour) for title, colour, *_ in shown] == [
        ("pred 0 / true 0", "black"), ("pred 1 / true 1", "black"), ("pred 7 / true 2", "red"),
        ("pred 3 / true 3", "black")]
    for i, (_, _, image, limits, colormap) in enumerate(shown):
        np.testing.assert_array_equal(image, images[i].reshape(28, 28))
        assert limits == (0, 1) and colormap == "gray_r"  # white paper, black ink, fixed scale
    mistakes = panels(kept["confident_mistakes.png"])
    assert [colour for _, colour, *_ in mistakes] == ["red", "red"]


@pytest.mark.parametrize("per_class, suptitle", [
    (False, "First-layer weights (red +, blue -)"),
    (True, "Output-layer weights, no hidden layer (red +, blue -)")])
def test_weight_images_are_centred_on_zero_each_on_its_own_scale(monkeypatch, tmp_path,
                                                                  per_class, suptitle):
    """Red positive, blue negative, white zero: each unit's colour limits are ± its largest
    absolute weight, and ±1 for a unit whose weights are all zero (a scale of zero would
    divide by zero)."""
    weights = np.random.default_rng(1).normal(size=(784, 6)).astype(np.float32)
    weights[:, 2] *= 10
    weights[:, 4] = 0
    _, kept, _ = drawn(monkeypatch, tmp_path, weights, per_class)
    fig = kept["first_layer_weights.png"]
    assert fig.get_suptitle() == suptitle
    shown = panels(fig)
    assert len(shown) == 6
    for unit, (_, _, image, limits, colormap) in enumerate(shown):
        np.testing.assert_array_equal(image, weights[:, unit].reshape(28, 28))
        largest = float(np.abs(weights[:, unit]).max()) or 1.0
        assert limits == (-largest, largest) and colormap == "RdBu_r"


def test_saved_pngs_are_the_same_bytes_each_time_and_name_no_matplotlib_version(tmp_path):
    """So a PNG (and so `dvc status`) changes where its drawing does, not with the version
    string matplotlib would write into it; 100 dpi makes the figure's inches hundreds of
    pixels."""
    for name in ("a.png", "b.png"):
        figures.save_figure(figures.learning_curves(HISTORY), tmp_path / name)
    png = (tmp_path / "a.png").read_bytes()
    assert png == (tmp_path / "b.png").read_bytes()
    assert b"matplotlib" not in png.lower()
    width, height = np.frombuffer(png[16:24], ">u4")
    assert (width, height) == (1000, 400)  # figsize (10, 4)


def test_images_shown_are_clipped_to_the_pixel_range():
    """Undoing a normalization in float32 can land a hair outside [0, 1], and pixels may be
    edited past it; shown, they saturate."""
    norm = Normalization(mean=0.13, std=0.31)
    x = norm.apply(np.array([[0, 255]], np.uint8)) + np.float32([[-0.5, 0.5]])
    np.testing.assert_array_equal(figures.to_unit_range(x, norm), [[0, 1]])


def test_a_stage_csvs_named_columns_are_read_as_numbers_in_any_order(tmp_path):
    (tmp_path / "history.csv").write_text("dev_loss,epoch,other\n0.5,1,x\n0.25,2,y\n")
    columns = figures.read_csv_columns(tmp_path / "history.csv", ("epoch", "dev_loss"))
    assert list(columns) == ["epoch", "dev_loss"]
    np.testing.assert_array_equal(columns["epoch"], [1, 2])
    np.testing.assert_array_equal(columns["dev_loss"], [0.5, 0.25])


@pytest.mark.parametrize("content, message", [
    (None, "history.csv: file not found; run the stage that writes it"),
    ("epoch,train_loss\n1,0.5\n", "history.csv: expected numeric columns epoch, dev_loss"),
    ("epoch,dev_loss\n1,nan?\n", "history.csv: expected numeric columns epoch, dev_loss"),
])
def test_a_missing_or_malformed_stage_csv_is_one_clear_error(tmp_path, content, message):
    if content is not None:
        (tmp_path / "history.csv").write_text(content)
    with pytest.raises(DataError, match=re.escape(message)):
        figures.read_csv_columns(tmp_path / "history.csv", ("epoch", "dev_loss"))


def test_plot_all_refuses_predictions_of_another_test_set(tmp_path):
    predictions = {"actual": np.zeros(5), "predicted": np.zeros(5), "confidence": np.ones(5)}
    with pytest.raises(DataError, match="predictions cover 5 rows but the test set has 6; "
                                        "rerun the evaluate stage"):
        figures.plot_all(HISTORY, predictions, np.zeros((6, 784)), np.zeros((784, 4)),
                         tmp_path, 4, 4, 4)
    assert not list(tmp_path.iterdir())


def title_troubles(fig) -> list[str]:
    """What is wrong with the figure's title and its panels once drawn: panels (their titles
    included) that the title runs into or that stick out of the figure, a title cut off by the
    figure's edges, and a gap under the title wider than its band."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    panels = [(f"panel {i} ({ax.get_title() or 'untitled'})", ax.get_tightbbox(renderer))
              for i, ax in enumerate(fig.axes)]
    troubles = [name for name, box in panels if box.overlaps(title)]
    troubles += [f"{name} outside" for name, box in panels
                 if box.x0 < 0 or box.y0 < 0 or box.x1 > fig.bbox.width]
    if title.x0 < 0 or title.x1 > fig.bbox.width or title.y1 > fig.bbox.height:
        troubles.append("title cut off")
    gap = (title.y0 - max(box.y1 for _, box in panels)) / fig.dpi
    if gap > figures.TITLE_BAND:
        troubles.append(f"{gap:.2f} in between the title and the panels")
    plt.close(fig)
    return troubles


@pytest.mark.parametrize("count", [1, 16, 96])
def test_the_figure_title_stays_whole_and_above_every_panel_however_many(count):
    """tight_layout alone put the figure's title over the top row's panels from 80 mistakes
    (10 rows) and 96 units' weights (12 rows) up: it places the title at a fraction of the
    figure's height. A figure of one panel, as wide as the panel, cut its title off; the title
    taking part in tight_layout's own placement left a band's height of space under it."""
    rng = np.random.default_rng(0)
    weights = figures.weight_images(rng.normal(size=(784, count)).astype(np.float32), count)
    assert title_troubles(weights) == []
    digits = figures.digit_grid(rng.random((count, 784)), ["pred 1 (99%) / true 7"] * count,
                                ["red"] * count, "Most confident mistakes (1 test error in all)")
    assert title_troubles(digits) == []
