"""The compiled loops of kernels.py, loaded on first use, and when an array may take them."""

from __future__ import annotations

import functools

import numpy as np


@functools.cache
def kernels():
    """kernels.py, or None without numba. Imported on first use: numba's import takes 0.2-0.5 s
    that predicting and evaluating do not need (and each loop compiles on its first call, or
    loads from numba's on-disk cache; benchmarks/README.md)."""
    try:
        from . import kernels as module
    except ImportError:  # a broken install: the NumPy passes give the same numbers, slower
        return None
    return module


def set_up(dtype: np.dtype) -> None:
    """Import kernels.py and load one loop for ``dtype`` now, before training's clock starts:
    the first loop a process loads also sets up numba's CPU target. Left to the first step, that
    and the import put a full-batch run's first epoch (784-10-10) at 0.48-0.65 s against
    0.05-0.06 s for the next ones; set up here, it took 0.08-0.12 s. The loop is a Dense
    layer's bias gradient, which every fused training step calls with these argument types,
    so nothing extra is compiled."""
    loops = kernels()
    if loops is not None:
        loops.column_sums(np.zeros((1, 1), dtype), np.empty(1, dtype))


@functools.cache
def blas_pool():
    """blas_pool.py (NumPy's OpenBLAS jobs in numba's pool), or None without numba."""
    try:
        from . import blas_pool as module
    except ImportError:
        return None
    return module


def fusable(*arrays: np.ndarray) -> bool:
    """One floating dtype (float32 or float64) and C-contiguous: what the loops are built for."""
    dtype = arrays[0].dtype
    return (dtype in (np.float32, np.float64)
            and all(a.dtype == dtype and a.flags.c_contiguous for a in arrays))


CACHE_LINE = 64  # bytes, on x86-64 and most ARM cores


def claim_cache_lines(array: np.ndarray, halves: bool = False) -> None:
    """Store one value per cache line of a fusable array back unchanged (kernels.claim_lines),
    so this core holds its lines for writing; see optimizers.LineClaims for when that pays.
    ``halves``: each half on a thread of numba's pool (``claim_lines_halves``), for an update
    split so."""
    loops = kernels()
    claim = loops.claim_lines_halves if halves else loops.claim_lines
    claim(array.reshape(-1), CACHE_LINE // array.itemsize, array.dtype.type(1))
