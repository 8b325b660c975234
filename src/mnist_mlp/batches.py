"""Mini-batches of training images gathered from the images' bytes.

Prepared images are 8-bit pixels under a ``Normalization`` (splits.py): every float32 value is
one of 256. Their bytes take a quarter of the memory, and decoding them with the
normalization's own float32 steps gives the same bits as the floats (``kernels.take_decoded``).
In a small network's step the gather of random rows was the largest pass outside the matrix
products, waiting on main memory: on the Intel Xeon (family 6 model 167) 128 rows took ~55 µs
as floats and ~24 µs from bytes over two threads, in the training loop. On one thread, cold,
the two took the same time, so bytes are used only where the gather runs over numba's thread
pool, next to the products (benchmarks/HISTORY.md).
"""

from __future__ import annotations

import numpy as np

from .nn import compiled
from .splits import Split

#: False gathers the float32 rows everywhere (for comparing the two ways).
FROM_BYTES = True


class BatchImages:
    """The images of a split, gathered row by row into batch buffers."""

    def __init__(self, split: Split, parallel: bool = False) -> None:
        """``parallel``: gather over numba's thread pool, from the images' bytes, which takes
        one pass over the images first (~35 ms for 55,000): only inside
        ``blas_pool.shared_pool`` (which says why). The floats are gathered where it is False,
        the compiled loops are missing, or some value is no byte under the normalization."""
        x = self._x = split.x
        self._codes: np.ndarray | None = None
        kernels = compiled.kernels() if FROM_BYTES and parallel else None
        if kernels is None or x.dtype != np.float32 or x.ndim != 2 or not x.flags.c_contiguous:
            return
        steps = split.normalization.float32_steps()
        codes = np.empty(x.shape, np.uint8)
        values = x.reshape(-1)
        if kernels.encode_bytes(values, values.view(np.uint32), *steps, codes.reshape(-1)):
            self._codes, self._steps, self._take = codes, steps, kernels.take_decoded_halves

    @property
    def from_bytes(self) -> bool:
        """Whether ``take`` decodes the images' bytes (else it copies their float32 rows)."""
        return self._codes is not None

    def take(self, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``np.take(split.x, rows, axis=0, out=out, mode="clip")`` into the C-contiguous
        float32 ``out``, the same bits either way; returns ``out``."""
        if self._codes is None or not out.flags.c_contiguous:
            # mode="clip": with the default "raise", np.take gathers into a temporary and
            # copies it to out= (~30% slower); a permutation's indices are valid.
            return np.take(self._x, rows, axis=0, out=out, mode="clip")
        self._take(self._codes, rows, *self._steps, out)
        return out
