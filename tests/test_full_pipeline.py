"""The README's main command on a fresh clone, on the real default data (full MNIST), and the
trained model used as a user would.

Takes a few minutes (a new virtualenv, the download, 25-90 s of training). It clones the
committed HEAD, so local uncommitted changes are not part of it. Skip it with -m "not slow".
"""

import json
import os
import shutil
import subprocess

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
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MNIST_MLP_PYTHON")}
    result = subprocess.run(["make", "repro"], cwd=clone, env=env, capture_output=True,
                            text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return clone, result.stdout


def test_readme_main_command_reaches_98_percent(clone):
    path, stdout = clone
    for stage in ("download", "prepare", "onehot", "train", "evaluate", "plot"):
        assert f"Running stage '{stage}'" in stdout
    metrics = json.loads((path / "reports/eval/metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.98, metrics["test"]


def test_setup_compiles_the_environment_to_bytecode(clone):
    # The Makefile installs with --no-compile and compiles afterwards on every core. Without
    # bytecode, and with PYTHONDONTWRITEBYTECODE set, every process recompiles what it imports
    # (DVC, NumPy, pandas, matplotlib and numba: 7.7-8.1 s against 1.8-2.3 s). These modules
    # are not imported by the pipeline or predict, so only the set-up can have compiled them.
    path, _ = clone
    site = next((path / ".venv/lib").glob("python3*/site-packages"))
    for module in ("_pytest/pytester", "numpy/f2py/crackfortran", "xdist/looponfail"):
        source = site / f"{module}.py"
        assert source.exists(), source
        assert list(source.parent.glob(f"__pycache__/{source.stem}.*.pyc")), module


def predict(path, files):
    result = subprocess.run([str(path / ".venv/bin/python"), "-m", "mnist_mlp", "predict",
                             *map(str, files), "--json"], cwd=path, capture_output=True,
                            text=True)
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
