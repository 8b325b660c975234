"""The training loop: learning, determinism, early stopping, constraints, augmentation."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.ndimage import affine_transform, gaussian_filter, gaussian_filter1d, map_coordinates
from threadpoolctl import threadpool_limits

from mnist_mlp import training
from mnist_mlp.augment import Augmenter, gaussian_weights
from mnist_mlp.errors import ParamsError, TrainingDiverged
from mnist_mlp.nn import (MLP, Architecture, Dense, Dropout, Schedule, build_mlp, compiled,
                          init_weights, make_optimizer)
from mnist_mlp.nn.losses import SigmoidMSE
from mnist_mlp.params import AugmentParams, ModelParams, TrainParams
from mnist_mlp.splits import Normalization, Split, one_hot
from mnist_mlp.training import (DIVERGENCE_FACTOR, EarlyStopping, TrainObserver, TrainResult,
                                apply_max_norm, blas_threads, build_model, score, train,
                                usable_cpus)

from conftest import synthetic_digits


def split(n, seed):
    pixels, labels = synthetic_digits(n, seed)
    return Split(Normalization().apply(pixels), labels)


@pytest.fixture(scope="module")
def data():
    tr, dv = split(400, 1), split(100, 2)
    return tr, one_hot(tr.y), dv, one_hot(dv.y)


def run(data, model=None, augment=None, **train_params):
    tr, ytr, dv, ydv = data
    params = TrainParams(**{"epochs": 3, "batch_size": 32, "lr": 0.01, "threads": 1,
                            **train_params})
    return train(ModelParams(**(model or {"hidden": [16]})), params, tr, ytr, dv, ydv,
                 augment=augment)


def weights(result):
    return [p.copy() for p in result.model.params()]


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"])
def test_every_optimizer_learns(data, optimizer):
    lr = 0.1 if optimizer in ("sgd", "momentum", "nesterov") else 0.01
    result = run(data, optimizer=optimizer, lr=lr, epochs=5)
    assert result.history[-1]["dev_accuracy"] > 0.9
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_no_hidden_layer_learns_as_softmax_regression(data):
    result = run(data, model={"hidden": []}, optimizer="adam", lr=0.01, epochs=5)
    assert [type(layer) for layer in result.model.layers] == [Dense]
    assert result.history[-1]["dev_accuracy"] > 0.9
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_full_batch_and_sigmoid_mse(data):
    result = run(data, model={"hidden": [16], "activation": "sigmoid", "output": "sigmoid_mse",
                              "init": "xavier"}, batch_size="full", optimizer="sgd", lr=2.0,
                 epochs=40)
    assert result.history[-1]["dev_accuracy"] > 0.8


def test_same_seed_same_weights_other_seed_differs(data):
    a, b, c = run(data, seed=3), run(data, seed=3), run(data, seed=4)
    for x, y in zip(weights(a), weights(b)):
        np.testing.assert_array_equal(x, y)
    assert not all(np.array_equal(x, y) for x, y in zip(weights(a), weights(c)))
    assert a.history_csv().splitlines()[1].split(",")[:6] == \
        b.history_csv().splitlines()[1].split(",")[:6]


def noisy_label_data():
    """Half the training labels random: dev loss goes up and down instead of only down."""
    tr, dv = split(200, 1), split(100, 2)
    rng = np.random.default_rng(0)
    labels = tr.y.copy()
    noisy = rng.random(len(labels)) < 0.5
    labels[noisy] = rng.integers(0, 10, noisy.sum())
    tr = Split(tr.x, labels)
    return tr, one_hot(tr.y), dv, one_hot(dv.y)


def test_early_stopping_restores_the_best_epochs_weights():
    data = noisy_label_data()
    settings = dict(model={"hidden": [64]}, epochs=12, lr=0.01, schedule="constant")
    losses = [row["dev_loss"] for row in run(data, **settings).history]
    best, stop = 1, len(losses)
    for epoch in range(1, len(losses) + 1):
        if losses[epoch - 1] < losses[best - 1]:
            best = epoch
        if epoch - best >= 2:
            stop = epoch
            break
    assert stop < len(losses), "the setup must trigger early stopping"
    stopped = run(data, early_stopping="dev_loss", patience=2, **settings)
    assert (stopped.chosen_epoch, len(stopped.history)) == (best, stop)
    tr, ytr, dv, ydv = data
    assert score(stopped.model, dv, ydv)[0] == pytest.approx(losses[best - 1], rel=1e-6)
    assert stopped.metrics()["chosen_epoch"] == best
    assert stopped.metrics()["dev_loss"] == pytest.approx(losses[best - 1], abs=1e-6)


@pytest.mark.parametrize("metric, values", [("dev_accuracy", [0.50, 0.70, 0.70, 0.60, 0.65]),
                                            ("dev_loss", [0.90, 0.40, 0.40, 0.60, 0.50])])
def test_early_stopping_keeps_the_first_of_equal_best_epochs(metric, values):
    """Higher is better for dev accuracy, lower for dev loss; an equal value is no improvement
    (as in Keras and PyTorch Lightning), so with patience 2 the run stops at epoch 4, two epochs
    after epoch 2, and gets epoch 2's weights back."""
    model = build_model(ModelParams(hidden=[]), 2, np.random.default_rng(0))
    weight = model.layers[0].params["W"]
    stopping = EarlyStopping(metric, patience=2)
    for epoch, value in enumerate(values, 1):
        weight[...] = epoch
        if stopping.update(epoch, {metric: value}, model):
            break
    assert (epoch, stopping.best_epoch) == (4, 2)
    stopping.restore(model)
    assert np.all(weight == 2)


def test_score_in_batches_equals_one_pass_over_all_rows(data):
    """Loss and accuracy over batches that do not divide the split are those of the whole
    split at once."""
    tr, ytr, dv, ydv = data
    model = run(data).model
    logits = model.forward(dv.x)
    loss, _ = model.output.loss_and_grad(logits, ydv)
    accuracy = int(np.count_nonzero(logits.argmax(axis=1) == dv.y)) / len(dv.y)
    assert accuracy > 0.5
    for batch_size in (7, 100, 4096):
        assert score(model, dv, ydv, batch_size) == (pytest.approx(loss, rel=1e-6), accuracy)


def test_history_csv_has_six_significant_digits_and_metrics_the_chosen_epoch(data):
    rows = [{"epoch": epoch, "train_loss": 0.123456789 * epoch, "train_accuracy": epoch / 3,
             "dev_loss": 0.25 / epoch, "dev_accuracy": 0.7123456789, "learning_rate": 0.001,
             "seconds": 12.3456789} for epoch in (1, 2)]
    result = TrainResult(model=None, history=rows, chosen_epoch=1)
    assert result.history_csv() == (
        "epoch,train_loss,train_accuracy,dev_loss,dev_accuracy,learning_rate,seconds\n"
        "1,0.123457,0.333333,0.25,0.712346,0.001,12.3457\n"
        "2,0.246914,0.666667,0.125,0.712346,0.001,12.3457\n")
    assert result.metrics() == {"epochs": 2, "chosen_epoch": 1, "train_loss": 0.123457,
                                "train_accuracy": 0.333333, "dev_loss": 0.25,
                                "dev_accuracy": 0.712346}
    assert result.seconds == pytest.approx(24.6913578)
    # A real run's rows hold Python numbers, which the CSV shortens (NumPy scalars it would not).
    real = run(data)
    assert all(0 < row["seconds"] < 60 for row in real.history)
    assert real.seconds == sum(row["seconds"] for row in real.history)
    assert real.chosen_epoch == real.metrics()["chosen_epoch"] == len(real.history) == 3
    for line in real.history_csv().splitlines()[1:]:
        digits = [value.split("e")[0].replace(".", "").lstrip("0") for value in line.split(",")]
        assert all(len(d) <= 6 for d in digits), line


def test_build_model_takes_every_model_param():
    """Each ``model`` key reaches the network (a key dropped here would train the defaults
    without a word)."""
    params = ModelParams(hidden=[16, 8], activation="tanh", output="sigmoid_mse", init="xavier",
                         dropout=0.5, batchnorm=True)
    model = build_model(params, 20, np.random.default_rng(0))
    arch = Architecture(input_dim=20, hidden=(16, 8), activation="tanh", output="sigmoid_mse",
                        dropout=0.5, batchnorm=True)
    assert model.architecture == arch
    assert [type(layer).__name__ for layer in model.layers] == [
        "Dense", "BatchNorm", "Tanh", "Dropout", "Dense", "BatchNorm", "Tanh", "Dropout", "Dense"]
    assert model.output is SigmoidMSE
    for layer, (w, b) in zip(model.layers[::4], init_weights(arch, "xavier",
                                                             np.random.default_rng(0))):
        np.testing.assert_array_equal(layer.params["W"], w)


@pytest.mark.parametrize("optimizer, settings", [
    ("sgd", {"l2": 1e-3}),
    ("momentum", {"momentum": 0.5, "l2": 1e-3}),
    ("nesterov", {"momentum": 0.5}),
    ("rmsprop", {"rho": 0.5, "eps": 1e-4, "l2": 1e-3}),
    ("adam", {"beta1": 0.5, "beta2": 0.9, "eps": 1e-4, "l2": 1e-3}),
    ("adamw", {"beta1": 0.5, "beta2": 0.9, "eps": 1e-4, "weight_decay": 1e-2}),
])
def test_train_builds_the_optimizer_from_every_train_key(data, optimizer, settings):
    """A key that training dropped would leave the optimizer at its default without a word."""
    class Recorder(TrainObserver):
        def started(self, model, used):
            self.optimizer = used

    recorder = Recorder()
    tr, ytr, dv, ydv = data
    train(ModelParams(hidden=[16]), TrainParams(optimizer=optimizer, epochs=1, threads=1,
                                                **settings), tr, ytr, dv, ydv, observer=recorder)

    def floats(opt):
        return {k: v for k, v in vars(opt).items() if isinstance(v, float)}

    assert floats(recorder.optimizer) == floats(make_optimizer(optimizer, **settings))
    assert floats(recorder.optimizer) != floats(make_optimizer(optimizer))


@pytest.mark.parametrize("optimizer, lr, settings", [("sgd", 0.05, {"l2": 0.05}),
                                                   ("adamw", 0.01, {"l2": 0.05}),
                                                   ("adamw", 0.01, {"weight_decay": 0.5})])
def test_l2_and_weight_decay_shrink_the_weights_in_training(data, optimizer, lr, settings):
    def weight_norms(result):
        return [np.linalg.norm(layer.params["W"]) for layer in result.model.layers
                if isinstance(layer, Dense)]

    plain = weight_norms(run(data, optimizer=optimizer, lr=lr))
    decayed = weight_norms(run(data, optimizer=optimizer, lr=lr, **settings))
    assert all(d < 0.97 * p for d, p in zip(decayed, plain)), (decayed, plain)


@pytest.mark.parametrize("settings, rates", [
    ({"schedule": "step", "warmup_epochs": 1, "step_epochs": 2, "gamma": 0.5},
     [0.0, 0.01, 0.01, 0.005, 0.005]),
    ({"schedule": "exponential", "gamma": 0.5}, [0.01, 0.005, 0.0025, 0.00125, 0.000625]),
    ({"schedule": "cosine", "epochs": 3, "min_lr": 0.004}, [0.01, 0.0085, 0.0055]),
])
def test_train_follows_every_schedule_key(data, settings, rates):
    history = run(data, **{"epochs": 5, **settings}).history
    assert [row["learning_rate"] for row in history] == pytest.approx(rates, rel=1e-9)


def test_dropout_layers_draw_their_masks_from_the_runs_generator():
    """One generator, seeded by train.seed, serves initialization, shuffling and every dropout
    layer: two dropout layers of one width draw different masks in one pass, and the masks
    follow the seed."""
    def masks(seed):
        model = build_model(ModelParams(hidden=[32, 32], dropout=0.5), 784,
                            np.random.default_rng(seed))
        model.forward(np.ones((8, 784), np.float32), training=True)
        return [layer.mask for layer in model.layers if isinstance(layer, Dropout)]

    first, second = masks(0)
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, masks(1)[0])
    np.testing.assert_array_equal(first, masks(0)[0])


def test_max_norm_caps_each_units_incoming_weights(data):
    result = run(data, max_norm=0.5, lr=0.05)
    for layer in result.model.layers:
        if isinstance(layer, Dense):
            assert np.linalg.norm(layer.params["W"], axis=0).max() <= 0.5 + 1e-5


@pytest.mark.parametrize("max_norm, expected", [
    (1.0, [[0.6, 0.1, 0.3, 0.0], [0.8, 0.1, 0.4, 0.0]]),
    (0.25, [[0.15, 0.1, 0.15, 0.0], [0.2, 0.1, 0.2, 0.0]]),
])
def test_apply_max_norm_scales_long_columns_and_leaves_short_ones_alone(max_norm, expected):
    """Columns of norm 5, 0.14, 0.5 and 0 (the last must not turn into NaN)."""
    w = np.array([[3.0, 0.1, 0.3, 0.0], [4.0, 0.1, 0.4, 0.0]], np.float32)
    model = build_mlp(Architecture(input_dim=2, hidden=(4,), num_classes=2),
                      [(w, np.zeros(4, np.float32)),
                       (np.ones((4, 2), np.float32), np.zeros(2, np.float32))])
    with np.errstate(all="raise"):
        apply_max_norm(model, max_norm)
    np.testing.assert_allclose(model.layers[0].params["W"], expected, rtol=1e-6)
    assert model.layers[0].params["W"].dtype == np.float32


def test_batch_larger_than_train_split_is_a_params_error(data):
    with pytest.raises(ParamsError, match="train.batch_size = 1000 is larger than the 400 rows"):
        run(data, batch_size=1000)


def test_a_lone_last_row_is_an_error_only_under_batch_normalization(data):
    """400 rows in batches of 133 leave one row in the last batch: batch norm cannot normalize
    it, any other network trains on it."""
    assert len(run(data, batch_size=133, epochs=1).history) == 1
    with pytest.raises(ParamsError, match="train.batch_size = 133 leaves one row of the 400 "
                                          "train rows .* that does not divide 399"):
        run(data, model={"hidden": [16], "batchnorm": True}, batch_size=133, epochs=1)
    assert len(run(data, model={"hidden": [16], "batchnorm": True}, batch_size=132,
                   epochs=1).history) == 1


@pytest.mark.parametrize("optimizer, lr", [("sgd", 1e3), ("sgd", 1e12), ("adam", 100.0)])
def test_divergence_is_reported_with_epoch(data, optimizer, lr):
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch 1 .*lower train.lr"):
        run(data, optimizer=optimizer, lr=lr)


def test_an_epoch_up_to_ten_times_the_first_batchs_loss_is_not_divergence(data):
    """Measured on this data (the first batch's loss 2.435): one epoch of SGD at lr 6 ends at
    a mean loss of 14.2 (5.8x), finite, and trains on; at lr 10, 30.9 (12.7x) diverged."""
    history = run(data, optimizer="sgd", lr=6.0, epochs=1).history
    assert 2 * 2.435 < history[0]["train_loss"] < DIVERGENCE_FACTOR * 2.435
    with pytest.raises(TrainingDiverged, match=r"over 10x the first batch's [\d.]+\); lower"):
        run(data, optimizer="sgd", lr=10.0, epochs=1)


def test_augmentation_identity_when_ranges_are_zero():
    images = split(16, 0).x
    aug = Augmenter(AugmentParams(enabled=True, max_rotation=0, max_scale=0, max_shift=0),
                    background=0.0, rng=np.random.default_rng(0))
    np.testing.assert_allclose(aug(images), images, atol=1e-6)


def test_elastic_distortion_alone_bends_the_images():
    """With no rotation, scaling or shift, ``elastic_alpha`` alone still moves pixels, and
    more for a larger alpha."""
    images = split(16, 0).x
    moved = {}
    for alpha in (2.0, 8.0):
        params = AugmentParams(enabled=True, max_rotation=0, max_scale=0, max_shift=0,
                               elastic_alpha=alpha, elastic_sigma=3)
        out = Augmenter(params, background=0.0, rng=np.random.default_rng(0))(images)
        assert out.min() >= 0 and out.max() <= 1
        moved[alpha] = float(np.abs(out - images).mean())
    assert 0.01 < moved[2.0] < moved[8.0]


def tagged_disks(n):
    """Image i: a disk of brightness (i + 1) / n. Transforms move and bend the disk, but its
    flat interior keeps that brightness, so each output row tells which input it came from."""
    rows, cols = np.mgrid[:28, :28]
    disk = ((rows - 13.5) ** 2 + (cols - 13.5) ** 2 < 6**2).ravel()
    return (disk[None, :] * (np.arange(1, n + 1) / n)[:, None]).astype(np.float32)


def test_augmentation_keeps_order_range_and_is_seeded():
    images = tagged_disks(64)
    params = AugmentParams(enabled=True, max_rotation=15, max_scale=0.15, max_shift=2,
                           elastic_alpha=8, elastic_sigma=4)
    out = Augmenter(params, 0.0, np.random.default_rng(5))(images)
    again = Augmenter(params, 0.0, np.random.default_rng(5))(images)
    other = Augmenter(params, 0.0, np.random.default_rng(6))(images)
    assert out.dtype == np.float32 and out.shape == images.shape
    np.testing.assert_array_equal(out, again)
    assert not np.array_equal(out, other)
    assert out.min() >= 0 and out.max() <= 1
    assert not np.allclose(out, images)
    # Row i still carries image i's brightness: the batch order (and so the labels) is kept.
    np.testing.assert_allclose(out.max(axis=1), images.max(axis=1), rtol=1e-5)


def augmented_one_by_one(params, background, rng, images):
    """What ``Augmenter`` is meant to do, an image at a time with SciPy's own resamplers, from
    the same draws in the same order: per image an angle in ±max_rotation, a zoom in
    1 ± max_scale about the centre, a shift in ±max_shift pixels (positive: down and right),
    then, with elastic_alpha, a displacement field of uniform noise smoothed by
    ``gaussian_filter`` and scaled by elastic_alpha."""
    n = len(images)
    angle = np.deg2rad(rng.uniform(-params.max_rotation, params.max_rotation, n))
    zoom = rng.uniform(1 - params.max_scale, 1 + params.max_scale, n)
    shift = rng.uniform(-params.max_shift, params.max_shift, (2, n))
    noise = rng.uniform(-1, 1, (2, n, 28, 28)) if params.elastic_alpha > 0 else None
    centre = np.full(2, 13.5)
    out = np.empty((n, 28, 28))
    for i, image in enumerate(images.reshape(n, 28, 28).astype(np.float64)):
        cos, sin = np.cos(angle[i]), np.sin(angle[i])
        output_to_input = np.array([[cos, -sin], [sin, cos]]) / zoom[i]
        offset = centre - output_to_input @ centre - shift[:, i]
        if noise is None:
            out[i] = affine_transform(image, output_to_input, offset, order=1, cval=background)
            continue
        coords = np.einsum("ij,jrc->irc", output_to_input, np.indices((28, 28)))
        field = [gaussian_filter(noise[k, i], params.elastic_sigma, mode="constant")
                 for k in (0, 1)]
        coords += offset[:, None, None] + params.elastic_alpha * np.stack(field)
        out[i] = map_coordinates(image, coords, order=1, cval=background)
    return out.reshape(n, 784)


@pytest.mark.parametrize("elastic_alpha", [0.0, 0.5, 8.0])
def test_augmentation_is_scipys_resampling_of_each_image_by_its_draws(elastic_alpha):
    """The batched transform against one built an image at a time from SciPy's
    ``affine_transform`` (``map_coordinates`` with an explicit grid where the elastic field is
    added), two batches in a row: the second shows any draw taken or skipped that should not
    be. The tests above check properties that a wrong transform keeps (a mirrored shear or a
    rotation by the range's upper end alone keeps the disks' brightness in range and order)."""
    images = np.random.default_rng(0).random((8, 784)).astype(np.float32)
    params = AugmentParams(enabled=True, max_rotation=30, max_scale=0.2, max_shift=3,
                           elastic_alpha=elastic_alpha, elastic_sigma=3)
    augment = Augmenter(params, background=0.25, rng=np.random.default_rng(1))
    reference_rng = np.random.default_rng(1)
    for _ in range(2):
        np.testing.assert_allclose(augment(images),
                                   augmented_one_by_one(params, 0.25, reference_rng, images),
                                   rtol=0, atol=1e-6)


@pytest.mark.parametrize("sigma, truncate", [(0.7, 4.0), (3.0, 4.0), (4.0, 3.0), (2.5, 2.0)])
def test_elastic_smoothing_weights_are_gaussian_filters_kernel(sigma, truncate):
    """In process, to rounding (the test below compares bits, in a subprocess): the weights
    are ``gaussian_filter1d``'s response to a unit impulse, of the same radius."""
    impulse = np.zeros(101)
    impulse[50] = 1
    response = gaussian_filter1d(impulse, sigma, truncate=truncate, mode="constant")
    support = np.flatnonzero(response)
    weights = gaussian_weights(sigma, truncate)
    assert len(weights) == len(support) == 2 * int(truncate * sigma + 0.5) + 1
    np.testing.assert_allclose(weights, response[support[0]:support[-1] + 1], rtol=1e-13)


#: Every NumPy dispatch target above x86-64's baseline, by the names of NumPy 2.4 and of older
#: NumPy (unknown names are ignored): its loops then run as on a CPU without them.
BASELINE_NUMPY = {"NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR AVX AVX2 "
                  "FMA3 F16C AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL"}


def test_augmentation_gives_the_same_bits_whatever_simd_numpy_may_use():
    """Augmented batches, and so augmented training, must not depend on the CPU. NumPy's
    float64 exp, which SciPy's Gaussian filter took for the elastic field's weights, has
    AVX-512 loops with other last bits than its baseline ones (as had its sin and cos before
    NumPy 1.25.1, numpy/numpy#23523): the batch is made in a process with NumPy's SIMD loops
    and in one restricted to its baseline ones, also from float64 images, whose output is not
    rounded to float32 and so shows any difference in the field. Only an AVX-512 CPU can tell
    the two apart."""
    script = ("import hashlib, numpy as np; from mnist_mlp.augment import Augmenter; "
              "from mnist_mlp.params import AugmentParams; "
              "p = AugmentParams(enabled=True, max_rotation=90, max_scale=0.2, max_shift=3, "
              "elastic_alpha=30, elastic_sigma=4); "
              "x = np.random.default_rng(1).random((512, 784), dtype=np.float32); "
              "print(*(hashlib.sha256(Augmenter(p, 0.0, np.random.default_rng(2))(images))"
              ".hexdigest() for images in (x, x.astype(np.float64))))")
    digests = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              check=True, env={**os.environ, **extra}).stdout
               for extra in ({}, BASELINE_NUMPY)]
    assert len(digests[0]) == 2 * 65 and digests[0] == digests[1]


def test_elastic_smoothing_is_scipys_gaussian_filter_where_numpy_exp_is_the_c_librarys():
    """The elastic field's weights are SciPy's, computed the same way but with the C library's
    exp: where NumPy's exp is that too (its baseline loops), the smoothing is
    ``gaussian_filter``'s bit for bit, so augmented runs on CPUs without AVX-512 kept theirs."""
    script = ("import numpy as np; from scipy.ndimage import correlate1d, gaussian_filter; "
              "from mnist_mlp.augment import gaussian_weights; "
              "rng = np.random.default_rng(0); same = []\n"
              "for sigma in (0.7, 1.0, 2.5, 4.0, 5.5, 6.0):\n"
              "    field = ours = rng.uniform(-1, 1, (2, 16, 28, 28))\n"
              "    for axis in (2, 3):\n"
              "        ours = correlate1d(ours, gaussian_weights(sigma), axis=axis, "
              "mode='constant')\n"
              "    same.append(np.array_equal(ours, gaussian_filter(field, (0, 0, sigma, sigma), "
              "mode='constant')))\n"
              "print(same)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, env={**os.environ, **BASELINE_NUMPY})
    assert done.stdout.strip() == str([True] * 6)


def test_training_with_augmentation_learns(data):
    result = run(data, augment=AugmentParams(enabled=True, elastic_alpha=6), epochs=5)
    assert result.history[-1]["dev_accuracy"] > 0.9


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"])
def test_flat_parameter_steps_equal_per_array_steps_bit_for_bit(optimizer):
    """The fast path (all parameters in two contiguous arrays, gradients written in place)
    gives exactly the numbers of the plain one (an array at a time, fresh gradients)."""
    rng = np.random.default_rng(0)
    arch = Architecture(input_dim=20, hidden=(12, 8), num_classes=4, batchnorm=True)
    weights = init_weights(arch, "he", rng)
    plain = build_mlp(arch, [(w.copy(), b.copy()) for w, b in weights])
    fast = build_mlp(arch, [(w.copy(), b.copy()) for w, b in weights])
    flat = fast.flatten_parameters()
    settings = {"l2": 1e-3, "weight_decay": 1e-2}
    plain_opt = make_optimizer(optimizer, **settings)
    fast_opt = make_optimizer(optimizer, **settings)
    for _ in range(4):
        x = rng.standard_normal((16, 20), dtype=np.float32)
        y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 16)]
        _, _, grads = plain.loss_and_gradients(x, y)
        plain_opt.step(plain.params(), grads, lr=0.05)
        fast.loss_and_gradients(x, y)
        fast_opt.step(flat.params, flat.grads, 0.05, flat.decayed)
    for name, value in plain.named_params().items():
        np.testing.assert_array_equal(fast.named_params()[name], value, err_msg=name)
    assert all(p.dtype == np.float32 for p in flat.params + flat.grads)


def test_train_accuracy_and_loss_are_measured_on_each_batch_as_trained(data):
    """With a learning rate too small to move the weights, every epoch's training accuracy is
    the initial model's accuracy on the whole split, in either batching mode, and its training
    loss the initial model's mean loss over the rows (the short last batch of 16 rows weighs
    16, not 32)."""
    tr, ytr, _, _ = data
    initial = build_model(ModelParams(hidden=[16]), tr.x.shape[1], np.random.default_rng(0))
    logits = initial.forward(tr.x)
    expected = float(np.mean(logits.argmax(1) == tr.y))
    expected_loss, _ = initial.output.loss_and_grad(logits, ytr)
    for batch_size in (32, "full"):
        result = run(data, optimizer="sgd", lr=1e-30, batch_size=batch_size, seed=0)
        assert [row["train_accuracy"] for row in result.history] == [expected] * 3
        assert [row["train_loss"] for row in result.history] == pytest.approx(
            [expected_loss] * 3, rel=1e-6)


def test_scoring_in_chunks_weighs_each_row_once(data):
    """``score``'s chunks (4,096 rows in training) give the mean over rows, a short last chunk
    included: 100 dev rows in chunks of 7 score as in one."""
    tr, _, dv, ydv = data
    model = build_model(ModelParams(hidden=[16]), tr.x.shape[1], np.random.default_rng(0))
    loss, accuracy = score(model, dv, ydv, batch_size=len(dv.x))
    assert score(model, dv, ydv, batch_size=7) == (pytest.approx(loss, rel=1e-6), accuracy)


def test_every_step_trains_at_the_schedules_rate_for_its_place_in_the_epoch(data):
    """Step s of epoch e (counted from 0) of k steps per epoch takes the schedule's rate at
    e + s / k, so cosine decay moves the rate within an epoch, not once per epoch."""
    tr, ytr, dv, ydv = data
    rates = []

    class RecordingRates(TrainObserver):
        def started(self, model, optimizer):
            step = optimizer.step

            def recording(params, grads, lr, decayed=None):
                rates.append(lr)
                step(params, grads, lr, decayed)
            optimizer.step = recording

    params = TrainParams(epochs=2, batch_size=100, lr=0.01, threads=1, warmup_epochs=0.5)
    train(ModelParams(hidden=[16]), params, tr, ytr, dv, ydv, observer=RecordingRates())
    schedule = Schedule("cosine", 0.01, 2, warmup_epochs=0.5)
    assert rates == [schedule.learning_rate(step / 4) for step in range(8)]  # 4 steps an epoch
    assert len(set(rates[:4])) == len(set(rates[4:])) == 4  # the rate moves within each epoch


def test_augmentation_fills_with_the_value_of_a_blank_pixel_as_prepared(monkeypatch):
    """Pixels shifted in from outside the image take the value a blank (0) pixel has after the
    split's normalization, to the bit: 0 when scaled, below 0 when standardized (with this mean
    and deviation, as with MNIST's own, ``(0 - mean) / std`` in float64 rounds to another
    float32)."""
    backgrounds = []

    class RecordingBackground(Augmenter):
        def __init__(self, params, background, rng):
            backgrounds.append(background)
            super().__init__(params, background, rng)

    monkeypatch.setattr(training, "Augmenter", RecordingBackground)
    pixels, labels = synthetic_digits(64, 5)
    norm = Normalization(mean=0.13, std=0.3)
    tr = Split(norm.apply(pixels), labels, norm)
    train(ModelParams(hidden=[8]), TrainParams(epochs=1, batch_size=32, threads=1), tr,
          one_hot(tr.y), tr, one_hot(tr.y), augment=AugmentParams(enabled=True))
    blank = norm.apply(np.zeros((1, 784), np.uint8))[0, 0]
    assert backgrounds == [float(blank)] and blank < 0
    shifted = Augmenter(AugmentParams(enabled=True, max_rotation=0, max_scale=0, max_shift=14),
                        backgrounds[0], np.random.default_rng(0))(tr.x)
    near_blank = shifted[np.abs(shifted - blank) < 1e-6]  # filled or blank in the image
    assert near_blank.size > 0 and (near_blank.view(np.uint32) == blank.view(np.uint32)).all()


def test_mini_batches_are_the_permutations_rows_each_with_its_own_target(data):
    """The trainer's gathered batches (np.take into reused buffers) are exactly the plain
    loop's ``x[idx], targets[idx]`` over the epoch's permutation, the short last batch too."""
    tr, ytr, _, _ = data
    batch_size, lr = 48, 0.01  # 400 rows: eight full batches and one of 16
    result = run(data, optimizer="sgd", schedule="constant", lr=lr, epochs=1, seed=3,
                 batch_size=batch_size)
    rng = np.random.default_rng(3)
    model = build_model(ModelParams(hidden=[16]), tr.x.shape[1], rng)
    order = rng.permutation(len(tr.x))
    with threadpool_limits(1):  # as the trainer ran: BLAS sums in the same order
        for start in range(0, len(tr.x), batch_size):
            idx = order[start:start + batch_size]
            _, _, grads = model.loss_and_gradients(tr.x[idx], ytr[idx])
            for param, grad in zip(model.params(), grads):
                param -= grad * lr
    for trained, expected in zip(result.model.params(), model.params()):
        np.testing.assert_array_equal(trained, expected)


def test_full_batch_training_leaves_the_split_untouched(data):
    tr, ytr, _, _ = data
    before = tr.x.copy(), ytr.copy()
    run(data, batch_size="full", epochs=2)
    run(data, batch_size="full", epochs=2, augment=AugmentParams(enabled=True))
    np.testing.assert_array_equal(tr.x, before[0])
    np.testing.assert_array_equal(ytr, before[1])


class Recorder(TrainObserver):
    def __init__(self):
        self.calls = []

    def started(self, model, optimizer):
        optimizer.flush_subnormals = False
        self.calls.append(("started", optimizer.steps, [p.copy() for p in model.params()]))

    def epoch_ended(self, row, model, optimizer):
        self.calls.append(("epoch_ended", dict(row), optimizer.steps, optimizer.flush_subnormals))


def test_an_observer_sees_the_start_and_each_epoch_and_may_set_the_optimizers_options(data):
    recorder = Recorder()
    tr, ytr, dv, ydv = data
    params = TrainParams(epochs=3, batch_size=32, lr=0.01, threads=1)
    result = train(ModelParams(hidden=[16]), params, tr, ytr, dv, ydv, observer=recorder)
    (name, steps, initial), *epochs = recorder.calls
    assert (name, steps) == ("started", 0)
    expected = build_model(ModelParams(hidden=[16]), tr.x.shape[1], np.random.default_rng(0))
    for seen, built in zip(initial, expected.params()):
        np.testing.assert_array_equal(seen, built)
    assert [call[1] for call in epochs] == result.history
    assert [(call[0], call[2], call[3]) for call in epochs] == [
        ("epoch_ended", 13 * epoch, False) for epoch in (1, 2, 3)]  # 13 batches of 400 rows
    plain = train(ModelParams(hidden=[16]), params, tr, ytr, dv, ydv)
    for observed, unobserved in zip(weights(result), weights(plain)):
        np.testing.assert_array_equal(observed, unobserved)


def test_numbas_set_up_comes_before_the_first_epoch_and_only_for_compiled_loops(
        data, monkeypatch):
    calls = []
    monkeypatch.setattr(compiled, "set_up", lambda dtype: calls.append(("set_up", dtype)))

    class Started(TrainObserver):
        def started(self, model, optimizer):
            calls.append(("started", None))

    tr, ytr, dv, ydv = data
    params = TrainParams(epochs=1, batch_size="full", optimizer="sgd", lr=0.1, threads=1)
    train(ModelParams(hidden=[16]), params, tr, ytr, dv, ydv, observer=Started())
    assert calls == [("set_up", np.float32), ("started", None)]
    calls.clear()
    monkeypatch.setattr(MLP, "fused", False)  # the NumPy passes: numba is not needed
    train(ModelParams(hidden=[16]), params, tr, ytr, dv, ydv, observer=Started())
    assert calls == [("started", None)]


SET_UP_THEN_STEP = """
import json
import numpy as np
from mnist_mlp.nn import Architecture, build_mlp, compiled, init_weights
compiled.set_up(np.dtype(np.float32))
loaded = [str(types) for types in compiled.kernels().column_sums.signatures]
architecture = Architecture(hidden=(8,))
model = build_mlp(architecture, init_weights(architecture, "he", np.random.default_rng(0)))
model.flatten_parameters()
model.loss_and_gradients(np.ones((4, 784), np.float32), np.eye(10, dtype=np.float32)[:4])
print(json.dumps([loaded, [str(types) for types in compiled.kernels().column_sums.signatures]]))
"""


def test_numbas_set_up_loads_the_loop_a_training_step_calls_with_the_same_types():
    done = subprocess.run([sys.executable, "-c", SET_UP_THEN_STEP], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    loaded, after_a_step = json.loads(done.stdout)
    assert len(loaded) == 1 and after_a_step == loaded


def test_auto_threads_follow_the_work_per_step_within_the_cpus():
    default = Architecture(hidden=(512, 256))
    small = Architecture(hidden=(64, 64))
    assert blas_threads("auto", default, 128, cpus=2) == 2
    assert blas_threads("auto", default, 128, cpus=64) == 2
    assert blas_threads("auto", small, 32, cpus=2) == 1
    assert blas_threads("auto", small, 55_000, cpus=2) == 2      # full batch
    assert blas_threads("auto", default, 128, cpus=1) == 1
    assert blas_threads(3, small, 32, cpus=4) == 3 and blas_threads(0, default, 128, cpus=1) == 0
    with pytest.raises(ParamsError, match=r"train.threads = 3 is more than the 2 CPUs this "
                                          r"process may use; .* use at most 2, auto or 0"):
        blas_threads(3, small, 32, cpus=2)
    with pytest.raises(ParamsError, match="more than the 1 CPU this"):
        blas_threads(2, small, 32, cpus=1)
    # Matrix products of 784-512-256-10 per sample: forward 535,040 multiply-adds, backward
    # twice that less the first layer's input gradient (401,408).
    assert default.training_flops_per_sample() == 2 * (3 * 535_040 - 401_408)


PINNED_TO_ONE_CPU = """
import os
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from mnist_mlp.nn import Architecture
from mnist_mlp.training import blas_threads, usable_cpus
print(usable_cpus(), blas_threads("auto", Architecture(hidden=(512, 256)), 128))
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_a_process_pinned_to_one_cpu_trains_on_one_thread():
    """As under ``taskset -c 0`` or a one-CPU cpuset, where os.cpu_count() still counts the
    machine's CPUs."""
    done = subprocess.run([sys.executable, "-c", PINNED_TO_ONE_CPU], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]


def test_more_threads_than_cpus_fail_before_the_first_epoch():
    pixels, labels = synthetic_digits(100)
    tr = Split(Normalization().apply(pixels), labels)
    params = TrainParams(epochs=1, batch_size=50, threads=usable_cpus() + 1)
    recorder = Recorder()
    with pytest.raises(ParamsError, match=f"train.threads = {usable_cpus() + 1} is more than"):
        train(ModelParams(hidden=[16]), params, tr, one_hot(tr.y), tr, one_hot(tr.y),
              observer=recorder)
    assert recorder.calls == []
