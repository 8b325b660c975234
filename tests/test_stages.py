"""Each stage script run as DVC runs it, on small CSVs the tests make."""

import ast
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from mnist_mlp.metrics import classification_report
from mnist_mlp.nn import load_model
from mnist_mlp.splits import load_split

from conftest import REPO, STAGES, run_pipeline, run_stage, set_params


def package_file(module: str) -> Path:
    path = REPO.joinpath("src", *module.split("."))
    return path / "__init__.py" if (path / "__init__.py").exists() else path.with_suffix(".py")


def package_imports(path: Path, module: str) -> set[str]:
    """The mnist_mlp modules (and their parent packages) that ``path`` imports anywhere in it,
    lazy imports inside functions included."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                name = ".".join(parts[:len(parts) - node.level + 1] + [node.module or ""])
            else:
                name = node.module or ""
            names = [name.rstrip(".")] + [f"{name.rstrip('.')}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "mnist_mlp" and package_file(name).exists():
                parts = name.split(".")
                found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return found


def test_each_stage_depends_on_exactly_the_modules_it_imports():
    """A module missing from a stage's deps would let an edit that changes its results go
    unnoticed by `dvc repro`; one listed but not imported reruns it for nothing."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        script = next(word for word in stage["cmd"].split()
                      if word.startswith("stages/") and word.endswith(".py"))
        modules, todo = set(), list(package_imports(REPO / script, "__main__"))
        while todo:
            module = todo.pop()
            if module not in modules:
                modules.add(module)
                todo += package_imports(package_file(module), module)
        imported = {package_file(m).relative_to(REPO) for m in modules}
        deps = [Path(d) for d in stage["deps"] if d.startswith("src/")]
        covered = lambda file, dep: file == dep or dep in file.parents  # noqa: E731
        unlisted = [str(f) for f in sorted(imported) if not any(covered(f, d) for d in deps)]
        unused = [str(d) for d in deps if not any(covered(f, d) for f in imported)]
        assert (unlisted, unused) == ([], []), name

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


def test_standardized_data_flows_through_train_and_evaluate(workdir):
    """With ``prepare.normalize: standardize``, the model file records the train split's
    statistics (``predict`` normalizes images with them), and evaluate scores each split on its
    own rows: its dev accuracy is the one training measured for the kept epoch."""
    set_params(workdir, prepare={"normalize": "standardize"})
    run_pipeline(workdir, through="evaluate")
    train_split, dev, test = (load_split(workdir / f"p/{name}.npz")
                              for name in ("train", "dev", "test"))
    assert train_split.normalization.std != 1.0
    model, info = load_model(workdir / "m/model.npz")
    assert info["normalization"] == train_split.normalization.to_dict()
    metrics = json.loads((workdir / "r/eval.json").read_text())
    for name, split in (("dev", dev), ("test", test)):
        report = classification_report(split.y, model.predict_proba(split.x))
        assert metrics[name] == {key: round(report[key], 6)
                                 for key in ("accuracy", "loss", "macro_f1")}, name
    assert metrics["dev"]["accuracy"] == json.loads(
        (workdir / "r/train.json").read_text())["dev_accuracy"]


def test_prepare_seed_and_label_smoothing_reach_their_stages(workdir):
    """``prepare.seed`` picks other dev rows; ``onehot.label_smoothing`` s gives 1 - s + s/10
    and s/10 (the tiny params leave both at their defaults, 0 and 0.1)."""
    run_pipeline(workdir, through="onehot")
    dev_images = load_split(workdir / "p/dev.npz").x
    with np.load(workdir / "o/train.npz", allow_pickle=False) as npz:
        assert set(np.unique(npz["y"])) == {np.float32(0.01), np.float32(0.91)}
    set_params(workdir, prepare={"seed": 1}, onehot={"label_smoothing": 0.2})
    run_pipeline(workdir, through="onehot")
    assert not np.array_equal(load_split(workdir / "p/dev.npz").x, dev_images)
    with np.load(workdir / "o/train.npz", allow_pickle=False) as npz:
        assert set(np.unique(npz["y"])) == {np.float32(0.02), np.float32(0.82)}


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
    set_params(workdir, download={"train_sha256": "0" * 64})
    result = run_stage("download", "--out", "data/raw", cwd=workdir, check=False)
    assert result.returncode == 1
    assert "sha256 mismatch" in result.stderr and "Traceback" not in result.stderr
    assert not (workdir / "data/raw").exists()
    assert list((workdir / "data").iterdir()) == []


def test_unreachable_url_is_one_clear_error(workdir):
    set_params(workdir, download={"train": (workdir / "missing.csv").as_uri()})
    result = run_stage("download", "--out", "data/raw", cwd=workdir, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: file://") and "cannot be fetched" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_params_fail_before_any_work(workdir):
    set_params(workdir, train={"lerning_rate": 0.1})
    result = run_stage("download", "--out", "data/raw", cwd=workdir, check=False)
    assert result.returncode == 1
    assert "train.lerning_rate = 0.1: unknown key" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / "data").exists()


def test_divergence_writes_no_model(workdir):
    run_pipeline(workdir, through="onehot")
    set_params(workdir, train={"lr": 1e6, "optimizer": "sgd"})
    result = run_stage("train", *STAGES["train"][0], cwd=workdir, check=False)
    assert result.returncode == 1
    assert "training diverged at epoch 1" in result.stderr and "lower train.lr" in result.stderr
    assert not (workdir / "m/model.npz").exists()


def test_the_prepare_stage_counts_the_rows_it_wrote(workdir):
    run_pipeline(workdir, through="download")
    set_params(workdir, prepare={"dev_size": 1})
    said = run_stage("prepare", *STAGES["prepare"][0], cwd=workdir).stdout.splitlines()
    assert said == ["wrote p/train.npz: 599 rows", "wrote p/dev.npz: 1 row",
                    "wrote p/test.npz: 200 rows"]


def test_the_train_stage_says_how_long_and_what_it_kept(workdir):
    run_pipeline(workdir, through="onehot")
    for epochs, said in ((1, "trained 1 epoch in "), (2, "trained 2 epochs in ")):
        set_params(workdir, train={"epochs": epochs})
        last_line = run_stage("train", *STAGES["train"][0], cwd=workdir).stdout.splitlines()[-1]
        assert last_line.startswith(said)
        assert re.search(rf"; epoch {epochs} kept, dev accuracy [01]\.\d{{4}}; wrote ", last_line)


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
