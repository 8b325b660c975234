"""Training batches gathered from the images' bytes (batches.py): the same bits as the float32
rows, the floats wherever the images are not bytes, and the same weights from a training."""

import numpy as np
import pytest

from mnist_mlp import batches, training
from mnist_mlp.batches import BatchImages
from mnist_mlp.nn import kernels
from mnist_mlp.params import ModelParams, TrainParams
from mnist_mlp.splits import Normalization, Split, one_hot

from conftest import synthetic_digits

NORMALIZATIONS = [Normalization(), Normalization(0.1307, 0.3081), Normalization(0.5, 2.0),
                  Normalization(-3.0, 0.01), Normalization(1.0, 1e-3)]


@pytest.mark.parametrize("norm", NORMALIZATIONS)
def test_every_byte_decodes_to_what_the_normalization_gives(norm):
    """The decode is elementwise, so all 256 bytes are every case there is."""
    every_byte = np.arange(256, dtype=np.uint8).reshape(1, 256)
    decoded = np.empty((1, 256), np.float32)
    kernels.take_decoded(every_byte, np.zeros(1, np.intp), *norm.float32_steps(), decoded)
    assert decoded.tobytes() == norm.apply(every_byte).tobytes()


def split_of(norm: Normalization, n: int = 500) -> Split:
    pixels, labels = synthetic_digits(n, 3)
    pixels[0, :256] = np.arange(256)  # every byte value at least once
    return Split(norm.apply(pixels), labels, norm)


@pytest.mark.parametrize("norm", NORMALIZATIONS)
def test_batches_from_bytes_are_the_float_rows(norm):
    split = split_of(norm)
    images = BatchImages(split, parallel=True)
    assert images.from_bytes
    rng = np.random.default_rng(0)
    for size in (1, 7, 128, len(split.x)):
        rows = rng.permutation(len(split.x))[:size]
        out = np.empty((size, 784), np.float32)
        assert images.take(rows, out) is out
        assert out.tobytes() == split.x[rows].tobytes()
    rows = np.array([-3, 0, len(split.x) - 1, len(split.x) + 5])  # clipped, as np.take's "clip"
    out = np.empty((4, 784), np.float32)
    expected = np.take(split.x, rows, axis=0, mode="clip")
    assert images.take(rows, out).tobytes() == expected.tobytes()


def one_value_changed(value) -> Split:
    split = split_of(Normalization())
    split.x[7, 300] = value
    return split


def normalized_otherwise() -> Split:
    """Standardized images in a split that says they are scaled."""
    split = split_of(Normalization(0.1307, 0.3081))
    return Split(split.x, split.y, Normalization())


@pytest.mark.parametrize("split", [
    one_value_changed(np.nan), one_value_changed(-np.inf), one_value_changed(-0.0),
    one_value_changed(2.0), one_value_changed(0.5 / 255),
    one_value_changed(np.nextafter(Normalization().apply(np.uint8([[128]]))[0, 0],
                                   np.float32(1))),
    normalized_otherwise(),
], ids=["nan", "-inf", "-0", "above 1", "between two bytes", "one ulp off", "other norm"])
def test_images_that_are_not_bytes_are_gathered_as_floats(split):
    images = BatchImages(split, parallel=True)
    assert not images.from_bytes
    rows = np.arange(len(split.x))[::-1].copy()
    out = np.empty((len(rows), 784), np.float32)
    assert images.take(rows, out) is out
    assert out.tobytes() == split.x[rows].tobytes()


def test_float64_images_are_gathered_as_float64_rows():
    """Bytes decode to float32 only: float64 images (as a caller of ``train`` may pass) are
    copied as they are, each value exactly."""
    split = split_of(Normalization())
    split = Split(split.x.astype(np.float64), split.y, split.normalization)
    images = BatchImages(split, parallel=True)
    assert not images.from_bytes
    rows = np.arange(len(split.x))[::-1].copy()
    out = np.empty((len(rows), 784), np.float64)
    assert images.take(rows, out) is out
    np.testing.assert_array_equal(out, split.x[rows])


def test_bytes_only_over_the_pool_and_where_enabled(monkeypatch):
    split = split_of(Normalization())
    assert not BatchImages(split).from_bytes
    monkeypatch.setattr(batches, "FROM_BYTES", False)
    assert not BatchImages(split, parallel=True).from_bytes


def test_training_from_bytes_gives_the_same_weights(pool_available, monkeypatch):
    pixels, labels = synthetic_digits(600, 1)
    norm = Normalization(0.13, 0.31)
    tr = Split(norm.apply(pixels), labels, norm)
    params = TrainParams(optimizer="adam", lr=0.01, epochs=2, batch_size=100, threads=2)
    from_bytes = []

    class Recorded(BatchImages):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            from_bytes.append(self.from_bytes)

    monkeypatch.setattr(training, "BatchImages", Recorded)
    weights = {}
    for enabled in (True, False):
        monkeypatch.setattr(batches, "FROM_BYTES", enabled)
        result = training.train(ModelParams(hidden=[256, 128]), params, tr, one_hot(tr.y), tr,
                                one_hot(tr.y))
        assert result.shared_pool
        weights[enabled] = [p.tobytes() for p in result.model.params()]
    assert from_bytes == [True, False]
    assert weights[True] == weights[False]
