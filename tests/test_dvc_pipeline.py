"""End to end through DVC itself, in a throwaway git repository with tiny file:// data."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import REPO
from test_stages import TINY

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def sh(cwd, *cmd, env):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture
def repo(tmp_path, small_csvs):
    d = tmp_path / "repo"
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
    sh(d, *dvc, "config", "core.analytics", "false", env=env)
    sh(d, "git", "add", "-A", env=env)
    sh(d, "git", "commit", "-qm", "init", env=env)
    return d, env, dvc


def test_repro_noop_experiment_and_metrics_diff(repo):
    d, env, dvc = repo
    out = sh(d, *dvc, "repro", env=env)
    for stage in ("download", "prepare", "onehot", "train", "evaluate", "plot"):
        assert f"Running stage '{stage}'" in out
    for path in ("data/raw/train.csv", "data/prepared/test.npz", "data/onehot/train.npz",
                 "data/model/model.npz", "reports/train/history.csv", "reports/train/metrics.json",
                 "reports/eval/metrics.json", "reports/eval/predictions.csv",
                 "reports/figures/confusion_matrix.png"):
        assert (d / path).exists(), path

    again = sh(d, *dvc, "repro", env=env)
    assert "Running stage" not in again

    # Each stage depends on the modules it imports: plot code changes rerun only plot.
    figures = d / "src/mnist_mlp/figures.py"
    original = figures.read_text()
    figures.write_text(original + "\n# a comment\n")
    out = sh(d, *dvc, "repro", env=env)
    assert "Running stage 'plot'" in out
    assert "Running stage 'train'" not in out and "Running stage 'evaluate'" not in out
    figures.write_text(original)
    sh(d, *dvc, "repro", env=env)

    sh(d, "git", "add", "-A", env=env)
    sh(d, "git", "commit", "-qm", "baseline", env=env)
    before = json.loads((d / "reports/train/metrics.json").read_text())
    assert before["epochs"] == 3

    exp = sh(d, *dvc, "exp", "run", "-S", "train.epochs=1", env=env)
    assert "Running stage 'train'" in exp and "Running stage 'download'" not in exp
    after = json.loads((d / "reports/train/metrics.json").read_text())
    assert after["epochs"] == 1

    diff = json.loads(sh(d, *dvc, "metrics", "diff", "--json", env=env))
    epochs = diff["reports/train/metrics.json"]["epochs"]
    assert (epochs["old"], epochs["new"]) == (3, 1)
    assert "reports/eval/metrics.json" in diff

    shown = json.loads(sh(d, *dvc, "exp", "show", "--json", env=env))
    assert shown, "dvc exp show lists the baseline and the experiment"
