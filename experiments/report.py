"""Print a Markdown table of finished named experiments: accuracy, epochs, training seconds.

    .venv/bin/python experiments/report.py tut-64 tut-64-64 best ...   (default: all)

Reads `dvc exp show --json -A` and each experiment's committed reports/train/history.csv.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys


def experiments() -> dict[str, dict]:
    shown = json.loads(subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json",
                                       "-A"], check=True, capture_output=True, text=True).stdout)
    found = {}
    for row in shown:
        for exp in row.get("experiments") or []:
            rev = exp["revs"][0]
            if exp.get("name"):
                found.setdefault(exp["name"], rev)
    return found


def history(sha: str) -> list[dict]:
    text = subprocess.run(["git", "show", f"{sha}:reports/train/history.csv"], check=True,
                          capture_output=True, text=True).stdout
    return list(csv.DictReader(io.StringIO(text)))


def main(names: list[str]) -> None:
    found = experiments()
    names = names or sorted(found)
    print("| experiment | test accuracy | dev accuracy | epochs | training seconds | command |")
    print("|---|---|---|---|---|---|")
    for name in names:
        if name not in found:
            print(f"| {name} | not run | | | | `bash experiments/run.sh {name}` |")
            continue
        rev = found[name]
        metrics = rev["data"]["metrics"]["reports/eval/metrics.json"]["data"]
        rows = history(rev["rev"])
        seconds = sum(float(r["seconds"]) for r in rows)
        print(f"| {name} | {metrics['test']['accuracy']:.4f} | {metrics['dev']['accuracy']:.4f} "
              f"| {len(rows)} | {seconds:.0f} | `bash experiments/run.sh {name}` |")


if __name__ == "__main__":
    main(sys.argv[1:])
