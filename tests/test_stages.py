"""Each stage script run as DVC runs it, on small CSVs the tests make."""

import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import yaml

from conftest import REPO, STAGES, run_pipeline, run_stage

def test_stages_in_sequence(workdir):
    d = workdir
    run_pipeline(d)
    assert sorted(p.name for p in (d / "data/raw").iterdir()) == ["test.csv", "train.csv"]
    with np.load(d / "p/train.npz", allow_pickle=False) as npz:
        assert npz["x"].shape == (500, 784) and npz["x"].dtype == np.float32
    with open(d / "r/history.csv") as f:
        history = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in history] == [1, 2, 3]
    assert set(history[0]) == {"epoch", "train_loss", "train_accuracy", "dev_loss",
                               "dev_accuracy", "learning_rate", "seconds"}
    metrics = json.loads((d / "r/eval.json").read_text())
    assert set(metrics) == {"test", "dev", "per_class", "confusion"}
    assert metrics["test"]["accuracy"] > 0.9  # the synthetic digits are easy
    assert set(metrics["test"]) == {"accuracy", "loss", "macro_f1"}
    with open(d / "r/predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 200 and set(rows[0]) == {"actual", "predicted", "confidence"}
    figures = sorted(p.name for p in (d / "r/figures").iterdir())
    assert figures == ["confident_mistakes.png", "confusion_matrix.png", "first_layer_weights.png",
                       "learning_curves.png", "test_predictions.png"]
    for name in figures:
        assert (d / "r/figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    leftovers = [p for p in d.rglob("*.tmp")] + [p for p in d.rglob(".raw.*")]
    assert leftovers == []


def without_seconds(history_csv: bytes) -> list[list[str]]:
    """History rows minus the wall-clock ``seconds`` column, the one non-deterministic field."""
    rows = list(csv.reader(history_csv.decode().splitlines()))
    drop = rows[0].index("seconds")
    return [row[:drop] + row[drop + 1:] for row in rows]


def test_same_params_same_results(workdir):
    run_pipeline(workdir)
    first = {n: (workdir / "r" / n).read_bytes() for n in ("train.json", "eval.json",
                                                          "predictions.csv", "history.csv")}
    model = (workdir / "m/model.npz").read_bytes()
    run_pipeline(workdir)
    for name in ("train.json", "eval.json", "predictions.csv"):
        assert (workdir / "r" / name).read_bytes() == first[name], name
    assert without_seconds((workdir / "r/history.csv").read_bytes()) == \
        without_seconds(first["history.csv"])
    assert (workdir / "m/model.npz").read_bytes() == model


def test_checksum_mismatch_leaves_no_raw_data(workdir):
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["download"]["train_sha256"] = "0" * 64
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    result = run_stage("download", "--out", "data/raw", cwd=workdir, check=False)
    assert result.returncode == 1
    assert "sha256 mismatch" in result.stderr and "Traceback" not in result.stderr
    assert not (workdir / "data/raw").exists()
    assert list((workdir / "data").iterdir()) == []


def test_unreachable_url_is_one_clear_error(workdir):
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["download"]["train"] = (workdir / "missing.csv").as_uri()
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    result = run_stage("download", "--out", "data/raw", cwd=workdir, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: file://") and "cannot be fetched" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_params_fail_before_any_work(workdir):
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["train"]["lerning_rate"] = 0.1
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    result = run_stage("download", "--out", "data/raw", cwd=workdir, check=False)
    assert result.returncode == 1
    assert "train.lerning_rate = 0.1: unknown key" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / "data").exists()


def test_divergence_writes_no_model(workdir):
    run_pipeline(workdir, through="onehot")
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["train"].update(lr=1e6, optimizer="sgd")
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    result = run_stage("train", *STAGES["train"][0], cwd=workdir, check=False)
    assert result.returncode == 1
    assert "training diverged at epoch 1" in result.stderr and "lower train.lr" in result.stderr
    assert not (workdir / "m/model.npz").exists()


def test_stage_launcher_runs_the_package_of_its_own_checkout(tmp_path):
    """A queued experiment runs in a temporary copy of the repository while DVC_ROOT names the
    main one, whose src/ the editable install points at: the stages must still import the
    copy's package, the code DVC hashed as their deps."""
    copy = tmp_path / "copy"
    shutil.copytree(REPO / "stages", copy / "stages")
    (copy / "src" / "mnist_mlp").mkdir(parents=True)
    (copy / "src" / "mnist_mlp" / "__init__.py").write_text("")
    env = {**os.environ, "DVC_ROOT": str(REPO), "MNIST_MLP_PYTHON": sys.executable}
    done = subprocess.run([str(copy / "stages" / "python"), "-c",
                           "import mnist_mlp; print(mnist_mlp.__file__)"],
                          env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(copy / "src" / "mnist_mlp" / "__init__.py")
