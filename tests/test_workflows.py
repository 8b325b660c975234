"""The workflows of the README, end to end on tiny data: sweep with the queue, compare offline,
share through a DVC remote and a git remote."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mnist_mlp.compare import revision_values
from mnist_mlp.errors import UserError

from conftest import REPO, RUNNING_LOCK, TINY, make_repo, sh, write_small_csvs


#: A page's reference to something on the network: a script, image or style it would load.
NETWORK_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']?https?://""")


@pytest.fixture(scope="module")
def committed_baseline(tmp_path_factory):
    """The `repo` fixture's repository after one `dvc repro`, committed."""
    root = tmp_path_factory.mktemp("baseline")
    d, env, dvc = make_repo(root / "repo", write_small_csvs(root))
    # DVC's queue workers start `dvc` by name: the environment's bin must be on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    sh(d, *dvc, "repro", env=env)
    sh(d, "git", "add", "-A", env=env)
    sh(d, "git", "commit", "-qm", "baseline", env=env)
    return d, env, dvc


@pytest.fixture
def baseline(committed_baseline, tmp_path):
    """A copy of the committed baseline (git history, DVC cache and all) for one test: copying
    took a fraction of a second, the repro 15-23 s of each test in the loaded suite."""
    d, env, dvc = committed_baseline
    copy = tmp_path / "repo"
    shutil.copytree(d, copy, symlinks=True)
    return copy, dict(env), dvc


def test_sweep_queue_show_apply_branch(baseline):
    d, env, dvc = baseline
    sh(d, *dvc, "exp", "run", "--queue", "-S", "train.lr=0.0003,0.03", env=env)
    sh(d, *dvc, "exp", "run", "--run-all", "-j", "1", env=env)
    shown = json.loads(sh(d, *dvc, "exp", "show", "--json", env=env))
    exps = {e["name"]: e for row in shown for e in row.get("experiments") or []}
    assert len(exps) == 2, json.dumps(shown)[:3000]
    assert len(exps) == 2
    lr = {name: next(iter(e["revs"][0]["data"]["params"].values()))["data"]["train"]["lr"]
          for name, e in exps.items()}
    acc = {name: e["revs"][0]["data"]["metrics"]["reports/eval/metrics.json"]["data"]["dev"][
        "accuracy"] for name, e in exps.items()}
    assert sorted(lr.values()) == [0.0003, 0.03]
    best = max(acc, key=acc.get)
    table = sh(d, *dvc, "exp", "show", "--md", "--sort-by",
               "reports/eval/metrics.json:dev.accuracy", "--sort-order", "desc", env=env)
    assert best in table
    sh(d, *dvc, "exp", "run", "--queue", "-n", "diverged", "-S", "train.lr=1000000", "-S",
       "train.optimizer=sgd", env=env)
    run_all = subprocess.run([*dvc, "exp", "run", "--run-all", "-j", "1"], cwd=d, env=env,
                             capture_output=True, text=True)
    assert "experiment(s) 'diverged'" in run_all.stderr  # "Failed to reproduce", exit status 0
    sh(d, *dvc, "exp", "run", "--queue", "-n", "waiting", "-S", "train.epochs=2", env=env)
    shutil.copytree(REPO / "experiments", d / "experiments")
    report = sh(d, sys.executable, "experiments/report.py", *sorted(acc), "tut-64", "nosuch",
                "diverged", "waiting", env=env)
    # A failed or queued run's revision holds the baseline's results, not its own.
    assert "| diverged | failed | | | | not one of" in report
    assert "| waiting | queued | | | | not one of" in report
    epochs = TINY["train"]["epochs"]
    for name, dev_accuracy in acc.items():  # ad-hoc sweeps are not run.sh's experiments
        row = rf"^\| {name} \| [\d.]+ \| {dev_accuracy:.4f} \| {epochs} \| \d+ \| not one of"
        assert re.search(row, report, re.M), report
    assert "| tut-64 | not run | | | | `bash experiments/run.sh tut-64` |" in report
    assert "| nosuch | not run | | | | not one of" in report
    sh(d, *dvc, "exp", "apply", best, env=env)
    assert f"lr: {lr[best]}" in (d / "params.yaml").read_text()
    sh(d, *dvc, "exp", "branch", best, "promoted", env=env)
    assert "promoted" in sh(d, "git", "branch", "--list", "promoted", env=env)


def test_run_sh_exits_1_naming_the_experiments_that_failed(baseline):
    """`dvc exp run --run-all` exits 0 when a queued run fails; run.sh does not. On the tiny
    data's 600 rows, tut-2layer-10's dev set of 1,000 fails in prepare, and linear runs."""
    d, env, dvc = baseline
    shutil.copytree(REPO / "experiments", d / "experiments")
    sh(d, "git", "add", "experiments", env=env)
    sh(d, "git", "commit", "-qm", "experiments", env=env)
    run = subprocess.run(["bash", "experiments/run.sh", "linear", "tut-2layer-10"], cwd=d,
                         env=env, capture_output=True, text=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stderr.endswith("failed: tut-2layer-10 (`dvc queue logs NAME` shows why)\n")
    assert sh(d, *dvc, "exp", "list", "--name-only", env=env).split() == ["linear"]


def test_offline_pages_of_compare_and_of_dvc_plots_diff(baseline):
    """Both draw their plots with the network cut off. DVC's own page does because .dvc/config
    names a template with Vega inline: DVC's default one loads Vega from a CDN, so offline it
    would show the figures but no plot."""
    d, env, dvc = baseline
    sh(d, *dvc, "exp", "run", "-n", "fewer-epochs", "-S", "train.epochs=1", env=env)
    out = d / "cmp.html"
    sh(d, sys.executable, "-m", "mnist_mlp", "compare", "HEAD", "fewer-epochs", "-o", str(out),
       env=env)
    page = out.read_text()
    assert not NETWORK_REFERENCE.findall(page)
    assert "<script" not in page
    assert page.count("<svg") == 4  # each plot, with all revisions in it
    for title in ("Loss", "Accuracy", "Learning rate", "Confusion"):
        assert f"<h2>{title}</h2>" in page
    assert page.count("<img") == 10  # five figures for each of the two revisions
    assert "fewer-epochs" in page and "HEAD" in page
    assert "train.epochs" in page  # the params table shows what differs
    dom = render_in_chromium(out, d)
    assert dom.count("<svg") == 4 and dom.count("<img") == 10

    sh(d, *dvc, "plots", "diff", "HEAD", "fewer-epochs", "-o", "plots", env=env)
    page = d / "plots/index.html"
    assert not NETWORK_REFERENCE.findall(page.read_text())
    dom = render_in_chromium(page, d)
    assert dom.count('class="marks"') == 4  # the four plots, drawn by Vega
    assert dom.count('<img src="static/') == 10  # five figures for each of the two revisions


def confusion_spec(out_dir):
    """The Vega-Lite spec DVC fills for the committed Confusion plot."""
    shown = subprocess.run([sys.executable, "-m", "dvc", "plots", "show", "--json", "-o",
                            str(out_dir), "Confusion"], cwd=REPO, capture_output=True,
                           text=True, check=True)
    plots = json.loads(shown.stdout)
    return plots.get("data", plots)["Confusion"][0]["content"]


def scene_nodes(node):
    """Every object in a Vega scenegraph (nested dicts and lists), depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from scene_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from scene_nodes(value)


def test_the_confusion_plot_labels_each_kind_of_test_error_with_its_count(tmp_path):
    """DVC's Confusion plot (the template .dvc/plots/confusion_errors.json) leaves the right
    answers out: its cells' labels are the committed predictions' errors, counted per actual and
    predicted digit, and no zeros."""
    import vl_convert

    scene = vl_convert.vegalite_to_scenegraph(confusion_spec(tmp_path))
    labels = [item["text"] for node in scene_nodes(scene)
              if node.get("marktype") == "text" and node.get("role") == "mark"
              for item in node["items"] if item.get("text")]
    predictions = pd.read_csv(REPO / "reports/eval/predictions.csv")
    errors = predictions[predictions.actual != predictions.predicted]
    counts = errors.groupby(["actual", "predicted"]).size()
    assert sorted(map(int, labels)) == sorted(counts.tolist())
    assert sum(map(int, labels)) == len(errors) > 0


def test_the_confusion_plot_wraps_many_revisions_into_rows_of_three(tmp_path):
    """Side by side, six revisions' matrices ran off a 1,400-pixel page (`compare` of HEAD and
    five seed runs); wrapped, five revisions take two rows: three panels, then two."""
    import vl_convert

    spec = confusion_spec(tmp_path)
    rows = spec["data"]["values"][:500]
    spec["data"]["values"] = [dict(row, rev=f"rev{i}") for i in range(5) for row in rows]
    panels = [(item["x"], item["y"])
              for node in scene_nodes(vl_convert.vegalite_to_scenegraph(spec))
              if node.get("marktype") == "group" and node.get("name") == "cell"
              for item in node["items"]]
    assert len(panels) == 5
    assert len({x for x, _ in panels}) == 3 and len({y for _, y in panels}) == 2


@pytest.mark.skipif(not RUNNING_LOCK.exists(),
                    reason="no lock for this Python, whose vl-convert may differ")
def test_the_committed_dvc_plots_template_is_the_one_vl_convert_bundles(monkeypatch):
    from mnist_mlp.compare import dvc_plots_template, dvc_plots_template_path

    monkeypatch.chdir(REPO)
    path = dvc_plots_template_path()
    assert path == REPO / ".dvc/plots/offline.html"
    assert path.read_text() == dvc_plots_template(), "run `make plots-template` and commit it"


def workspace_files(d: Path) -> dict[str, bytes]:
    paths = [d / "params.yaml", d / "data/model/model.npz", *sorted((d / "reports").rglob("*"))]
    return {str(p.relative_to(d)): p.read_bytes() for p in paths if p.is_file()}


def test_a_failed_experiment_in_the_workspace_and_in_a_temporary_copy(baseline):
    """As the README says: a failing `dvc exp run` removes the failed stage's outputs and leaves
    params.yaml changed, which git checkout and dvc checkout undo; with --temp it runs in a copy
    and the workspace stays as it was."""
    d, env, dvc = baseline
    committed = workspace_files(d)
    for temp in (["--temp"], []):
        failed = subprocess.run([*dvc, "exp", "run", *temp, "-S", "train.lr=-1"], cwd=d,
                                env=env, capture_output=True, text=True)
        assert failed.returncode != 0
        output = failed.stdout + failed.stderr
        assert "invalid params: train.lr = -1" in output, output[-2000:]
        if temp:
            assert workspace_files(d) == committed
    assert not (d / "data/model/model.npz").exists()
    assert "lr: -1" in (d / "params.yaml").read_text()
    sh(d, "git", "checkout", "params.yaml", "reports", env=env)
    sh(d, *dvc, "checkout", env=env)
    assert workspace_files(d) == committed


def test_comparing_revisions_reads_them_whatever_state_the_workspace_is_in(baseline,
                                                                           monkeypatch):
    """A failed `dvc exp run` removes the failed stage's metrics from the workspace, and a
    params.yaml may be mid-edit: dvc.api's metrics_show(rev=...) read the workspace as well
    and raised its error for every revision ("cannot read revision 'HEAD': it has no
    reports/train/metrics.json"). Only the workspace's own comparison fails now."""
    d, _, _ = baseline
    monkeypatch.chdir(d)
    committed = revision_values(["HEAD"])
    params_text = (d / "params.yaml").read_text()
    (d / "reports/train/metrics.json").unlink()
    (d / "params.yaml").write_text("train: [unclosed\n")
    assert revision_values(["HEAD"]) == committed
    assert committed[0]["HEAD"]["epochs"] == TINY["train"]["epochs"]
    assert committed[1]["HEAD"]["train.epochs"] == TINY["train"]["epochs"]
    with pytest.raises(UserError, match="^cannot read revision 'workspace': unable to read: "
                                        "'params.yaml'"):
        revision_values(["HEAD", "workspace"])
    (d / "params.yaml").write_text(params_text)
    with pytest.raises(UserError, match="^cannot read revision 'workspace': it has no "
                                        "reports/train/metrics.json$"):
        revision_values(["HEAD", "workspace"])


def test_comparison_outside_a_repository_is_one_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mnist_mlp", "compare", "HEAD", "-o",
                             str(tmp_path / "cmp.html")], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode == 1
    assert result.stderr == (f"error: {tmp_path} is not inside a DVC repository: run compare "
                             "from the project's directory\n")
    assert not (tmp_path / "cmp.html").exists()


def test_comparing_a_commit_from_before_the_first_run_names_the_missing_file(repo):
    d, env, _ = repo  # committed, never reproduced: no reports yet
    result = subprocess.run([sys.executable, "-m", "mnist_mlp", "compare", "HEAD", "-o",
                             str(d / "cmp.html")], cwd=d, env=env, capture_output=True,
                            text=True)
    assert result.returncode == 1
    assert result.stderr == ("error: cannot read revision 'HEAD': it has no "
                             "reports/train/metrics.json\n")
    assert not (d / "cmp.html").exists()


def render_in_chromium(page, workdir) -> str:
    """Open the page in headless Chromium with the network cut off; return the DOM it built
    (with what its scripts drew) after checking the screenshot is not blank."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("headless Chromium not installed (.ci/run installs it)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={workdir / 'chromium-profile'}",
             # Any request for a host fails: a page that needs the network shows the gap.
             "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9"]
    dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot = workdir / "shot.png"
    subprocess.run([browser, *flags, "--window-size=1200,2000", f"--screenshot={shot}",
                    page.as_uri()], capture_output=True, timeout=120, check=True)
    from PIL import Image
    import numpy as np
    pixels = np.asarray(Image.open(shot).convert("L"))
    # Not white: the plots are drawn in light colours (the comparison page: 3% of its pixels).
    assert (pixels < 240).mean() > 0.01, "the rendered page is (nearly) blank"
    return dom.stdout


def test_dvc_and_git_remotes_share_data_and_experiments(baseline, tmp_path):
    d, env, dvc = baseline
    storage, origin, other = tmp_path / "storage", tmp_path / "origin.git", tmp_path / "other"
    sh(d, *dvc, "remote", "add", "-d", "storage", str(storage), env=env)
    sh(d, "git", "commit", "-qam", "remote", env=env)
    sh(d, *dvc, "push", env=env)
    sh(tmp_path, "git", "init", "-q", "--bare", str(origin), env=env)
    sh(d, "git", "remote", "add", "origin", str(origin), env=env)
    sh(d, "git", "push", "-q", "origin", "main", env=env)
    sh(d, *dvc, "exp", "run", "-n", "shared-exp", "-S", "train.epochs=2", env=env)
    sh(d, *dvc, "exp", "push", "origin", "shared-exp", env=env)

    sh(tmp_path, "git", "clone", "-q", "-b", "main", str(origin), str(other), env=env)
    sh(other, *dvc, "pull", env=env)
    assert (other / "data/model/model.npz").exists()
    status = sh(other, *dvc, "repro", env=env)
    assert "Running stage" not in status
    sh(other, *dvc, "exp", "pull", "origin", "shared-exp", env=env)
    assert "shared-exp" in sh(other, *dvc, "exp", "show", "--md", env=env)
