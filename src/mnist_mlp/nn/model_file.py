"""Model files: an ``.npz`` of float32 arrays plus a JSON ``meta`` string. No pickle, ever.

Keys: ``"{layer}.{name}"`` for each parameter or batch-norm statistic, and ``meta``, a JSON object
with ``format_version``, ``architecture`` and free-form ``info`` (training params, preprocessing).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import ModelFileError
from ..fileio import read_npz
from .network import MLP, Architecture, build_mlp

FORMAT_VERSION = 1


def model_arrays(model: MLP, info: dict | None = None) -> dict[str, np.ndarray]:
    """The arrays that ``np.savez`` writes for ``model``."""
    meta = {"format_version": FORMAT_VERSION, "architecture": model.architecture.to_dict(),
            "info": info or {}}
    return {**model.named_params(), **model.named_state(), "meta": np.array(json.dumps(meta))}


def load_model(path: str | Path) -> tuple[MLP, dict]:
    """Read a model file written from ``model_arrays``; returns (model, info).

    Raises ModelFileError with one readable sentence for any file that is not such a model.
    """
    path = Path(path)
    arrays = read_npz(path, ModelFileError)
    if "meta" not in arrays:
        raise ModelFileError(f"{path}: not a model file (no 'meta' entry)")
    try:
        meta = json.loads(str(arrays.pop("meta")))
        version = meta["format_version"]
        arch_dict = meta["architecture"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: unreadable 'meta' entry ({exc})") from None
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format version {version!r} is not supported "
                             f"(this code reads version {FORMAT_VERSION}); retrain the model")
    try:
        arch = Architecture(**arch_dict)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: invalid architecture in 'meta' ({exc})") from None

    widths = arch.widths
    model = build_mlp(arch, [(np.zeros((a, b), np.float32), np.zeros(b, np.float32))
                             for a, b in zip(widths[:-1], widths[1:])])
    slots = {**model.named_params(), **model.named_state()}
    missing = sorted(set(slots) - set(arrays))
    extra = sorted(set(arrays) - set(slots))
    if missing or extra:
        raise ModelFileError(f"{path}: arrays do not match the architecture "
                             f"(missing: {missing or 'none'}; unexpected: {extra or 'none'})")
    for key, slot in slots.items():
        arr = arrays[key]
        if arr.shape != slot.shape or arr.dtype != np.float32:
            raise ModelFileError(f"{path}: array '{key}' has shape {arr.shape} and dtype "
                                 f"{arr.dtype}; expected {slot.shape} float32 (layer widths "
                                 f"{' -> '.join(map(str, widths))})")
        if not np.all(np.isfinite(arr)):
            raise ModelFileError(f"{path}: array '{key}' contains NaN or infinite values")
        slot[...] = arr
    info = meta.get("info", {})
    if not isinstance(info, dict):
        raise ModelFileError(f"{path}: unreadable 'meta' entry ('info' is not a mapping)")
    return model, info
