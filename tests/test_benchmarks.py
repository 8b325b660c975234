"""The benchmark scripts that need nothing beyond the core dependencies still run."""

import importlib
import subprocess
import sys

import numba
import numpy as np
import pytest

from conftest import REPO
from mnist_mlp.nn.layers import ACTIVATIONS


def benchmark(name: str):
    """A script of benchmarks/ as a module (they import each other by their plain names)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def test_activation_benchmark_times_every_activation_against_relu():
    done = subprocess.run([sys.executable, "benchmarks/activations.py", "--repeats", "2"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines()[2:]]
    assert {(name.strip(), shape.strip()) for name, shape, *_ in rows} == {
        (name, shape) for name in ACTIVATIONS for shape in ("128x512", "4096x512")}
    assert all(ratio.strip() == "1.0x" for name, _, _, ratio in rows if name.strip() == "relu")


def test_framework_benchmark_says_when_the_environment_forces_a_blas_kernel(monkeypatch):
    blas_description = benchmark("frameworks").blas_description
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    assert "kernels" in blas_description() and "forced" not in blas_description()
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert blas_description().endswith("(forced by OPENBLAS_CORETYPE=Haswell)")


def test_optimizer_benchmark_times_every_optimizer_both_ways():
    done = subprocess.run([sys.executable, "benchmarks/optimizers.py", "--repeats", "2",
                           "--blocks", "1"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines() if line.startswith("| ")]
    names = [row[0].strip() for row in rows]
    assert names[1:7] == ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"]
    assert "loop / passes" in names


def test_passes_benchmark_times_both_steps_both_ways():
    done = subprocess.run([sys.executable, "benchmarks/passes.py", "--blocks", "1"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines() if line.startswith("| ")]
    assert [row[0].strip().split()[0] for row in rows[1:]] == ["default", "tut-128-64"]
    for row in rows[1:]:
        numpy_ms, compiled_ms, ratio = (float(cell.strip().rstrip("x")) for cell in row[2:])
        assert numpy_ms > 0 and compiled_ms > 0
        assert abs(ratio - compiled_ms / numpy_ms) < 0.01


def test_startup_benchmark_loads_every_loop_from_a_filled_cache(pool_available):
    done = subprocess.run([sys.executable, "benchmarks/startup.py", "--pairs", "1"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines() if line.startswith("| ")]
    cells = {row[0].strip(): [cell.strip() for cell in row[1:]] for row in rows[1:]}
    # ReLU forward and backward, column sums, row max, Adam's halves, claiming the parameters'
    # lines in halves, finding the images' bytes, the batch gather's halves; compiled, also
    # Adam's loop, the claims' loop, the gather's loop and the pool's job runner, which a
    # filled cache holds inside those halves and OpenBLAS's callback (blas_pool.py)
    assert cells["empty"][2:] == ["0", "12"]
    assert cells["filled"][2:] == ["8", "0"]
    assert float(cells["filled"][0]) > 0 and float(cells["empty"][0]) > 0


class ScriptedWorker:
    """Stands in for a modes.py worker process: replies from a script, records the requests."""

    def __init__(self, block_reply, probes=()):
        self.block_reply, self.probes, self.requests = block_reply, list(probes), []

    def ask(self, request):
        self.requests.append(request)
        return {"speedup": self.probes.pop(0)} if request == "probe" else self.block_reply


def test_modes_benchmark_keeps_only_pairs_whose_probes_agree():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from modes import alternate
    finally:
        sys.path.pop(0)
    # fast, fast (kept), slow (dropped: fast before it), slow (kept), fast (dropped)
    ours = ScriptedWorker({"fb": 0.002, "update": 0.001, "one_thread": 0.004},
                          probes=[2.0, 1.99, 1.6, 1.62, 2.01])
    theirs = ScriptedWorker({"step": 0.005})
    rounds = iter([True] * 4 + [False])
    pairs, dropped = alternate(ours, theirs, lambda: next(rounds))
    assert dropped == 2
    assert [len(pairs["fast"]), len(pairs["slow"])] == [1, 1]
    assert pairs["slow"][0] == {"fb": 0.002, "update": 0.001, "one_thread": 0.004, "torch": 0.005}
    assert ours.requests == ["probe"] + ["block", "probe"] * 4 and theirs.requests == ["block"] * 4


def test_step_benchmarks_refuse_a_batch_larger_than_the_training_split(tmp_path, monkeypatch,
                                                                       capsys):
    """modes.py and slow_mode.py would otherwise wait forever for their first batch."""
    import argparse

    import numpy as np

    modes = benchmark("modes")
    np.savez(tmp_path / "train.npz", x=np.zeros((5, 784), np.float32), y=np.zeros(5, np.uint8))
    monkeypatch.setattr(modes, "DATA", tmp_path)
    parser = argparse.ArgumentParser(prog="modes.py")
    modes.require_prepared_data(parser, 5)
    with pytest.raises(SystemExit) as exited:
        modes.require_prepared_data(parser, 6)
    assert exited.value.code == 2
    assert capsys.readouterr().err == ("error: --batch 6 is more than the 5 rows of "
                                       f"{tmp_path / 'train.npz'}\n")


@pytest.mark.parametrize("options", [{}, {"pool": False}, {"optimizer_name": "sgd"}],
                         ids=["pool-adam", "own-threads", "sgd"])
def test_slow_mode_touches_time_every_access_and_leave_training_unchanged(options):
    import numpy as np

    from mnist_mlp.nn import Architecture, build_mlp, init_weights

    slow_mode = benchmark("slow_mode")
    run_block, touches = slow_mode.run_block, slow_mode.touches
    rng = np.random.default_rng(0)
    architecture = Architecture(hidden=(32, 16))
    model = build_mlp(architecture, init_weights(architecture, "he", rng))
    flat = model.flatten_parameters()
    initial = [p.copy() for p in flat.params]
    batches = [(rng.random((8, 784), dtype=np.float32), rng.integers(0, 10, 8))
               for _ in range(14)]

    run_block(model, flat, initial, iter(batches), 14, {"none": lambda: None}, **options)
    untouched = [p.copy() for p in flat.params]
    touch = touches(flat.params[0], flat.grads[0])
    seconds = run_block(model, flat, initial, iter(batches), 14, touch, **options)

    assert all(np.array_equal(a, b) for a, b in zip(flat.params, untouched))
    assert not np.array_equal(untouched[0], initial[0])  # the block did train
    assert set(seconds) == set(touch) and len(touch) == 7
    assert all(len(times) == 2 for touch_times, update_times in seconds.values()
               for times in (touch_times, update_times))


def test_subnormals_benchmark_trains_the_same_weights_with_and_without_flushing():
    import numpy as np

    from mnist_mlp.nn import Architecture
    from mnist_mlp.splits import Split
    from mnist_mlp.training import blas_threads

    train_epochs = benchmark("subnormals").train_epochs
    rng = np.random.default_rng(0)
    train = Split(rng.random((512, 784), dtype=np.float32), rng.integers(0, 10, 512))
    dev = Split(rng.random((64, 784), dtype=np.float32), rng.integers(0, 10, 64))
    flushed, flushed_params, flushed_threads = train_epochs(train, dev, 2, "adam", flush=True)
    kept, kept_params, kept_threads = train_epochs(train, dev, 2, "adam", flush=False)
    assert flushed_threads == kept_threads == blas_threads("auto", Architecture(hidden=(512, 256)),
                                                           128)
    assert len(flushed) == len(kept) == 2
    assert all(row["seconds"] > 0 and row["fb_ms"] > 0 and row["update_ms"] > 0
               for row in flushed + kept)
    assert all(row["subnormal"] == 0 for row in flushed)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(flushed_params, kept_params))


@pytest.mark.parametrize("script", ["pool", "gather"])
def test_switching_benchmarks_train_the_same_weights_both_ways_and_leave_the_switch_on(
        script, pool_available):
    """pool.py switches the shared thread pool, gather.py the batches from bytes."""
    import numpy as np

    from mnist_mlp import batches
    from mnist_mlp.nn import blas_pool
    from mnist_mlp.splits import Normalization, Split

    pool, module = benchmark("pool"), benchmark(script)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (576, 784), dtype=np.uint8)  # bytes, for gather.py's switch
    data = (Split(Normalization().apply(pixels[:512]), rng.integers(0, 10, 512)),
            Split(Normalization().apply(pixels[512:]), rng.integers(0, 10, 64)))
    params = pool.CONFIGS[0].params(epochs=2, threads=2, rows=512)
    seconds, same = pool.alternating_pairs(params, data, module.switch, repeats=2)
    assert all(len(runs) == 2 and min(runs) > 0 for runs in seconds.values())
    assert same == 2
    assert blas_pool.ENABLED and batches.FROM_BYTES


def test_sparse_input_benchmark_computes_both_products_both_ways():
    """Its loops and its inked-pixel sgemm give the first layer's products, zeros where no
    image inks a pixel, and the loops the same bits on one thread as on two."""
    sparse_input = benchmark("sparse_input")
    rng = np.random.default_rng(0)
    x = rng.random((9, 30), dtype=np.float32)
    x[x < 0.7] = 0
    x[:, 4] = 0  # a pixel no image inks
    x[2] = 0  # a blank image
    w = rng.standard_normal((30, 5), dtype=np.float32)
    dz = rng.standard_normal((9, 5), dtype=np.float32)
    exact_out, exact_dw = x.astype(np.float64) @ w, x.T.astype(np.float64) @ dz
    runs, threads_before = [], numba.get_num_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            out, dw = np.full((9, 5), np.nan, np.float32), np.full((30, 5), np.nan, np.float32)
            sparse_input.sparse_forward(x, w, out)
            sparse_input.sparse_weight_gradient(x, dz, dw)
            runs.append((out.tobytes(), dw.tobytes()))
            np.testing.assert_allclose(out, exact_out, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(dw, exact_dw, rtol=1e-5, atol=1e-6)
            assert not dw[4].any() and not out[2].any()
    finally:
        numba.set_num_threads(threads_before)
    assert runs[0] == runs[1]
    np.testing.assert_allclose(sparse_input.inked_forward(x, w, np.empty((9, 5), np.float32)),
                               exact_out, rtol=1e-5, atol=1e-6)
    dw = sparse_input.inked_weight_gradient(x, dz, np.full((30, 5), np.nan, np.float32))
    np.testing.assert_allclose(dw, exact_dw, rtol=1e-5, atol=1e-6)
