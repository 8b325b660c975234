"""Optimizer and schedule steps against values computed by hand."""

import math

import numpy as np
import pytest

from mnist_mlp.nn import Schedule, make_optimizer
from mnist_mlp.nn import compiled, optimizers
from mnist_mlp.nn.optimizers import (Adam, LineClaims, Momentum, RMSprop, SGD,
                                      zero_subnormals)

OPTIMIZERS = ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"]


def params_and_grads():
    return [np.array([[1.0, -2.0]], np.float32), np.array([0.5], np.float32)], \
           [np.array([[0.5, 0.25]], np.float32), np.array([-1.0], np.float32)]


def test_sgd_step():
    params, grads = params_and_grads()
    SGD().step(params, grads, lr=0.1)
    np.testing.assert_allclose(params[0], [[0.95, -2.025]])
    np.testing.assert_allclose(params[1], [0.6])


def test_sgd_l2_applies_to_weights_not_biases():
    params, grads = params_and_grads()
    SGD(weight_decay=0.1).step(params, grads, lr=0.1)
    # W: 1 - 0.1 * (0.5 + 0.1 * 1) = 0.94; -2 - 0.1 * (0.25 - 0.2) = -2.005
    np.testing.assert_allclose(params[0], [[0.94, -2.005]], rtol=1e-6)
    np.testing.assert_allclose(params[1], [0.6])


def test_momentum_two_steps():
    params, grads = params_and_grads()
    opt = Momentum(momentum=0.9)
    opt.step(params, grads, lr=0.1)   # v = g = 0.5 -> p = 0.95
    opt.step(params, grads, lr=0.1)   # v = 0.45 + 0.5 = 0.95 -> p = 0.95 - 0.095 = 0.855
    assert params[0][0, 0] == pytest.approx(0.855, rel=1e-6)


def test_nesterov_step():
    params, grads = params_and_grads()
    opt = Momentum(momentum=0.9, nesterov=True)
    opt.step(params, grads, lr=0.1)   # v = 0.5; p -= 0.1 * (0.5 + 0.45) = 0.905
    assert params[0][0, 0] == pytest.approx(0.905, rel=1e-6)


def test_rmsprop_step():
    params, grads = params_and_grads()
    RMSprop(rho=0.9, eps=0.0).step(params, grads, lr=0.01)
    # s = 0.1 * 0.25 = 0.025; p -= 0.01 * 0.5 / sqrt(0.025)
    assert params[0][0, 0] == pytest.approx(1 - 0.01 * 0.5 / math.sqrt(0.025), rel=1e-6)


def test_adam_first_and_second_step():
    params, grads = params_and_grads()
    opt = Adam(beta1=0.9, beta2=0.999, eps=1e-8)
    opt.step(params, grads, lr=0.001)
    # Bias-corrected first step moves every coordinate by lr * g / (|g| + eps) ~ lr * sign(g).
    np.testing.assert_allclose(params[0], [[0.999, -2.001]], rtol=1e-6)
    g2 = [np.array([[1.0, 1.0]], np.float32), np.array([0.0], np.float32)]
    opt.step(params, g2, lr=0.001)
    m = 0.9 * 0.05 + 0.1 * 1.0
    v = 0.999 * 0.001 * 0.25 + 0.001 * 1.0
    m_hat, v_hat = m / (1 - 0.9**2), v / (1 - 0.999**2)
    assert params[0][0, 0] == pytest.approx(0.999 - 0.001 * m_hat / (math.sqrt(v_hat) + 1e-8),
                                            rel=1e-6)


def test_adamw_decays_weights_decoupled():
    params, grads = params_and_grads()
    zero = [np.zeros_like(g) for g in grads]
    opt = make_optimizer("adamw", weight_decay=0.5)
    opt.step(params, zero, lr=0.1)
    np.testing.assert_allclose(params[0], [[0.95, -1.9]], rtol=1e-6)   # p *= 1 - lr * wd
    np.testing.assert_allclose(params[1], [0.5])                        # biases untouched


def test_each_params_name_builds_its_optimizer_with_its_settings():
    settings = dict(momentum=0.8, rho=0.7, beta1=0.85, beta2=0.99, eps=1e-6, l2=0.01,
                    weight_decay=0.05)
    built = {name: make_optimizer(name, **settings) for name in OPTIMIZERS}
    assert {name: type(opt) for name, opt in built.items()} == {
        "sgd": SGD, "momentum": Momentum, "nesterov": Momentum, "rmsprop": RMSprop,
        "adam": Adam, "adamw": Adam}
    assert (built["momentum"].nesterov, built["nesterov"].nesterov) == (False, True)
    assert built["momentum"].momentum == built["nesterov"].momentum == 0.8
    assert (built["rmsprop"].rho, built["rmsprop"].eps) == (0.7, 1e-6)
    for name in ("adam", "adamw"):
        assert (built[name].beta1, built[name].beta2, built[name].eps) == (0.85, 0.99, 1e-6)
    # train.l2 is the coupled penalty of every optimizer; train.weight_decay only AdamW's.
    assert {opt.weight_decay for opt in built.values()} == {0.01}
    assert {name: opt.decoupled_weight_decay for name, opt in built.items()
            if isinstance(opt, Adam)} == {"adam": 0.0, "adamw": 0.05}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_keeps_float32_and_descends(name):
    rng = np.random.default_rng(0)
    target = rng.standard_normal((4, 3)).astype(np.float32)
    w = np.zeros((4, 3), np.float32)
    opt = make_optimizer(name)
    for _ in range(300):
        opt.step([w], [w - target], lr=0.05 if name in ("sgd", "momentum", "nesterov") else 0.01)
    assert w.dtype == np.float32
    assert np.abs(w - target).max() < 0.05


def test_the_compiled_update_loops_are_installed():
    """numba is a dependency; without it ``step`` would quietly take the NumPy passes (the same
    numbers, Adam ~5x slower)."""
    assert compiled.kernels() is not None


def test_a_loop_numba_cannot_cache_is_still_compiled():
    """Where numba finds no writable cache directory it refuses ``cache=True`` when
    decorating; the loops must then compile in each process instead of failing to import.
    A function without a source file is one numba cannot cache anywhere."""
    namespace: dict = {}
    exec("def double(x):\n    return x * 2\n", namespace)
    double = compiled.kernels()._compile(namespace["double"])
    assert double(np.float32(1.5)) == 3.0
    assert double.stats.cache_path is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_compiled_loop_gives_the_numpy_passes_bits(name, dtype):
    """The fused update (one compiled loop) against the reference (NumPy passes): the same
    bits after many steps, for matrices and vectors, with both kinds of weight decay, on
    gradients spanning nine orders of magnitude and exact zeros, where any change in the order
    or precision of the arithmetic would show; with the parameters' cache lines claimed
    before each update, never, or as timing chooses; and split over two threads (Adam's
    ``adam_halves``; odd sizes, so the halves differ), with and without claims."""
    rng = np.random.default_rng(1)
    shapes = [(7, 5), (5,), (3, 4)]
    start = [rng.standard_normal(shape).astype(dtype) for shape in shapes]
    ways = ("passes", "claiming", "never claiming", "chosen", "parallel", "parallel claiming")
    params = {way: [p.copy() for p in start] for way in ways}
    opts = {way: make_optimizer(name, l2=1e-3, weight_decay=1e-2) for way in ways}
    opts["passes"].fused = False
    opts["claiming"].claim_lines, opts["never claiming"].claim_lines = True, False
    opts["parallel"].parallel = opts["parallel claiming"].parallel = True
    opts["parallel claiming"].claim_lines = True
    for step in range(50):
        grads = [(rng.standard_normal(shape) * 10.0 ** rng.integers(-6, 3, shape)).astype(dtype)
                 for shape in shapes]
        grads[0][0] = 0
        for way, opt in opts.items():
            opt.step(params[way], [g.copy() for g in grads], lr=0.01 * (1 + step % 3))
    for way in ways[1:]:
        for fused_param, reference in zip(params[way], params["passes"]):
            assert fused_param.dtype == dtype
            np.testing.assert_array_equal(fused_param, reference)
    assert not np.array_equal(params["passes"][0], start[0])


@pytest.mark.parametrize("flush", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["momentum", "nesterov", "rmsprop", "adam", "adamw"])
def test_moments_decaying_below_the_smallest_normal_float_become_zeros(name, dtype, flush):
    """Gradients from the smallest normal float up to ~1e5 times its square root, then none:
    every moment decays geometrically. With ``flush_subnormals`` (the default) those that fall
    below the smallest normal float are stored as zeros, without it they stay subnormal; either
    way the compiled loop (also split over two threads) and the NumPy passes give the same
    bits, parameters and moments."""
    tiny = np.finfo(dtype).tiny
    rng = np.random.default_rng(2)
    exponents = np.linspace(np.log10(tiny) + 0.5, np.log10(tiny) / 2 + 5, 60)
    tiny_grads = (10.0 ** exponents * rng.choice([-1, 1], 60)).astype(dtype).reshape(6, 10)
    start = rng.standard_normal((6, 10)).astype(dtype)
    params = {way: [start.copy()] for way in ("passes", "fused", "parallel")}
    opts = {way: make_optimizer(name, weight_decay=1e-2) for way in params}
    opts["passes"].fused = False
    opts["parallel"].parallel = True
    if not flush:  # flushing is the default, which the other case tests as it is
        for opt in opts.values():
            opt.flush_subnormals = False
    for step in range(300):
        grad = tiny_grads if step < 3 else np.zeros_like(tiny_grads)
        for way, opt in opts.items():
            opt.step(params[way], [grad.copy()], lr=0.01)
    for way in ("fused", "parallel"):
        np.testing.assert_array_equal(params[way][0], params["passes"][0])
        for fused_moment, reference in zip(opts[way].moments(), opts["passes"].moments()):
            assert fused_moment.tobytes() == reference.tobytes()
    assert len(opts["fused"].moments()) == len(opts["fused"].MOMENTS) > 0
    subnormal = [((m != 0) & (np.abs(m) < tiny)).any() for m in opts["fused"].moments()]
    assert not any(subnormal) if flush else any(subnormal)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flushing_subnormals_keeps_signs_and_every_other_value(dtype):
    info = np.finfo(dtype)
    values = np.array([info.smallest_subnormal, -info.smallest_subnormal, info.tiny / 2,
                       -info.tiny / 2, info.tiny, -info.tiny, 0.0, -0.0, 1.5, np.inf, -np.inf,
                       np.nan], dtype)
    flushed = values.copy()
    zero_subnormals(flushed, np.empty_like(flushed))
    expected = values.copy()
    expected[:4] = [0.0, -0.0, 0.0, -0.0]
    assert flushed.tobytes() == expected.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_claiming_cache_lines_leaves_every_value_as_it_was(dtype):
    info = np.finfo(dtype)
    special = [-0.0, 0.0, np.inf, -np.inf, np.nan, info.smallest_subnormal, info.max, -1.5]
    values = np.resize(np.array(special, dtype), 37)  # not a whole number of lines
    for halves in (False, True):
        claimed = values.copy()
        compiled.claim_cache_lines(claimed, halves=halves)
        assert claimed.tobytes() == values.tobytes()


def test_line_claims_try_both_ways_then_take_the_faster_and_retry_the_other():
    claims = LineClaims()
    seconds = {False: 1.4e-3, True: 0.6e-3}  # the slow mode: claiming pays
    chosen = []
    for _ in range(40):
        claim = claims.choose()
        chosen.append(claim)
        claims.record(claim, seconds[claim])
    assert chosen[:2] == [False, True]
    retries = [step for step, claim in enumerate(chosen, 1) if not claim and step > 1]
    assert retries == [16, 32]  # every RETRY_EVERY-th step the other way
    seconds = {False: 0.2e-3, True: 0.25e-3}  # the mode changes: now claiming costs
    for _ in range(60):
        claim = claims.choose()
        chosen.append(claim)
        claims.record(claim, seconds[claim])
    assert chosen[-16:].count(True) == 1  # back to not claiming, retrying the other way
    # within three retries of the change, once the median of the last five has moved
    assert sum(chosen[40:]) < 3 * LineClaims.RETRY_EVERY


@pytest.fixture
def claims(monkeypatch) -> list[bool]:
    """Records each claim_cache_lines call the optimizers make (its ``halves``), claiming
    nothing."""
    claimed: list[bool] = []
    monkeypatch.setattr(optimizers, "claim_cache_lines",
                        lambda array, halves: claimed.append(halves))
    return claimed


@pytest.mark.parametrize("parallel, claim_lines, expected", [
    (False, None, "by timing"), (True, None, "by timing"), (True, True, "always"),
    (False, False, "never")])
def test_when_the_optimizer_claims_cache_lines(claims, parallel, claim_lines, expected):
    """By default an update claims as ``LineClaims`` chooses (each way once first), in one
    loop or split over the pool (where in the EPYC's slow mode pooled Adam stalled as in one
    loop: benchmarks/HISTORY.md); an explicit setting holds either way."""
    params, grads = params_and_grads()
    adam = Adam()
    adam.parallel, adam.claim_lines = parallel, claim_lines
    claims_per_step = []
    for _ in range(4):
        before = len(claims)
        adam.step(params, grads, lr=0.1)
        claims_per_step.append(len(claims) - before)
    per_step = {"never": [0] * 4, "always": [len(params)] * 4}
    if expected == "by timing":
        assert claims_per_step[:2] == [0, len(params)]  # LineClaims tries each way once
    else:
        assert claims_per_step == per_step[expected]
    assert set(claims) <= {parallel}  # the pool's threads claim the halves they update


def test_an_update_in_one_loop_claims_in_one_loop_even_in_the_pool(claims):
    """Momentum has no loop split in halves: its update runs on one thread in the pool too,
    so that thread claims all the lines."""
    params, grads = params_and_grads()
    momentum = Momentum()
    momentum.parallel, momentum.claim_lines = True, True
    momentum.step(params, grads, lr=0.1)
    assert claims == [False, False]


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("view", ["every other column", "first columns", "transposed"])
def test_non_contiguous_parameters_take_the_numpy_passes(name, view):
    """The loops update a 1-D view; ``reshape(-1)`` of the first columns or of a transposed
    array is a copy, which a fused update would change instead of the parameter (every other
    column happens to flatten to a strided view)."""
    weights = np.ones((4, 6), np.float32)
    param = {"every other column": weights[:, ::2], "first columns": weights[:, :3],
             "transposed": weights.T[:3]}[view]
    expected = param.copy()
    grad = np.full(param.shape, 0.5, np.float32)
    make_optimizer(name).step([param], [grad], lr=0.1)
    make_optimizer(name).step([expected], [grad], lr=0.1)
    np.testing.assert_array_equal(param, expected)
    assert (param < 1).all() and (weights == 1).sum() == weights.size - param.size


def test_schedules_by_hand():
    assert Schedule("constant", 0.1, 10).learning_rate(7.5) == 0.1
    step = Schedule("step", 0.1, 30, step_epochs=10, gamma=0.5)
    assert [step.learning_rate(t) for t in (0, 9.9, 10, 25)] == pytest.approx(
        [0.1, 0.1, 0.05, 0.025])
    exponential = Schedule("exponential", 0.1, 10, gamma=0.9)
    assert exponential.learning_rate(2) == pytest.approx(0.081)
    assert exponential.learning_rate(2.5) == pytest.approx(0.081 * 0.9**0.5)  # within epochs
    cosine = Schedule("cosine", 0.1, 10, min_lr=0.01)
    assert cosine.learning_rate(0) == pytest.approx(0.1)
    assert cosine.learning_rate(5) == pytest.approx(0.055)
    assert cosine.learning_rate(10) == pytest.approx(0.01)


def test_warmup_then_cosine():
    s = Schedule("cosine", 0.2, 12, warmup_epochs=2)
    assert s.learning_rate(0) == 0.0
    assert s.learning_rate(1) == pytest.approx(0.1)
    assert s.learning_rate(2) == pytest.approx(0.2)
    assert s.learning_rate(7) == pytest.approx(0.1)   # half-way through the 10 decay epochs
