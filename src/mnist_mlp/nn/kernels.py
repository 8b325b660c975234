"""Compiled loops (numba) for the training step's memory-bound passes, one element at a time.

Each loop performs exactly the operations of the NumPy code it replaces, in the same order and
the same precision: no fastmath, so no reassociation and no fused multiply-add, and scalars
arrive in the arrays' dtype, so float32 stays float32. The results are therefore the same bits
(tested), but every array is read and written once instead of once per NumPy pass:

- optimizer updates (optimizers.py): over the default net's 535k parameters Adam's twelve
  passes took 0.61 ms on one core, this loop 0.18 ms (benchmarks/optimizers.py);
- ReLU forward and backward, a Dense layer's bias gradient and the softmax's row maximum
  (layers.py, losses.py): NumPy makes two passes for the ReLU and its mask, and reduces
  short rows or columns at a fraction of the memory's speed (benchmarks/README.md);
- the batch gather (``take_decoded``, batches.py): the float32 rows that ``np.take`` copies,
  decoded from the images' bytes, a quarter of the memory; ``encode_bytes`` finds those bytes
  once, checking that each decodes to its float bit for bit.

``adam_halves``, ``sgd_halves`` and ``take_decoded_halves`` run those loops over numba's thread
pool, one half of the arrays per thread; only inside ``blas_pool.shared_pool``, where that pool
also runs OpenBLAS's jobs (blas_pool.py says why).

``claim_lines`` replaces no NumPy code: it changes no value and only decides which core holds
the parameters' cache lines when an update starts (optimizers.py, ``LineClaims``).

Arrays are C-contiguous, all of one dtype, 1-D unless said otherwise; ``error_model="numpy"``
makes a division by zero give inf or nan, as NumPy does, instead of raising.

The machine code is cached on disk (numba's ``cache=True``, in the environment or
``NUMBA_CACHE_DIR``, where every copy of this file finds it: numba_cache.py), keyed by this
file's content and the CPU:
a default training process's first step, numba's import included, took ~1.9 s compiling its
five loops and ~0.9 s loading them on the first EPYC machine, before ``claim_lines`` made six
(benchmarks/startup.py).
"""

from __future__ import annotations

import numba
import numpy as np

from . import numba_cache

_OPTIONS = {"error_model": "numpy", "nogil": True}


def _compile(function, parallel: bool = False):
    """``numba.njit``, cached on disk where numba can (numba_cache.cached)."""
    return numba_cache.cached(
        lambda cache: numba.njit(cache=cache, parallel=parallel, **_OPTIONS), function)


def parallel_compile(function):
    """``_compile`` for a loop whose ``numba.prange`` runs over numba's thread pool. Used only
    inside ``blas_pool.shared_pool``, where that pool also runs OpenBLAS's jobs."""
    return _compile(function, parallel=True)


@numba.njit(inline="always", **_OPTIONS)
def _flushed(x, tiny):
    """x, or a zero of x's sign where x is below ``tiny`` in magnitude: the smallest normal
    number (optimizers.py, ``zero_subnormals``, says why), or 0 to keep every x."""
    return x * (tiny - tiny) if abs(x) < tiny else x


@_compile
def sgd(param, grad, lr):
    for i in range(param.shape[0]):
        param[i] -= grad[i] * lr


@parallel_compile
def sgd_halves(param, grad, lr):
    """``sgd`` over each half of the arrays on a thread of its own (as ``adam_halves``)."""
    n = param.shape[0]
    for half in numba.prange(2):
        low, high = half * n // 2, (half + 1) * n // 2
        sgd(param[low:high], grad[low:high], lr)


@_compile
def momentum(param, grad, velocity, mu, lr, nesterov, tiny):
    for i in range(param.shape[0]):
        v = velocity[i] * mu + grad[i]
        v = _flushed(v, tiny)
        velocity[i] = v
        if nesterov:
            param[i] -= (v * mu + grad[i]) * lr
        else:
            param[i] -= v * lr


@_compile
def rmsprop(param, grad, square_avg, rho, one_minus_rho, eps, lr, tiny):
    for i in range(param.shape[0]):
        s = square_avg[i] * rho + (grad[i] * grad[i]) * one_minus_rho
        s = _flushed(s, tiny)
        square_avg[i] = s
        param[i] -= (grad[i] / (np.sqrt(s) + eps)) * lr


@_compile
def adam(param, grad, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2, eps_hat, step_size,
         keep, tiny):
    """``keep`` multiplies the parameter first (AdamW's decoupled decay; 1 is exact)."""
    for i in range(param.shape[0]):
        m_i = m[i] * beta1 + grad[i] * one_minus_beta1
        v_i = v[i] * beta2 + (grad[i] * grad[i]) * one_minus_beta2
        m_i = _flushed(m_i, tiny)
        v_i = _flushed(v_i, tiny)
        m[i] = m_i
        v[i] = v_i
        param[i] = param[i] * keep - (m_i / (np.sqrt(v_i) + eps_hat)) * step_size


@parallel_compile
def adam_halves(param, grad, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2, eps_hat,
                step_size, keep, tiny):
    """``adam`` over each half of the arrays on a thread of its own: the same bits, as every
    element is updated alone. The halves are views, so each call is the vectorised loop."""
    n = param.shape[0]
    for half in numba.prange(2):
        low, high = half * n // 2, (half + 1) * n // 2
        adam(param[low:high], grad[low:high], m[low:high], v[low:high], beta1, one_minus_beta1,
             beta2, one_minus_beta2, eps_hat, step_size, keep, tiny)


@_compile
def encode_bytes(x, x_bits, scale, shift, factor, codes):
    """Into ``codes``, for each x the byte p whose ``decode(p) = (float32(p) * scale - shift) *
    factor`` (``take_decoded``) is x bit for bit (``x_bits``: x viewed as uint32). False if some
    x is no byte's decode (NaN, out of range, between two bytes' values, or -0); ``codes`` then
    holds no meaning."""
    # Reciprocals: the estimate needs only to round to the right byte, the check is exact. No
    # exit from inside the loop, so that it runs vectorised.
    inverse_factor, inverse_scale = 1 / factor, 1 / scale
    mismatched = False
    for i in range(x.shape[0]):
        value = x[i]
        estimate = (value * inverse_factor + shift) * inverse_scale
        estimate = estimate if estimate > 0 else 0  # NaN too
        byte = np.uint8(np.rint(estimate if estimate < 255 else 255))
        decoded = (np.float32(byte) * scale - shift) * factor
        mismatched |= decoded != value or (value == 0 and x_bits[i] != 0)
        codes[i] = byte
    return not mismatched


@_compile
def take_decoded(codes, rows, scale, shift, factor, out):
    """``np.take(x, rows, axis=0, out=out, mode="clip")`` for images x held as bytes, 2-D
    ``codes`` with ``x = (float32(codes) * scale - shift) * factor``, each step rounded to
    float32 (``splits.Normalization.apply``'s arithmetic): a quarter of the memory to read."""
    last = codes.shape[0] - 1
    for r in range(rows.shape[0]):
        source, target = codes[min(max(rows[r], 0), last)], out[r]
        for j in range(source.shape[0]):
            target[j] = (np.float32(source[j]) * scale - shift) * factor


@parallel_compile
def take_decoded_halves(codes, rows, scale, shift, factor, out):
    """``take_decoded`` for each half of ``rows`` on a thread of its own (as ``adam_halves``)."""
    n = rows.shape[0]
    for half in numba.prange(2):
        low, high = half * n // 2, (half + 1) * n // 2
        take_decoded(codes, rows[low:high], scale, shift, factor, out[low:high])


@_compile
def claim_lines(array, stride, one):
    """Store every ``stride``-th element back, times ``one``: 1, which leaves every number,
    infinity and quiet NaN as it was (a signalling NaN, which arithmetic never makes, would
    come back quiet), but the compiler cannot drop the store as writing back what it read.
    So this core holds each cache line for writing before an update writes it."""
    for i in range(0, array.shape[0], stride):
        array[i] = array[i] * one


@parallel_compile
def claim_lines_halves(array, stride, one):
    """``claim_lines`` over each half of ``array`` on a thread of its own, the halves of
    ``adam_halves`` and ``sgd_halves``: each thread claims the lines it then updates."""
    n = array.shape[0]
    for half in numba.prange(2):
        low, high = half * n // 2, (half + 1) * n // 2
        claim_lines(array[low:high], stride, one)


@_compile
def relu_forward(x, out):
    """``np.maximum(x, 0)``: NaN stays NaN and -0 becomes +0, as NumPy has it."""
    for i in range(x.shape[0]):
        value = x[i]
        out[i] = value if value > 0 or value != value else 0


@_compile
def relu_backward(dout, y, out):
    """``dout * (y > 0)`` for the forward output y: a product with 1 or 0, so an inf or NaN in
    dout still gives NaN where the unit was off (the product with the literal 0 is computed in
    float64 for float32 arrays, exactly: it is +-0 or NaN in either precision)."""
    for i in range(dout.shape[0]):
        out[i] = dout[i] if y[i] > 0 else dout[i] * 0


@_compile
def column_sums(x, out):
    """``np.sum(x, axis=0, out=out)`` for 2-D x: NumPy starts from 0 and adds the rows in order,
    one at a time (no pairwise summation across rows), and so does this."""
    out[:] = 0
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[j] += x[i, j]


@_compile
def row_max(x, out):
    """``np.max(x, axis=1, out=out)`` for 2-D x with at least one column: a NaN wins, and of
    equal values the later one (which decides between -0 and +0)."""
    for i in range(x.shape[0]):
        best = x[i, 0]
        for j in range(1, x.shape[1]):
            value = x[i, j]
            if value >= best or value != value:
                best = value
        out[i] = best
