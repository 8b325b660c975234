"""The prepare stage: validated CSVs -> normalized float32 splits.

The dev set is a stratified, seeded split of the training CSV. The official test CSV stays the
test set, untouched; only a source without one gets a stratified test split instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError, ParamsError
from .mnist_csv import read_mnist_csv
from .params import PrepareParams
from .splits import N_CLASSES, Normalization, Split


def stratified_split(labels: np.ndarray, size: int, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (rest, held_out) with ``size`` held out, class proportions kept.

    Each class gets floor(size * share) rows; the rows left over go to the classes with the
    largest remainders. Both index arrays are sorted.
    """
    classes, counts = np.unique(labels, return_counts=True)
    exact = size * counts / counts.sum()
    quota = np.floor(exact).astype(np.int64)
    leftover = size - int(quota.sum())
    quota[np.argsort(-(exact - quota), kind="stable")[:leftover]] += 1
    held = [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota)]
    held_out = np.sort(np.concatenate(held))
    rest = np.setdiff1d(np.arange(len(labels)), held_out, assume_unique=True)
    return rest, held_out


def prepare(params: PrepareParams, train_csv: str | Path, test_csv: str | Path | None
            ) -> dict[str, Split]:
    """Read, validate, split and normalize; returns the train/dev/test splits."""
    pixels, labels = read_mnist_csv(train_csv)
    missing = sorted(set(range(N_CLASSES)) - set(np.unique(labels).tolist()))
    if missing:
        raise DataError(f"{train_csv}: no rows of digit(s) {missing}; every class 0-9 is needed")
    rng = np.random.default_rng(params.seed)
    held_needed = params.dev_size + (0 if test_csv is not None else params.test_size)
    if held_needed >= len(labels):
        what = ("prepare.dev_size" if test_csv is not None
                else "prepare.dev_size + prepare.test_size")
        raise ParamsError(f"{what} = {held_needed} must be smaller than the {len(labels)} rows "
                          f"of {train_csv}")
    if test_csv is not None:
        test_pixels, test_labels = read_mnist_csv(test_csv)
    else:
        keep, test_idx = stratified_split(labels, params.test_size, rng)
        test_pixels, test_labels = pixels[test_idx], labels[test_idx]
        pixels, labels = pixels[keep], labels[keep]
    train_idx, dev_idx = stratified_split(labels, params.dev_size, rng)

    norm = Normalization()
    if params.normalize == "standardize":
        scaled = norm.apply(pixels[train_idx])
        std = float(scaled.std(dtype=np.float64))
        if std == 0:
            raise DataError(f"{train_csv}: every pixel of the training rows has the same value, "
                            "so prepare.normalize = standardize would divide by a zero std; "
                            "use scale")
        norm = Normalization(mean=float(scaled.mean(dtype=np.float64)), std=std)
    return {
        "train": Split(norm.apply(pixels[train_idx]), labels[train_idx], norm),
        "dev": Split(norm.apply(pixels[dev_idx]), labels[dev_idx], norm),
        "test": Split(norm.apply(test_pixels), test_labels, norm),
    }
