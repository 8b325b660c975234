"""The README's main command on a fresh clone, on the real default data (full MNIST), and the
trained model used as a user would.

Takes a few minutes (the download and 25-90 s of training, plus a new virtualenv when the
tests do not run in one the Makefile built). It clones the committed HEAD, so local uncommitted
changes are not part of it. Skip it with -m "not slow".
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import REPO

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("make") is None or shutil.which("git") is None,
                                 reason="needs make and git")]


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    clone = tmp_path_factory.mktemp("fresh") / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    (clone / "reports/eval/metrics.json").unlink()  # the committed copy must not stand in
    shared = share_the_test_environment(clone)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MNIST_MLP_PYTHON")}
    with this_workers_share_of_the_cpus():
        result = subprocess.run(["make", "repro"], cwd=clone, env=env, capture_output=True,
                                text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert not shared or "pip install" not in result.stdout, "installed into the shared env"
    return clone, result.stdout


def share_the_test_environment(clone: Path) -> bool:
    """Give the clone the environment these tests run in, if the Makefile built it.

    `make test` has just run the same set-up recipe as `make repro` (in CI on a clean
    checkout), so building it again here only repeated it: this file took 199 s alone with its
    own environment and 120 s with this one, the suite 6.4 and 5.9 min (2026-12-01).

    The clone's pyproject.toml and package locks are dated before the environment's stamp, as
    in a checkout whose set-up is done, so make does not install the clone into the shared
    environment. Elsewhere (a hand-made environment) the clone builds its own."""
    shared = Path(sys.prefix)
    venv, stamp_path = makefile_variables("VENV", "STAMP")
    stamp = shared / Path(stamp_path).relative_to(venv)
    if sys.prefix == sys.base_prefix or not stamp.exists():
        return False
    (clone / ".venv").symlink_to(shared, target_is_directory=True)
    before = stamp.stat().st_mtime - 1
    for recipe_input in [clone / "pyproject.toml", *clone.glob("constraints-py*.txt")]:
        os.utime(recipe_input, (before, before))
    return True


@contextlib.contextmanager
def this_workers_share_of_the_cpus():
    """This thread, and so the processes it starts, on its pytest-xdist worker's share of the
    CPUs until the block ends (nothing changes where the suite runs in one process or there is
    no CPU affinity). Set here rather than in a ``preexec_fn``, which Python documents as unsafe
    in a process with threads (an xdist worker here runs three).

    Under `make test` the other worker keeps a core busy. The training's two BLAS threads then
    wait for each other, spinning, whenever one is without a core: with a one-core busy loop
    beside it, a default epoch took 4.5-5.3 s on two threads against 2.3-2.6 s on one (2-CPU
    EPYC, 2026-12-07), and this file's set-up 148-173 s in the suite against 80 s alone; on
    one CPU, 97-101 s in the suite. On its share of the CPUs, `threads: auto` picks the count
    that fits, as under any CPU affinity (a cpuset, `taskset`); the trained model then differs
    from the committed one in the last bits, as any other thread count's does."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2 or not hasattr(os, "sched_setaffinity"):
        yield
        return
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, cpus[-max(1, len(cpus) // workers):])
    try:
        yield
    finally:
        os.sched_setaffinity(0, cpus)


def makefile_variables(*names: str) -> list[str]:
    """Values as the Makefile sets them, so paths such as its set-up stamp live in one place."""
    echo = " ".join(f"$({name})" for name in names)
    done = subprocess.run(["make", "-s", "--no-print-directory", "--eval",
                           f"print-variables: ; @echo {echo}", "print-variables"],
                          cwd=REPO, capture_output=True, text=True, check=True)
    values = done.stdout.split()
    assert len(values) == len(names), done.stdout
    return values


def test_readme_main_command_reaches_98_percent(clone):
    path, stdout = clone
    for stage in ("download", "prepare", "onehot", "train", "evaluate", "plot"):
        assert f"Running stage '{stage}'" in stdout
    metrics = json.loads((path / "reports/eval/metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.98, metrics["test"]


def test_setup_compiles_the_environment_to_bytecode(clone):
    # The Makefile installs with --no-compile and compiles afterwards on every core. Without
    # bytecode, and with PYTHONDONTWRITEBYTECODE set, every process recompiles what it imports
    # (DVC, NumPy, pandas, matplotlib and numba: 7.7-8.1 s against 1.8-2.3 s). These readers
    # and writers of PDF, SAS and MATLAB files are imported by neither the pipeline, predict,
    # DVC nor pytest (the environment may be the one running these tests), so only the set-up
    # can have compiled them.
    path, _ = clone
    site = next((path / ".venv/lib").glob("python3*/site-packages"))
    for module in ("matplotlib/backends/backend_pdf", "pandas/io/sas/sas7bdat",
                   "scipy/io/matlab/_mio5"):
        source = site / f"{module}.py"
        assert source.exists(), source
        assert list(source.parent.glob(f"__pycache__/{source.stem}.*.pyc")), module


def predict(path, files):
    # The clone's package, also when its environment is the shared one (installed from REPO).
    env = {**os.environ, "PYTHONPATH": str(path / "src")}
    result = subprocess.run([str(path / ".venv/bin/python"), "-m", "mnist_mlp", "predict",
                             *map(str, files), "--json"], cwd=path, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [p["digit"] for p in json.loads(result.stdout)]


def test_predict_rendered_test_digits(clone, tmp_path):
    path, _ = clone
    with np.load(path / "data/prepared/test.npz", allow_pickle=False) as npz:
        x, y = npz["x"][:60], npz["y"][:60]
    files = []
    for i, image in enumerate(x):
        pixels = (image.reshape(28, 28) * 255).astype(np.uint8)
        if i % 2:  # half of them black on white, as a scan or a drawing app would give
            pixels = 255 - pixels
        img = Image.fromarray(pixels).resize((112, 112), Image.Resampling.BILINEAR)
        files.append(tmp_path / f"digit{i}.png")
        img.save(files[-1])
    predicted = predict(path, files)
    assert np.mean(np.array(predicted) == y) >= 0.9


def test_predict_digits_drawn_with_pillow(clone, tmp_path):
    path, _ = clone
    shapes = {
        0: lambda d: d.ellipse([30, 15, 90, 125], outline=0, width=12),
        1: lambda d: d.line([(64, 15), (58, 125)], fill=0, width=12),
        7: lambda d: (d.line([(25, 20), (95, 20)], fill=0, width=12),
                      d.line([(95, 20), (45, 125)], fill=0, width=12)),
    }
    files = []
    for digit, draw in shapes.items():
        img = Image.new("L", (120, 140), 255)
        draw(ImageDraw.Draw(img))
        files.append(tmp_path / f"drawn{digit}.png")
        img.save(files[-1])
    assert predict(path, files) == list(shapes)
