"""Backward passes against central finite differences in float64."""

import math
import re

import numpy as np
import pytest

from mnist_mlp.nn import (ACTIVATIONS, BatchNorm, Dense, Dropout, SigmoidMSE, SoftmaxCrossEntropy,
                          Architecture, build_mlp, init_weights)

from mnist_mlp.nn.layers import sigmoid

from conftest import assert_gradient_close, numerical_gradient

SHAPES = [(1, 3, 2), (4, 5, 3), (7, 2, 6)]


def check_layer(layer, x, rng):
    """Gradients of sum(forward(x) * dout) for x and every parameter."""
    dout = rng.standard_normal(layer.forward(x, training=True).shape)

    def objective():
        return float(np.sum(layer.forward(x, training=True) * dout))

    layer.forward(x, training=True)
    dx, grads = layer.backward(dout)
    assert dx.dtype == np.float64 and dx.shape == x.shape
    assert_gradient_close(dx, numerical_gradient(objective, x))
    assert set(grads) == set(layer.params)
    for name, param in layer.params.items():
        assert grads[name].shape == param.shape
        assert_gradient_close(grads[name], numerical_gradient(objective, param))


@pytest.mark.parametrize("n, fan_in, fan_out", SHAPES)
def test_dense_gradients(n, fan_in, fan_out):
    rng = np.random.default_rng(n)
    layer = Dense(rng.standard_normal((fan_in, fan_out)), rng.standard_normal(fan_out))
    check_layer(layer, rng.standard_normal((n, fan_in)), rng)


@pytest.mark.parametrize("weights, bias", [((4, 3), (4,)), ((4, 3), (1, 3)), ((3,), (3,)),
                                           ((2, 3, 3), (3,))])
def test_dense_refuses_weights_not_2d_or_a_bias_not_one_per_output(weights, bias):
    message = f"Dense: weights {weights} and bias {bias} do not match"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Dense(np.zeros(weights, np.float32), np.zeros(bias, np.float32))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("shape", [(1, 4), (5, 3), (8, 7)])
def test_activation_gradients(name, shape):
    rng = np.random.default_rng(len(name) + shape[0])
    x = rng.standard_normal(shape) * 3
    x[np.abs(x) < 1e-3] += 0.01  # keep ReLU-like kinks away from the difference stencil
    check_layer(ACTIVATIONS[name](), x, rng)


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.3, 1.0])
def test_leaky_relu_is_its_definition_bit_for_bit(slope):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 7)).astype(np.float32)
    x[0, :3] = 0
    dout = rng.standard_normal(x.shape).astype(np.float32)
    layer = ACTIVATIONS["leaky_relu"](slope)
    y = layer.forward(x, training=True)
    dx, _ = layer.backward(dout)
    assert y.dtype == dx.dtype == np.float32
    np.testing.assert_array_equal(y, np.where(x > 0, x, x * np.float32(slope)))
    np.testing.assert_array_equal(dx, np.where(x > 0, dout, dout * np.float32(slope)))


def test_leaky_relu_in_a_network_has_pytorchs_default_slope():
    """Model files name the activation, not its slope: a network's leaky ReLU must keep 0.01
    (PyTorch's default too), or every saved model would read differently."""
    layer = ACTIVATIONS["leaky_relu"]()
    np.testing.assert_array_equal(layer.forward(np.array([[-2.0, 3.0]])), [[-0.02, 3.0]])


def test_leaky_relu_refuses_slopes_outside_0_to_1():
    with pytest.raises(ValueError, match="slope"):
        ACTIVATIONS["leaky_relu"](1.5)


def test_gelu_is_the_tanh_approximation():
    x = np.linspace(-6, 6, 101)
    expected = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(ACTIVATIONS["gelu"]().forward(x), expected, rtol=1e-12,
                               atol=1e-15)
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(ACTIVATIONS["gelu"]().forward(x32), expected, rtol=1e-5,
                               atol=1e-6)


def test_dropout_gradient_with_fixed_mask_and_identity_at_eval():
    rng = np.random.default_rng(3)
    layer = Dropout(0.5, rng)
    x = rng.standard_normal((6, 5))
    layer.forward(x, training=True)
    layer.fixed_mask = True
    check_layer(layer, x, rng)
    assert set(np.unique(layer.mask)) <= {0.0, 2.0}
    assert np.array_equal(layer.forward(x, training=False), x)


def test_dropout_keeps_expected_scale_in_float32():
    layer = Dropout(0.25, np.random.default_rng(0))
    out = layer.forward(np.ones((2000, 50), np.float32), training=True)
    assert out.dtype == np.float32
    assert abs(out.mean() - 1) < 0.02
    assert abs(np.mean(out == 0) - 0.25) < 0.01


@pytest.mark.parametrize("n, d", [(2, 3), (6, 4), (9, 1)])
def test_batchnorm_gradients_in_training_mode(n, d):
    rng = np.random.default_rng(n * d)
    layer = BatchNorm(d, dtype=np.float64, gamma=rng.standard_normal(d),
                      beta=rng.standard_normal(d))
    check_layer(layer, rng.standard_normal((n, d)) * 2 + 1, rng)


def test_batchnorm_uses_running_statistics_at_eval():
    layer = BatchNorm(3, dtype=np.float64, momentum=0.0)
    x = np.random.default_rng(0).standard_normal((50, 3)) * 4 + 2
    layer.forward(x, training=True)
    np.testing.assert_allclose(layer.state["running_mean"], x.mean(0))
    np.testing.assert_allclose(layer.state["running_var"], x.var(0))
    out = layer.forward(x, training=False)
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-6)
    # Another batch is normalized by those statistics, not its own, and each row alone alike.
    other = x[:5] + 10
    expected = (other - x.mean(0)) / np.sqrt(x.var(0) + layer.eps)
    np.testing.assert_allclose(layer.forward(other, training=False), expected, rtol=1e-12)
    np.testing.assert_allclose(layer.forward(other[:1], training=False), expected[:1],
                               rtol=1e-12)


def test_batchnorm_running_averages_and_evaluation_with_learned_scale_and_shift():
    """Each training batch moves the running statistics by (1 - momentum) of the way to its
    own; evaluation then scales by gamma and shifts by beta (the test above has momentum 0,
    gamma 1 and beta 0, which hide mistakes in each)."""
    rng = np.random.default_rng(3)
    gamma, beta = rng.standard_normal(4) + 2, rng.standard_normal(4)
    layer = BatchNorm(4, dtype=np.float64, momentum=0.75, gamma=gamma, beta=beta)
    first, second = (rng.standard_normal((40, 4)) * 3 + 5 for _ in range(2))
    normalized = (first - first.mean(0)) / np.sqrt(first.var(0) + layer.eps) * gamma + beta
    np.testing.assert_allclose(layer.forward(first, training=True), normalized, rtol=1e-12)
    layer.forward(second, training=True)
    mean = 0.75 * 0.25 * first.mean(0) + 0.25 * second.mean(0)
    var = 0.75 * (0.75 + 0.25 * first.var(0)) + 0.25 * second.var(0)
    np.testing.assert_allclose(layer.state["running_mean"], mean, rtol=1e-12)
    np.testing.assert_allclose(layer.state["running_var"], var, rtol=1e-12)
    x = rng.standard_normal((6, 4)) * 3 + 5
    expected = (x - mean) / np.sqrt(var + layer.eps) * gamma + beta
    np.testing.assert_allclose(layer.forward(x, training=False), expected, rtol=1e-12)
    # A layer built from stored arrays, as a model file's is, evaluates with them.
    rebuilt = BatchNorm(4, dtype=np.float64, gamma=gamma, beta=beta, running_mean=mean,
                        running_var=var)
    np.testing.assert_allclose(rebuilt.forward(x, training=False), expected, rtol=1e-12)
    # The defaults, which every model uses, are PyTorch's (its momentum 0.1 is our 1 - 0.9).
    assert (BatchNorm(4).momentum, BatchNorm(4).eps) == (0.9, 1e-5)


@pytest.mark.parametrize("loss", [SoftmaxCrossEntropy, SigmoidMSE])
@pytest.mark.parametrize("n, k", [(1, 2), (4, 10), (9, 3)])
@pytest.mark.parametrize("smoothed", [False, True])
def test_loss_gradients(loss, n, k, smoothed):
    rng = np.random.default_rng(n + k)
    logits = rng.standard_normal((n, k))
    targets = np.eye(k)[rng.integers(0, k, n)]
    if smoothed:
        targets = targets * 0.9 + 0.1 / k
    value, grad = loss.loss_and_grad(logits, targets)
    numeric = numerical_gradient(lambda: loss.loss_and_grad(logits, targets)[0], logits)
    assert_gradient_close(grad, numeric)


def test_cross_entropy_is_a_batch_mean_and_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0], [0.0, 1000.0]], np.float32)
    targets = np.array([[1, 0], [1, 0]], np.float32)
    loss, grad = SoftmaxCrossEntropy.loss_and_grad(logits, targets)
    assert loss == pytest.approx(500.0)  # (0 + 1000) / 2: a mean, not a sum
    assert grad.dtype == np.float32 and np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, [[0, 0], [-0.5, 0.5]], atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_accurate_and_silent_over_the_whole_float_range(dtype):
    x = np.array([-1e4, -200, -80, -20, -1, 0, 1e-3, 20, 200, 1e4], dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # warnings reach users
        y = sigmoid(x)
    assert y.dtype == dtype
    exact = [1 / (1 + math.exp(-v)) if v > -700 else 0.0 for v in x.astype(float)]
    np.testing.assert_allclose(y, np.array(exact).astype(dtype), rtol=4 * np.finfo(dtype).eps,
                               atol=0)


def test_sigmoid_mse_probabilities_survive_rows_of_vanished_sigmoids():
    logits = np.array([[-300.0, -200.0, -200.0], [-1e4, -1e4, -1e4], [0.0, 2.0, -1.0]], np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        p = SigmoidMSE.probabilities(logits)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(p[0], [0, 0.5, 0.5], atol=1e-6)  # the softmax limit
    np.testing.assert_allclose(p[1], [1 / 3] * 3, rtol=1e-6)
    s = 1 / (1 + np.exp(-logits[2].astype(float)))
    np.testing.assert_allclose(p[2], s / s.sum(), rtol=1e-6)


def network_gradients_checked(arch, seed):
    """A float64 network of ``arch`` on 5 random rows: its gradients, each checked against
    finite differences; returns the model, the rows, their targets, logits and gradients."""
    rng = np.random.default_rng(seed)
    model = build_mlp(arch, init_weights(arch, "xavier", rng, dtype=np.float64))
    x = rng.standard_normal((5, arch.input_dim))
    y = np.eye(arch.num_classes)[rng.integers(0, arch.num_classes, 5)]
    _, logits, grads = model.loss_and_gradients(x, y)
    for param, grad in zip(model.params(), grads):
        numeric = numerical_gradient(lambda: model.loss_and_gradients(x, y)[0], param)
        assert_gradient_close(grad, numeric)
    return model, x, y, logits, grads


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "gelu"])
@pytest.mark.parametrize("output", ["softmax_cross_entropy", "sigmoid_mse"])
@pytest.mark.parametrize("batchnorm", [False, True])
def test_whole_network_gradients(activation, output, batchnorm):
    network_gradients_checked(Architecture(input_dim=6, hidden=(5, 4), num_classes=3,
                                           activation=activation, output=output,
                                           batchnorm=batchnorm), seed=7)


@pytest.mark.parametrize("output", ["softmax_cross_entropy", "sigmoid_mse"])
def test_a_network_without_hidden_layers_is_one_dense_layer(output):
    """``hidden=()``: the input feeds the output layer (softmax regression with the default
    output); its gradients match finite differences, and with softmax the weight gradient is
    the closed form x.T @ (p - y) / n."""
    model, x, y, logits, grads = network_gradients_checked(
        Architecture(input_dim=6, hidden=(), num_classes=3, output=output), seed=3)
    assert [type(layer) for layer in model.layers] == [Dense]
    if output == "softmax_cross_entropy":
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(grads[0], x.T @ (p - y) / len(x), rtol=1e-10)


def test_initializations_draw_from_their_documented_distributions():
    """he: W ~ N(0, 2/fan_in); xavier: W ~ U(+-sqrt(6/(fan_in + fan_out))); both with zero
    biases; uniform: W and b ~ U(-0.5, 0.5). Over 784 x 1000 draws a sample's std is within
    ~0.1% of the distribution's, so 1% tells a wrong scale; the second layer (1000 -> 10)
    has its own fan-in."""
    arch = Architecture(hidden=(1000,))
    (w1, b1), (w2, b2) = init_weights(arch, "he", np.random.default_rng(0))
    assert w1.std() == pytest.approx(math.sqrt(2 / 784), rel=0.01)
    assert w2.std() == pytest.approx(math.sqrt(2 / 1000), rel=0.05)
    assert abs(w1.mean()) < 0.01 * w1.std() and not b1.any() and not b2.any()
    (w1, b1), _ = init_weights(arch, "xavier", np.random.default_rng(0))
    limit = math.sqrt(6 / (784 + 1000))
    assert 0.999 * limit < np.abs(w1).max() <= limit
    assert w1.std() == pytest.approx(limit / math.sqrt(3), rel=0.01) and not b1.any()
    (w1, b1), _ = init_weights(arch, "uniform", np.random.default_rng(0))
    for drawn in (w1, b1):
        assert -0.5 <= drawn.min() < -0.49 and 0.49 < drawn.max() < 0.5
    assert w1.std() == pytest.approx(math.sqrt(1 / 12), rel=0.01)


def test_float32_stays_float32_through_a_training_step():
    rng = np.random.default_rng(0)
    arch = Architecture(input_dim=784, hidden=(32,), dropout=0.1, batchnorm=True)
    model = build_mlp(arch, init_weights(arch, "he", rng), rng=rng)
    x = rng.random((16, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 16)]
    loss, logits, grads = model.loss_and_gradients(x, y)
    assert logits.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)
    assert all(p.dtype == np.float32 for p in model.params())


def test_dense_can_skip_the_input_gradient():
    rng = np.random.default_rng(0)
    layer = Dense(rng.standard_normal((4, 3)), rng.standard_normal(3))
    layer.forward(rng.standard_normal((5, 4)))
    dout = rng.standard_normal((5, 3))
    full_dx, full = layer.backward(dout)
    dx, grads = layer.backward(dout, input_grad=False)
    assert dx is None and full_dx.shape == (5, 4)
    for name in full:
        np.testing.assert_array_equal(grads[name], full[name])


def assert_same_bits(actual: np.ndarray, expected: np.ndarray):
    """Equal down to the sign of zero; NaN where NaN (NaN payloads are not compared)."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(actual), nan)
    uint = np.uint32 if actual.dtype == np.float32 else np.uint64
    np.testing.assert_array_equal(actual.view(uint)[~nan], expected.view(uint)[~nan])


def awkward_values(rng, shape, dtype):
    """Normal values with exact +-0, +-inf, NaN and subnormals mixed in."""
    x = rng.standard_normal(shape).astype(dtype)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, np.finfo(dtype).smallest_subnormal,
                        -np.finfo(dtype).smallest_subnormal], dtype)
    where = rng.random(shape) < 0.3
    x[where] = rng.choice(special, int(where.sum()))
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (3, 10), (37, 129), (0, 5)])
def test_compiled_passes_give_the_numpy_bits(dtype, shape):
    """Each loop of kernels.py that a layer or loss uses, against the NumPy expression it
    replaces, on values where a change of operation or order would show."""
    from mnist_mlp.nn import kernels

    rng = np.random.default_rng(shape[0])
    x, dout = awkward_values(rng, shape, dtype), awkward_values(rng, shape, dtype)
    with np.errstate(invalid="ignore"):
        relu = np.maximum(x, np.zeros(shape[1], dtype))
        out = np.empty_like(x)
        kernels.relu_forward(x.reshape(-1), out.reshape(-1))
        assert_same_bits(out, relu)
        kernels.relu_backward(dout.reshape(-1), relu.reshape(-1), out.reshape(-1))
        assert_same_bits(out, dout * (x > 0))
        sums = np.full(shape[1], 7, dtype)
        kernels.column_sums(dout, sums)
        assert_same_bits(sums, np.sum(dout, axis=0))
        if shape[0]:
            maxima = np.empty(shape[0], dtype)
            kernels.row_max(x, maxima)
            assert_same_bits(maxima, np.max(x, axis=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_training_step_with_compiled_passes_gives_the_numpy_bits(dtype):
    """Loss, logits and every gradient of a ReLU network with the compiled passes on (the
    default) and off, from the same weights; rows of zeros make exact-zero pre-activations."""
    rng = np.random.default_rng(3)
    arch = Architecture(input_dim=50, hidden=(64, 33), num_classes=10)
    weights = init_weights(arch, "he", rng, dtype=dtype)
    x = rng.random((300, 50)).astype(dtype)
    x[::7] = 0
    targets = np.eye(10, dtype=dtype)[rng.integers(0, 10, 300)] * 0.9 + 0.01
    results = {}
    for fused in (True, False):
        model = build_mlp(arch, [(w.copy(), b.copy()) for w, b in weights])
        model.flatten_parameters()  # the gradient buffers training writes into
        model.fused = fused
        assert all(layer.fused == fused for layer in model.layers)
        loss, logits, grads = model.loss_and_gradients(x, targets)
        results[fused] = loss, logits, [g.copy() for g in grads]
    (loss, logits, grads), (ref_loss, ref_logits, ref_grads) = results[True], results[False]
    assert loss == ref_loss
    assert_same_bits(logits, ref_logits)
    for grad, ref in zip(grads, ref_grads):
        assert_same_bits(grad, ref)


def test_evaluating_a_model_does_not_import_numba():
    """Only training takes the compiled loops: predicting pays no numba import (0.2-0.5 s)."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from mnist_mlp.nn import Architecture, build_mlp, init_weights\n"
            "arch = Architecture(hidden=(8,))\n"
            "model = build_mlp(arch, init_weights(arch, 'he', np.random.default_rng(0)))\n"
            "model.predict_proba(np.ones((3, 784), np.float32))\n"
            "print('numba' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("output", ["softmax_cross_entropy", "sigmoid_mse"])
def test_predict_proba_in_batches_equals_one_pass(output):
    """Batches that do not divide the rows give the probabilities of one pass over them all, in
    float32, with dropout off."""
    rng = np.random.default_rng(0)
    arch = Architecture(input_dim=12, hidden=(8,), num_classes=3, output=output, dropout=0.5)
    model = build_mlp(arch, init_weights(arch, "he", rng), rng=rng)
    x = rng.standard_normal((20, 12), dtype=np.float32)
    whole = model.output.probabilities(model.forward(x))
    for batch_size in (7, 20, 4096):
        probabilities = model.predict_proba(x, batch_size=batch_size)
        assert probabilities.dtype == np.float32
        np.testing.assert_allclose(probabilities, whole, rtol=1e-6)  # BLAS may block rows
