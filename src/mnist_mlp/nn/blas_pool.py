"""NumPy's OpenBLAS running its threaded jobs in numba's thread pool, so that the compiled
loops can share the second core with the matrix products instead of fighting over it.

OpenBLAS (pthreads build, as in NumPy's wheels) keeps its own worker threads, and after each
product a worker spins on the second core for a while, waiting for the next one. A numba
``prange`` loop run between products then competes with that spinning thread: Adam's update
over two threads made whole default epochs 1.07x as long with numba's workqueue layer and
3.1x with its OpenMP layer on one machine, ~5x on another (benchmarks/HISTORY.md). Since 0.3.27
OpenBLAS lets the caller run those jobs instead (``openblas_set_threads_callback_function``).
Inside ``shared_pool`` the callback below hands them to numba's OpenMP pool, whose threads the
compiled loops' ``prange`` use too: one pool for everything, as PyTorch has it. The job split
is OpenBLAS's own, decided by its thread count, so every product gives the same bits as
without the pool (tested).

The jobs of a threaded product wait for each other's partial results, so they must all run at
once, one per thread: the pool is used only with numba's OpenMP layer (its static schedule
gives each thread one job of at most as many as the team has threads) and at most as many
BLAS threads as numba has. Elsewhere (no libgomp, numba on TBB or workqueue, one core, an
OpenBLAS older than 0.3.27 or none) ``shared_pool`` leaves OpenBLAS as it is and says so.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from pathlib import Path

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic
from threadpoolctl import threadpool_info

from . import numba_cache
from .kernels import parallel_compile


#: False leaves OpenBLAS's threads alone everywhere (for comparing the two ways).
ENABLED = True


@intrinsic
def _call_job(typingctx, dojob, job, jobdata, dojob_data):
    """Call OpenBLAS's ``void dojob(int job, void *jobdata, int dojob_data)`` from its address."""
    signature = types.void(types.uintp, types.intp, types.uintp, types.int32)

    def codegen(context, builder, signature, args):
        dojob, job, jobdata, dojob_data = args
        int32, pointer = ir.IntType(32), ir.IntType(8).as_pointer()
        function_type = ir.FunctionType(ir.VoidType(), [int32, pointer, int32])
        function = builder.inttoptr(dojob, function_type.as_pointer())
        builder.call(function, [builder.trunc(job, int32), builder.inttoptr(jobdata, pointer),
                                dojob_data])
        return context.get_dummy_value()

    return signature, codegen


@parallel_compile
def run_jobs(dojob, numjobs, jobdata_size, jobdata, dojob_data):
    """Job i of ``numjobs`` with its ``jobdata_size`` bytes at ``jobdata + i * jobdata_size``,
    all at once over numba's pool."""
    for job in numba.prange(numjobs):
        _call_job(dojob, job, jobdata + job * jobdata_size, dojob_data)


# Start numba's threading layer now: a cached cfunc whose code launches parallel work is loaded
# at decoration and links against the layer's scheduling functions, which exist only once the
# layer runs (without this, LLVM aborts the process: "Symbol not found: allocate_sched").
numba.get_num_threads()


def _cfunc(function):
    """OpenBLAS's ``openblas_threads_callback`` type, (int sync, dojob, int numjobs, size_t
    jobdata_elsize, void *jobdata, int dojob_data), pointers taken as integers of their size;
    cached on disk where numba can (numba_cache.cached)."""
    signature = types.void(types.int32, types.uintp, types.int32, types.uintp, types.uintp,
                           types.int32)
    return numba_cache.cached(
        lambda cache: numba.cfunc(signature, nopython=True, cache=cache), function)


@_cfunc
def _openblas_callback(sync, dojob, numjobs, jobdata_size, jobdata, dojob_data):
    run_jobs(dojob, numjobs, jobdata_size, jobdata, dojob_data)


class _OpenBLAS:
    """The two symbols of one OpenBLAS library that ``shared_pool`` needs."""

    AFFIXES = [(prefix, suffix) for prefix in ("", "scipy_") for suffix in ("", "64_", "_64")]

    def __init__(self, path: str) -> None:
        library = ctypes.CDLL(path)
        for prefix, suffix in self.AFFIXES:
            name = f"{prefix}openblas_set_threads_callback_function{suffix}"
            if hasattr(library, name):
                self.set_callback = getattr(library, name)
                break
        else:
            raise LookupError(f"{path} has no openblas_set_threads_callback_function")
        self.set_callback.argtypes = [ctypes.c_void_p]
        self.set_callback.restype = None
        self._current = ctypes.c_void_p.in_dll(library, "openblas_threads_callback_")

    def callback(self) -> int | None:
        """The address of the callback in place, None for OpenBLAS's own threads."""
        return self._current.value


@functools.cache
def numpy_openblas() -> _OpenBLAS | None:
    """NumPy's OpenBLAS if it takes a threads callback (pthreads build, 0.3.27 or later), else
    None. Other OpenBLAS copies in the process (SciPy's, loaded by numba) are not NumPy's."""
    numpy_dir = Path(np.__file__).resolve().parent
    own_dirs = (numpy_dir, numpy_dir.with_name(numpy_dir.name + ".libs"))
    for info in threadpool_info():
        path = Path(info["filepath"]).resolve()
        if (info["internal_api"] != "openblas" or info.get("threading_layer") != "pthreads"
                or not any(d in path.parents for d in own_dirs)):
            continue
        try:
            return _OpenBLAS(str(path))
        except (OSError, LookupError, ValueError):
            return None
    return None


def unavailable_reason(blas_threads: int) -> str | None:
    """Why ``shared_pool(blas_threads)`` would leave OpenBLAS's threads alone, or None."""
    if not ENABLED:
        return "blas_pool.ENABLED is False"
    if blas_threads < 2:
        return "one BLAS thread: nothing to share"
    if blas_threads > numba.get_num_threads():
        return f"{blas_threads} BLAS threads but {numba.get_num_threads()} numba threads"
    if numpy_openblas() is None:
        return "NumPy's BLAS is not an OpenBLAS (pthreads, >= 0.3.27) that takes a callback"
    if numba.threading_layer() != "omp":  # started at import, above
        return f"numba's threading layer is {numba.threading_layer()!r}, not 'omp'"
    # Either setting could give numba's team fewer threads than a product has jobs: a hang.
    if os.environ.get("OMP_DYNAMIC", "").strip().lower() not in ("", "false"):
        return f"OMP_DYNAMIC={os.environ['OMP_DYNAMIC']} may shrink the pool's team"
    limit = os.environ.get("OMP_THREAD_LIMIT", "").strip()
    if limit and not (limit.isdigit() and int(limit) >= blas_threads):
        return f"OMP_THREAD_LIMIT={limit} is below the {blas_threads} BLAS threads"
    if numpy_openblas().callback() is not None:
        return "another threads callback is already installed in NumPy's OpenBLAS"
    return None


@contextlib.contextmanager
def shared_pool(blas_threads: int):
    """Run NumPy's threaded OpenBLAS jobs in numba's pool inside the block; yields whether it
    does (``unavailable_reason`` says why not). Call it where the BLAS thread count is already
    ``blas_threads`` (inside threadpoolctl's limit), and make no BLAS call from another thread
    inside the block: the pool serves the thread that entered it."""
    if unavailable_reason(blas_threads) is not None:
        yield False
        return
    openblas = numpy_openblas()
    openblas.set_callback(_openblas_callback.address)
    try:
        yield True
    finally:
        openblas.set_callback(None)
