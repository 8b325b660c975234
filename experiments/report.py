"""Print a Markdown table of finished named experiments: accuracy, epochs, training seconds.

    .venv/bin/python experiments/report.py tut-64 tut-64-64 best ...

By default every experiment `experiments/run.sh --list` names, then any other named one that
has run; an experiment not run yet gets a row with the command that runs it, and one still
queued, running or failed says so (`dvc queue logs NAME` shows why one failed). Reads `dvc exp
show --json -A` and each experiment's committed reports/train/history.csv.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path


def experiments() -> dict[str, dict]:
    """Each named experiment's revision as `dvc exp show --json` gives it, with the ``state``
    of its run from DVC's queue: "queued", "running" and "failed" ones carry the revision they
    started from, whose results are not theirs; None for one that finished."""
    shown = json.loads(subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json",
                                       "-A"], check=True, capture_output=True, text=True).stdout)
    found = {}
    for row in shown:
        for exp in row.get("experiments") or []:
            if exp.get("name"):
                state = (exp.get("executor") or {}).get("state")
                found.setdefault(exp["name"], {**exp["revs"][0], "state": state})
    return found


def defined() -> list[str]:
    """The names ``run.sh --list`` prints, one ``name: overrides`` line each."""
    listed = subprocess.run(["bash", "experiments/run.sh", "--list"], check=True,
                            capture_output=True, text=True).stdout
    return [line.split(":", 1)[0] for line in listed.splitlines()
            if ":" in line and not line.startswith("groups")]


def history(sha: str) -> list[dict]:
    text = subprocess.run(["git", "show", f"{sha}:reports/train/history.csv"], check=True,
                          capture_output=True, text=True).stdout
    return list(csv.DictReader(io.StringIO(text)))


def main(names: list[str]) -> None:
    found, known = experiments(), defined()
    names = names or known + sorted(set(found) - set(known))
    print("| experiment | test accuracy | dev accuracy | epochs | training seconds | command |")
    print("|---|---|---|---|---|---|")
    for name in names:
        command = f"`bash experiments/run.sh {name}`" if name in known else \
            "not one of `bash experiments/run.sh --list`"
        if name not in found:
            print(f"| {name} | not run | | | | {command} |")
            continue
        rev = found[name]
        if rev["state"] in ("queued", "running", "failed"):
            print(f"| {name} | {rev['state']} | | | | {command} |")
            continue
        metrics = rev["data"]["metrics"]["reports/eval/metrics.json"]["data"]
        rows = history(rev["rev"])
        seconds = sum(float(r["seconds"]) for r in rows)
        print(f"| {name} | {metrics['test']['accuracy']:.4f} | {metrics['dev']['accuracy']:.4f} "
              f"| {len(rows)} | {seconds:.0f} | {command} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("names", nargs="*", help="experiments (default: every one, as below)")
    names = parser.parse_args().names
    os.chdir(Path(__file__).resolve().parents[1])  # DVC and run.sh work from the repository
    main(names)
