"""Data augmentation for training batches, vectorized over the batch and seeded.

Each image gets a random affine transform (rotation, scaling, shift) and, optionally, an
elastic distortion (Simard, Steinkraus & Platt 2003: a random displacement field smoothed by a
Gaussian of width ``elastic_sigma`` and scaled by ``elastic_alpha``). Resampling is bilinear with
``scipy.ndimage.map_coordinates`` over the whole batch at once; pixels that come from outside
the image take the background value, so values stay within the input's range.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import correlate1d, map_coordinates

from .params import AugmentParams

SIDE = 28
_CENTER = (SIDE - 1) / 2


class Augmenter:
    def __init__(self, params: AugmentParams, background: float, rng: np.random.Generator):
        self.params = params
        self.background = float(background)
        self.rng = rng
        rows, cols = np.meshgrid(np.arange(SIDE, dtype=np.float32),
                                 np.arange(SIDE, dtype=np.float32), indexing="ij")
        self._grid = np.stack([rows - _CENTER, cols - _CENTER])  # (2, 28, 28), centred
        self._smoothing = gaussian_weights(params.elastic_sigma)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """images: (n, 784) -> new (n, 784) array of transformed images, same dtype."""
        p, rng = self.params, self.rng
        n = len(images)
        angle = np.deg2rad(rng.uniform(-p.max_rotation, p.max_rotation, n))
        # Sampling runs output -> input, so the inverse transform is built directly.
        inv_scale = 1 / rng.uniform(1 - p.max_scale, 1 + p.max_scale, n)
        shift = rng.uniform(-p.max_shift, p.max_shift, (2, n))
        # The C library's sin and cos: what NumPy's float64 ones are on every CPU from 1.25.1
        # (numpy/numpy#23925) on. Before, on AVX-512 CPUs, SVML loops gave other last bits
        # (numpy/numpy#23523); SIMD loops may come back (numpy/numpy#29699), and augmented
        # training must not depend on the CPU (gaussian_weights says why).
        cos = np.array([math.cos(a) for a in angle]) * inv_scale
        sin = np.array([math.sin(a) for a in angle]) * inv_scale
        r, c = self._grid[0], self._grid[1]
        src_r = cos[:, None, None] * r - sin[:, None, None] * c
        src_c = sin[:, None, None] * r + cos[:, None, None] * c
        src_r += _CENTER - shift[0][:, None, None]
        src_c += _CENTER - shift[1][:, None, None]
        if p.elastic_alpha > 0:
            field = rng.uniform(-1, 1, (2, n, SIDE, SIDE))
            for axis in (2, 3):  # scipy.ndimage.gaussian_filter over the image axes
                field = correlate1d(field, self._smoothing, axis=axis, mode="constant")
            src_r += p.elastic_alpha * field[0]
            src_c += p.elastic_alpha * field[1]
        batch = np.broadcast_to(np.arange(n, dtype=np.float64)[:, None, None], src_r.shape)
        out = map_coordinates(images.reshape(n, SIDE, SIDE), np.stack([batch, src_r, src_c]),
                              order=1, mode="constant", cval=self.background)
        return out.reshape(n, SIDE * SIDE).astype(images.dtype, copy=False)


def gaussian_weights(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """The weights ``scipy.ndimage.gaussian_filter`` smooths with (its ``_gaussian_kernel1d``,
    the same operations), but with the C library's exp. SciPy takes NumPy's float64 exp, which
    on AVX-512 CPUs runs a loop of its own whose last bits differ from the C library's that
    NumPy uses elsewhere: the elastic fields then differed in their last bits, some pixel of
    the ~5 million images a 100-epoch run augments rounded to another float32, and `best`
    trained another model on those CPUs (README). (2 * radius + 1,) float64, summing to 1;
    symmetric, so correlating is convolving."""
    radius = int(truncate * float(sigma) + 0.5)
    exponents = -0.5 / (sigma * sigma) * np.arange(-radius, radius + 1) ** 2
    weights = np.array([math.exp(e) for e in exponents])
    return weights / weights.sum()
