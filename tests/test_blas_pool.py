"""NumPy's OpenBLAS jobs in numba's thread pool (nn/blas_pool.py): the jobs run at once, the
products and whole trainings give the same bits as on OpenBLAS's own threads, and the callback
is in place only inside the block."""

import ctypes
import os
import time

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from mnist_mlp.nn import blas_pool
from mnist_mlp.params import ModelParams, TrainParams
from mnist_mlp.splits import Normalization, Split, one_hot
from mnist_mlp.training import TrainObserver, train

from conftest import synthetic_digits


def test_the_callback_runs_every_job_at_once(pool_available):
    """A threaded OpenBLAS product's jobs wait for each other, so running them one after
    another would hang: each job here waits (at most 10 s) until every other job has started."""
    started: list[tuple[int, int]] = []
    saw_all = []
    numjobs, size = 2, 8
    job_type = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_int)

    def job(position, jobdata, dojob_data):
        started.append((position, jobdata))
        deadline = time.monotonic() + 10
        while len(started) < numjobs and time.monotonic() < deadline:
            time.sleep(0.001)
        saw_all.append(len(started) == numjobs and dojob_data == 7)

    dojob = job_type(job)
    jobdata = (ctypes.c_char * (numjobs * size))()
    callback_type = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                                     ctypes.c_size_t, ctypes.c_void_p, ctypes.c_int)
    callback = callback_type(blas_pool._openblas_callback.address)
    base = ctypes.addressof(jobdata)
    callback(1, ctypes.cast(dojob, ctypes.c_void_p), numjobs, size, base, 7)
    assert sorted(started) == [(i, base + i * size) for i in range(numjobs)]
    assert saw_all == [True] * numjobs


def test_products_in_the_pool_give_the_same_bits_and_the_callback_leaves_with_the_block(
        pool_available):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 784), dtype=np.float32)
    w = rng.standard_normal((784, 512), dtype=np.float32)
    openblas = blas_pool.numpy_openblas()
    with threadpool_limits(2):
        expected = [x @ w, x.T @ (x @ w)]
        assert openblas.callback() is None
        with blas_pool.shared_pool(2) as pooled:
            assert pooled
            assert openblas.callback() == blas_pool._openblas_callback.address
            got = [x @ w, x.T @ (x @ w)]
        assert openblas.callback() is None
    for a, b in zip(got, expected):
        assert a.tobytes() == b.tobytes()


def test_the_pool_is_not_used_where_it_cannot_serve(pool_available, monkeypatch):
    assert "one BLAS thread" in blas_pool.unavailable_reason(1)
    assert "numba threads" in blas_pool.unavailable_reason(numba.get_num_threads() + 1)
    with blas_pool.shared_pool(1) as pooled:
        assert not pooled and blas_pool.numpy_openblas().callback() is None
    monkeypatch.setattr(blas_pool, "ENABLED", False)
    with blas_pool.shared_pool(2) as pooled:
        assert not pooled and blas_pool.numpy_openblas().callback() is None


def test_an_error_inside_the_block_still_removes_the_callback(pool_available):
    with pytest.raises(KeyboardInterrupt), blas_pool.shared_pool(2):
        raise KeyboardInterrupt
    assert blas_pool.numpy_openblas().callback() is None


class Recorder(TrainObserver):
    def epoch_ended(self, row, model, optimizer):
        self.parallel = optimizer.parallel


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_training_in_the_pool_gives_the_same_weights(pool_available, monkeypatch, optimizer):
    """Two BLAS threads, so that the pool is used (Adam's update then also splits over it)."""
    pixels, labels = synthetic_digits(600, 1)
    tr = Split(Normalization().apply(pixels), labels)
    params = TrainParams(optimizer=optimizer, lr=0.01, epochs=2, batch_size=256, threads=2)
    weights = {}
    for enabled in (True, False):
        monkeypatch.setattr(blas_pool, "ENABLED", enabled)
        recorder = Recorder()
        result = train(ModelParams(hidden=[256, 128]), params, tr, one_hot(tr.y), tr,
                       one_hot(tr.y), observer=recorder)
        assert recorder.parallel is enabled and result.shared_pool is enabled
        assert blas_pool.numpy_openblas().callback() is None
        weights[enabled] = [p.tobytes() for p in result.model.params()]
    assert weights[True] == weights[False]


def test_a_training_process_with_a_cached_pool_starts(tmp_path):
    """numba links a cached cfunc's parallel code when it loads it; before the threading layer
    runs, that aborted the process (blas_pool.py starts the layer first). Two fresh processes
    on one cache directory: the first compiles, the second loads."""
    import subprocess
    import sys
    code = ("from mnist_mlp.nn import blas_pool; "
            "print(blas_pool.unavailable_reason(2), blas_pool._openblas_callback.address > 0)")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, timeout=300) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert run.stdout.split()[-1] == "True"
    assert any(tmp_path.rglob("*.nbc"))


def test_full_batch_training_keeps_openblas_threads(pool_available):
    pixels, labels = synthetic_digits(300, 1)
    tr = Split(Normalization().apply(pixels), labels)
    params = TrainParams(optimizer="sgd", lr=0.1, epochs=1, batch_size="full", threads=2)
    recorder = Recorder()
    result = train(ModelParams(hidden=[64]), params, tr, one_hot(tr.y), tr, one_hot(tr.y),
                   observer=recorder)
    assert not result.shared_pool and not recorder.parallel


@pytest.mark.parametrize("name, value", [("OMP_DYNAMIC", "true"), ("OMP_THREAD_LIMIT", "1")])
def test_an_openmp_setting_that_may_shrink_the_team_keeps_openblas_threads(
        pool_available, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    assert name in blas_pool.unavailable_reason(2)
    monkeypatch.setenv(name, {"OMP_DYNAMIC": "false", "OMP_THREAD_LIMIT": "2"}[name])
    assert blas_pool.unavailable_reason(2) is None
    monkeypatch.setenv(name, value)
    with blas_pool.shared_pool(2) as pooled:
        assert not pooled
