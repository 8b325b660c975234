"""Every experiment the repository scripts or shows (`experiments/run.sh --list`, the README's
`dvc exp run -S …` commands) sets params that DVC's reading of `-S` takes and the params
schema accepts: renaming a key or tightening a check fails here, not in a queue of experiments
an hour into a sweep. Every `bash experiments/run.sh NAME` shown names one it has."""

import re
import shlex
import shutil
import subprocess

import pytest
from dvc.utils.hydra import apply_overrides, get_hydra_sweeps

from mnist_mlp.params import load_params

from conftest import REPO


LISTED = subprocess.run(["bash", "experiments/run.sh", "--list"], cwd=REPO, check=True,
                        capture_output=True, text=True).stdout.splitlines()


def run_sh_experiments() -> dict[str, list[str]]:
    return {f"run.sh {name}": settings.split() for name, settings in
            (line.split(": ", 1) for line in LISTED if not line.startswith("groups: "))}


def readme_experiments() -> dict[str, list[str]]:
    text = (REPO / "README.md").read_text().replace("\\\n", " ")
    experiments = {}
    for number, command in enumerate(re.findall(r"dvc exp run [^`\n]*", text), start=1):
        # A shell comment starts a word; shlex's would also end `…zip#train.csv`.
        words = shlex.split(re.sub(r"(^|\s)#.*", "", command))
        settings = [value for flag, value in zip(words, words[1:]) if flag == "-S"]
        if settings and "…" not in "".join(settings):
            experiments[f"README command {number}"] = settings
    return experiments


EXPERIMENTS = {**run_sh_experiments(), **readme_experiments()}


def test_the_experiments_are_found():
    assert len([name for name in EXPERIMENTS if name.startswith("run.sh")]) >= 15
    assert len([name for name in EXPERIMENTS if name.startswith("README")]) >= 3


@pytest.mark.parametrize("settings", EXPERIMENTS.values(), ids=EXPERIMENTS.keys())
def test_a_documented_experiment_sets_params_the_schema_accepts(tmp_path, settings):
    for sweep in get_hydra_sweeps({"params.yaml": settings}):  # each run of a grid
        params = tmp_path / "params.yaml"
        shutil.copy(REPO / "params.yaml", params)
        apply_overrides(params, sweep["params.yaml"])
        load_params(params)


def test_every_run_sh_command_shown_names_its_experiments_or_groups():
    groups = next(line for line in LISTED if line.startswith("groups: ")).split()[1:]
    known = {name.removeprefix("run.sh ") for name in run_sh_experiments()} | set(groups)
    texts = [(REPO / name).read_text() for name in ("README.md", "experiments/run.sh")]
    shown = [name for text in texts
             for command in re.findall(r"bash experiments/run\.sh ([^`#\n]*)", text)
             for name in command.split() if not name.startswith("-")]
    assert len(shown) >= 8
    assert [name for name in shown if name not in known] == []


def test_a_url_with_a_hash_needs_quotes_inside_the_shells(tmp_path):
    url = "file:///data/digit-recognizer.zip#train.csv"
    with pytest.raises(Exception, match="LexerNoViableAlt|mismatched|no viable"):
        get_hydra_sweeps({"params.yaml": [f"download.train={url}"]})
    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    apply_overrides(params, ["download.source=url", "download.test=null",
                             f"download.train='{url}'"])
    assert load_params(params).download.train == url
