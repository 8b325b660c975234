"""Every bad input a user can give a stage: one line on stderr, exit 1, no output written,
earlier outputs untouched. Stages run in-process through their real entry points (argument
parsing and error handling included) on a copy of a finished tiny pipeline."""

from __future__ import annotations

import argparse
import hashlib
import json
import runpy
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from mnist_mlp.cli import DEBUG_ENV, debug_requested, run, stage_parser
from mnist_mlp.errors import UserError
from mnist_mlp.training import usable_cpus

from conftest import (MNIST_HEADER, REPO, STAGES, csv_lines, edit_cell, set_params,
                      synthetic_digits)


def snapshot(d: Path, outputs: list[str]) -> dict[str, str | None]:
    state = {}
    for out in outputs:
        path = d / out
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            state[str(f.relative_to(d))] = (hashlib.sha256(f.read_bytes()).hexdigest()
                                            if f.exists() else None)
    return state


def invoke(stage: str, d: Path, capsys, monkeypatch, extra: list[str] = ()) -> tuple[int, str]:
    monkeypatch.chdir(d)
    monkeypatch.setattr(sys, "argv", [f"stages/{stage}.py", *STAGES[stage][0], *extra])
    monkeypatch.delenv("MNIST_MLP_DEBUG", raising=False)
    capsys.readouterr()
    code = 0
    try:
        runpy.run_path(str(REPO / "stages" / f"{stage}.py"), run_name="__main__")
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


# --- how each case breaks the finished pipeline --------------------------------------------

def rows(n=20):
    return csv_lines(n, seed=3)


def raw_csv(text_or_bytes):
    def apply(d):
        path = d / "data/raw/train.csv"
        if isinstance(text_or_bytes, bytes):
            path.write_bytes(text_or_bytes)
        elif text_or_bytes is None:
            path.unlink()
        else:
            path.write_text(text_or_bytes)
    return apply


def lines(ls):
    return "\n".join(ls) + "\n"


def no_sevens():
    pixels, labels = synthetic_digits(200, seed=4)
    keep = labels != 7
    return lines([MNIST_HEADER] + [",".join(map(str, [l, *p]))
                                   for l, p in zip(labels[keep], pixels[keep])])


def params(section, **values):
    def apply(d):
        set_params(d, **{section: values})
    return apply


def model_file(mutate):
    def apply(d):
        path = d / "m/model.npz"
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        result = mutate(arrays, path)
        if result is not None:
            with open(path, "wb") as f:
                np.savez(f, **result)
    return apply


def truncate(arrays, path):
    path.write_bytes(path.read_bytes()[:1500])


def not_npz(arrays, path):
    path.write_text("weights,0.1,0.2\n")


def object_array(arrays, path):
    arrays["0.W"] = np.array([{"payload": "x"}], dtype=object)
    return arrays


def bad_chain(arrays, path):
    arrays["2.W"] = np.zeros((7, 10), np.float32)
    return arrays


def old_format(arrays, path):
    meta = json.loads(str(arrays["meta"]))
    meta["format_version"] = 0
    arrays["meta"] = np.array(json.dumps(meta))
    return arrays


def missing_model(arrays, path):
    path.unlink()


def split_normalization(entry: str):
    def apply(d):
        path = d / "p/train.npz"
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        arrays["normalization"] = np.array(entry)
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    return apply


def both(*breakages):
    def apply(d):
        for breakage in breakages:
            breakage(d)
    return apply


def constant_pixels():
    pixels, labels = synthetic_digits(200, seed=4)
    return lines([MNIST_HEADER] + [",".join(map(str, [l, *[9] * 784])) for l in labels])


CASES = [
    # CSV (prepare stage)
    ("csv missing file", "prepare", raw_csv(None), "train.csv: file not found"),
    ("csv empty file", "prepare", raw_csv(""), "empty file"),
    ("csv header only", "prepare", raw_csv(MNIST_HEADER + "\n"), "no data rows"),
    ("csv 783 pixel columns", "prepare",
     raw_csv(lines([",".join(l.split(",")[:-1]) for l in rows()])), "784 columns, expected 785"),
    ("csv 786 columns", "prepare",
     raw_csv(lines([l + ",0" for l in rows()])), "786 columns, expected 785"),
    ("csv non-numeric cell", "prepare", raw_csv(lines(edit_cell(rows(), 4, 50, "x7"))),
     "line 4, column '2x22': not a number (value 'x7')"),
    ("csv empty cell", "prepare", raw_csv(lines(edit_cell(rows(), 3, 1, ""))),
     "line 3, column '1x1': empty cell"),
    ("csv float pixel", "prepare", raw_csv(lines(edit_cell(rows(), 2, 9, "0.5"))),
     "line 2, column '1x9': not an integer (value 0.5)"),
    ("csv pixel -1", "prepare", raw_csv(lines(edit_cell(rows(), 5, 2, "-1"))),
     "pixel -1 outside 0-255"),
    ("csv pixel 256", "prepare", raw_csv(lines(edit_cell(rows(), 5, 2, "256"))),
     "line 5, column '1x2': pixel 256 outside 0-255"),
    ("csv label 10", "prepare", raw_csv(lines(edit_cell(rows(), 6, 0, "10"))),
     "line 6, column 'label': label 10 outside 0-9"),
    ("csv label -1", "prepare", raw_csv(lines(edit_cell(rows(), 6, 0, "-1"))),
     "label -1 outside 0-9"),
    ("csv truncated last line", "prepare",
     raw_csv("\n".join(rows()[:-1] + [rows()[-1][:300]])), "(a truncated line?)"),
    ("csv duplicated header", "prepare", raw_csv(lines(rows()[:1] + rows())),
     "line 2, column 'label': not a number (value 'label')"),
    ("csv binary file", "prepare", raw_csv(bytes(range(256)) * 40), "binary data"),
    ("csv class missing", "prepare", raw_csv(no_sevens()), "no rows of digit(s) [7]"),
    ("csv latin-1 text", "prepare", raw_csv("label,\xe9\n".encode("latin-1")), "not UTF-8"),
    ("csv pixel beyond int64", "prepare",
     raw_csv(lines(edit_cell(rows(), 3, 7, "99999999999999999999"))),
     "line 3, column '1x7': pixel 99999999999999999999 outside 0-255"),
    ("csv constant pixels standardized", "prepare",
     both(raw_csv(constant_pixels()), params("prepare", normalize="standardize")),
     "every pixel of the training rows has the same value"),
    # Sources (download stage)
    ("download sha256 mismatch", "download", params("download", train_sha256="a" * 64),
     "sha256 mismatch: expected aaaa"),
    ("download unreachable url", "download",
     params("download", train="file:///nonexistent/mnist.csv"), "cannot be fetched"),
    ("download unreachable host", "download",
     params("download", train="https://unreachable.invalid/mnist.csv"), "cannot be fetched"),
    ("download unsupported scheme", "download", params("download", train="ftp://x/mnist.csv"),
     "must be an http://, https:// or file:// URL"),
    # params.yaml
    ("params unknown key", "train", params("train", lerning_rate=0.1),
     "train.lerning_rate = 0.1: unknown key; allowed keys here: optimizer, lr"),
    ("params wrong type", "train", params("train", epochs="ten"),
     "train.epochs = 'ten': Input should be a valid integer"),
    ("params lr zero", "train", params("train", lr=0),
     "train.lr = 0: Input should be greater than 0"),
    ("params lr negative", "train", params("train", lr=-0.1), "train.lr = -0.1"),
    ("params batch zero", "train", params("train", batch_size=0),
     "train.batch_size = 0: must be a positive integer or 'full'"),
    ("params batch larger than split", "train", params("train", batch_size=501),
     "train.batch_size = 501 is larger than the 500 rows of the train split"),
    ("params batchnorm with a one-row batch", "train",
     both(params("model", batchnorm=True), params("train", batch_size=499)),
     "train.batch_size = 499 leaves one row of the 500 train rows in a batch of its own"),
    ("params dev_size too large", "prepare", params("prepare", dev_size=600),
     "prepare.dev_size = 600 must be smaller than the 600 rows"),
    ("params dropout without hidden layers", "train", params("model", hidden=[], dropout=0.2),
     "model.dropout = 0.2 does nothing with model.hidden = []"),
    ("params zero-width hidden", "train", params("model", hidden=[32, 0]),
     "model.hidden.1 = 0: Input should be greater than 0"),
    ("params unknown activation", "train", params("model", activation="swish"),
     "'relu', 'leaky_relu', 'sigmoid', 'tanh' or 'gelu'"),
    ("params unknown output", "train", params("model", output="hinge"),
     "'softmax_cross_entropy' or 'sigmoid_mse'"),
    ("params unknown optimizer", "train", params("train", optimizer="adagrad"),
     "'sgd', 'momentum', 'nesterov', 'rmsprop', 'adam' or 'adamw'"),
    ("params unknown schedule", "train", params("train", schedule="linear"),
     "'constant', 'step', 'exponential' or 'cosine'"),
    ("params unknown init", "train", params("model", init="lecun"), "'he', 'xavier' or 'uniform'"),
    ("params dropout 1", "train", params("model", dropout=1.0), "model.dropout = 1.0"),
    ("params dropout negative", "train", params("model", dropout=-0.5), "model.dropout = -0.5"),
    ("params unknown section", "evaluate", params("evalute", batch_size=1),
     "evalute = {'batch_size': 1}: unknown key"),
    ("params negative seed", "train", params("train", seed=-1),
     "train.seed = -1: Input should be greater than or equal to 0"),
    ("params warmup as long as the run", "train", params("train", epochs=3, warmup_epochs=3),
     "train.warmup_epochs = 3 is not below train.epochs = 3"),
    ("params more threads than cpus", "train", params("train", threads=usable_cpus() + 1),
     f"train.threads = {usable_cpus() + 1} is more than the {usable_cpus()} CPU"),
    ("params network too large for memory", "train", params("model", hidden=[10**12]),
     "not enough memory: Unable to allocate"),
    # Model files (evaluate stage)
    ("model missing", "evaluate", model_file(missing_model), "model.npz: file not found"),
    ("model truncated", "evaluate", model_file(truncate), "not a readable .npz file"),
    ("model not npz", "evaluate", model_file(not_npz), "not an .npz file"),
    ("model pickle payload", "evaluate", model_file(object_array), "pickle payload); refused"),
    ("model shapes do not chain", "evaluate", model_file(bad_chain),
     "'2.W' has shape (7, 10)"),
    ("model format version", "evaluate", model_file(old_format),
     "model format version 0 is not supported"),
    # Prepared splits (train stage)
    ("split normalization std 0", "train", split_normalization('{"mean": 0.1, "std": 0}'),
     "p/train.npz: unreadable 'normalization' entry (std must be positive, got 0.0)"),
    # Training
    ("training divergence", "train", params("train", lr=1e6, optimizer="sgd"),
     "training diverged at epoch 1"),
]


@pytest.mark.parametrize("name, stage, breakage, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(finished, tmp_path, capsys, monkeypatch, name, stage,
                                     breakage, expected):
    d = tmp_path / "w"
    shutil.copytree(finished, d)
    breakage(d)
    before = snapshot(d, STAGES[stage][1])
    code, err = invoke(stage, d, capsys, monkeypatch)
    assert code == 1, err
    assert err.startswith("error: ") and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err, err
    assert snapshot(d, STAGES[stage][1]) == before, "an output was written or removed"
    assert not [p for p in d.rglob("*.tmp")], "a temporary file was left behind"


def test_debug_flag_shows_the_traceback(finished, tmp_path, capsys, monkeypatch):
    d = tmp_path / "w"
    shutil.copytree(finished, d)
    params("train", lr=0)(d)
    from mnist_mlp.errors import ParamsError
    with pytest.raises(ParamsError):
        invoke("train", d, capsys, monkeypatch, extra=["--debug"])


def raising(exc):
    def main(args):
        raise exc
    return main


@pytest.mark.parametrize("exc, code, line", [
    (UserError("bad value"), 1, "error: bad value"),
    (MemoryError("Unable to allocate 37.3 GiB"), 1,
     "error: not enough memory: Unable to allocate 37.3 GiB"),
    (MemoryError(), 1, "error: not enough memory: an allocation failed"),
    (KeyboardInterrupt(), 130,
     "interrupted: stage.py stopped before finishing; no partial output was written")],
    ids=["user error", "memory", "memory without a message", "ctrl-c"])
@pytest.mark.parametrize("debug_env", [None, "", "0"])
def test_run_turns_user_errors_memory_and_ctrl_c_into_one_line(exc, code, line, debug_env,
                                                               capsys, monkeypatch):
    if debug_env is None:
        monkeypatch.delenv(DEBUG_ENV, raising=False)
    else:
        monkeypatch.setenv(DEBUG_ENV, debug_env)
    parser = stage_parser("a stage")
    parser.prog = "stage.py"
    with pytest.raises(SystemExit) as exited:
        run(raising(exc), parser, [])
    assert exited.value.code == code
    assert capsys.readouterr().err == line + "\n"


@pytest.mark.parametrize("argv, debug_env", [(["--debug"], None), ([], "1"), ([], "yes")])
def test_run_in_debug_raises_the_error_itself(argv, debug_env, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    if debug_env is not None:
        monkeypatch.setenv(DEBUG_ENV, debug_env)
    for exc in (UserError("bad value"), MemoryError(), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            run(raising(exc), stage_parser("a stage"), argv)


def test_run_parses_the_arguments_it_is_given(monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    seen = []
    run(seen.append, stage_parser("a stage"), ["--params", "other.yaml"])
    assert seen[0].params == "other.yaml" and not seen[0].debug
    assert not debug_requested(argparse.Namespace())  # a parser without --debug


def test_case_count_in_readme_matches():
    readme = (REPO / "README.md").read_text()
    assert f"{len(CASES)} bad-input cases" in readme.replace("\n", " ")
