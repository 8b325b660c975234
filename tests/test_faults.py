"""Faults: kill -9, Ctrl-C, a full disk, and what the code must never do."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import stat
import subprocess
import sys
import time

import pytest

from conftest import REPO, STAGES, run_pipeline, run_stage, set_params, sh


def slow_training(d, epochs=5000):
    set_params(d, train={"epochs": epochs})


def start_stage(name, d, **kwargs):
    return subprocess.Popen([sys.executable, str(REPO / "stages" / f"{name}.py"),
                             *STAGES[name][0]], cwd=d, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for_training(proc):
    """Return once the stage prints its first epoch's line: it is then in the epoch loop."""
    first = proc.stdout.readline()
    assert first.startswith("epoch 1/"), first + proc.stderr.read()
    assert proc.poll() is None, "the train stage ended before it could be interrupted"


def test_ctrl_c_during_training_exits_cleanly_without_a_model(workdir):
    run_pipeline(workdir, through="onehot")
    slow_training(workdir)
    # A shell without job control starts background jobs with SIGINT ignored, and the child
    # would inherit that; a terminal's Ctrl-C reaches a process whose SIGINT is the default.
    proc = start_stage("train", workdir,
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for_training(proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.strip().splitlines() == [
        "interrupted: train.py stopped before finishing; no partial output was written"]
    assert not (workdir / "m/model.npz").exists()
    assert not list(workdir.rglob("*.tmp"))


def test_full_disk_gives_a_clear_error_and_no_partial_file(workdir):
    run_pipeline(workdir, through="train")
    model = workdir / "m/model.npz"
    before = model.read_bytes()

    def small_files():
        # Writes past 20 kB fail with EFBIG, as on a full disk, instead of killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    proc = start_stage("train", workdir, preexec_fn=small_files)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert err.startswith("error: cannot write m/model.npz: File too large"), err
    assert len(err.strip().splitlines()) == 1
    assert model.read_bytes() == before, "the earlier model must survive intact"
    assert not list(workdir.rglob("*.tmp")) and not list(workdir.rglob(".model.npz.*"))


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o007, 0o660)])
def test_outputs_get_the_mode_the_users_umask_gives(workdir, umask, mode):
    """Outputs are written to a private temporary file (mkstemp's 0600) and renamed into
    place; they must end with the mode a plain open() would give, or a teammate's checkout or
    a shared DVC cache could not read them."""
    run_pipeline(workdir, through="prepare")
    proc = start_stage("onehot", workdir, preexec_fn=lambda: os.umask(umask))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert [stat.S_IMODE((workdir / out).stat().st_mode)
            for out in STAGES["onehot"][1]] == [mode, mode]


def test_kill_9_mid_training_then_repro_equals_an_uninterrupted_run(repo):
    d, env, dvc = repo
    epochs = 300
    slow_training(d, epochs=epochs)
    proc = subprocess.Popen([*dvc, "repro"], cwd=d, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = ""
    deadline = time.time() + 120
    # The first epoch's line: the kill lands in the epoch loop, not in the stage's imports.
    while f"epoch 1/{epochs}" not in seen and proc.poll() is None and time.time() < deadline:
        seen += proc.stdout.readline()
    assert proc.poll() is None, "training finished before the kill:\n" + seen
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert f"epoch 1/{epochs}" in seen and f"epoch {epochs}/{epochs}" not in seen, seen
    assert not (d / "data/model/model.npz").exists()

    sh(d, *dvc, "repro", env=env)
    recovered = {p: (d / p).read_bytes() for p in ("reports/train/metrics.json",
                                                  "reports/eval/metrics.json",
                                                  "reports/eval/predictions.csv")}
    sh(d, *dvc, "repro", "--force", "--single-item", "train", env=env)
    sh(d, *dvc, "repro", env=env)
    for path, content in recovered.items():
        assert (d / path).read_bytes() == content, path
    assert not list(d.rglob("*.tmp"))


def test_changing_only_the_seed_changes_results(workdir):
    run_pipeline(workdir, through="train")
    first = (workdir / "r/train.json").read_text()
    set_params(workdir, train={"seed": 1})
    run_stage("train", *STAGES["train"][0], cwd=workdir)
    assert (workdir / "r/train.json").read_text() != first
    assert json.loads(first)["epochs"] == json.loads((workdir / "r/train.json").read_text())[
        "epochs"]


SOURCES = sorted((REPO / "src").rglob("*.py")) + sorted((REPO / "stages").glob("*.py"))


@pytest.mark.parametrize("pattern, why", [
    (r"\bimport pickle\b|\bpickle\.", "no pickle anywhere"),
    (r"\beval\(|\bexec\(", "no eval/exec"),
    (r"shell\s*=\s*True", "no shell=True"),
    (r"allow_pickle\s*=\s*True", "never allow_pickle=True"),
    (r"\.extractall\(|\.extract\(", "zip members only by exact name"),
])
def test_source_never(pattern, why):
    offenders = [f"{p.relative_to(REPO)}:{i}" for p in SOURCES
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if re.search(pattern, line)]
    assert offenders == [], why


def test_every_np_load_refuses_pickles():
    for path in SOURCES:
        for line in path.read_text().splitlines():
            if "np.load(" in line:
                assert "allow_pickle=False" in line, f"{path}: {line.strip()}"
