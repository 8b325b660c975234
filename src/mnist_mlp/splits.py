"""The prepared arrays passed between stages, as .npz files (no pickle).

``{split}.npz`` holds ``x`` (float32 (n, 784), C-contiguous), ``y`` (uint8 (n,)) and
``normalization`` (JSON); one-hot files hold ``y`` (float32 (n, 10)).
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .fileio import read_npz, save_npz
from .errors import DataError

N_PIXELS = 784
N_CLASSES = 10


@dataclass(frozen=True)
class Normalization:
    """``x = (pixel / 255 - mean) / std``; ``mean=0, std=1`` is plain scaling to [0, 1]."""

    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        for name in ("mean", "std"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))  # NumPy scalars too: JSON-ready
        if self.std <= 0:
            raise ValueError(f"std must be positive, got {self.std!r}")

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 (n, 784) -> C-contiguous float32 (n, 784)."""
        scale, shift, factor = self.float32_steps()
        x = pixels.astype(np.float32)
        x *= scale
        if self.mean != 0.0 or self.std != 1.0:
            x -= shift
            x *= factor
        return x

    def blank_value(self) -> float:
        """What ``apply`` makes of a blank (0) pixel, to the bit: computed in float64 as
        ``(0 - mean) / std`` it rounds to another float32 for some means and deviations, the
        training set's own among them."""
        return float(self.apply(np.zeros((1, 1), np.uint8))[0, 0])

    def float32_steps(self) -> tuple[np.float32, np.float32, np.float32]:
        """(scale, shift, factor): ``apply`` computes ``(float32(pixel) * scale - shift) *
        factor``, each step rounded to float32 (with mean 0 and std 1 it skips the last two,
        which would change nothing). batches.py decodes bytes with the same steps."""
        return np.float32(1 / 255), np.float32(self.mean), np.float32(1 / self.std)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Split:
    x: np.ndarray
    y: np.ndarray
    normalization: Normalization = Normalization()


def save_split(path: str | Path, split: Split) -> None:
    save_npz(path, {"x": split.x, "y": split.y,
                    "normalization": np.array(json.dumps(split.normalization.to_dict()))})


def load_split(path: str | Path) -> Split:
    arrays = read_npz(path, DataError, ("x", "y", "normalization"))
    x, y = arrays["x"], arrays["y"]
    if x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != N_PIXELS:
        raise DataError(f"{path}: 'x' is {x.dtype} {x.shape}, expected float32 (n, {N_PIXELS})")
    if y.dtype != np.uint8 or y.shape != (len(x),) or (y.size and y.max() >= N_CLASSES):
        raise DataError(f"{path}: 'y' must be uint8 labels 0-9, one per row of 'x'")
    try:
        norm = Normalization(**json.loads(str(arrays["normalization"])))
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: unreadable 'normalization' entry ({exc})") from None
    return Split(np.ascontiguousarray(x), y, norm)


def one_hot(labels: np.ndarray, smoothing: float = 0.0) -> np.ndarray:
    """uint8 labels (n,) -> float32 targets (n, 10): 1 - s + s/10 for the label, s/10 elsewhere."""
    targets = np.full((len(labels), N_CLASSES), smoothing / N_CLASSES, dtype=np.float32)
    targets[np.arange(len(labels)), labels] = 1 - smoothing + smoothing / N_CLASSES
    return targets


def save_targets(path: str | Path, targets: np.ndarray) -> None:
    save_npz(path, {"y": targets})


def load_targets(path: str | Path, rows: int) -> np.ndarray:
    y = read_npz(path, DataError, ("y",))["y"]
    if y.dtype != np.float32 or y.shape != (rows, N_CLASSES):
        raise DataError(f"{path}: one-hot targets are {y.dtype} {y.shape}, expected float32 "
                        f"({rows}, {N_CLASSES}); rerun the onehot stage")
    return y


def load_labels(path: str | Path) -> np.ndarray:
    """Only the uint8 labels of a split file (the images are not read)."""
    y = read_npz(path, DataError, ("y",))["y"]
    if y.dtype != np.uint8 or y.ndim != 1 or (y.size and y.max() >= N_CLASSES):
        raise DataError(f"{path}: 'y' must be uint8 labels 0-9")
    return y
