"""End to end through DVC itself, in a throwaway git repository with tiny file:// data."""

import json
import shutil

import pytest

from conftest import sh

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


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
