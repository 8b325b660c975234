"""Whole-pipeline figures: each stage's wall time and peak memory in a full `dvc repro` on a
fresh clone, the total, and a no-op `dvc repro`.

    .venv/bin/python benchmarks/pipeline.py [--noop-repeats 5]

Clones the committed HEAD into a temporary directory (its DVC cache starts empty, so every
stage runs, the download included) and runs the stages with this environment's Python through
a wrapper that records each stage process's wall time and peak resident memory (of the stage's
own process: the download stage's `pip download` child is not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Runs as the stages' interpreter: times the real Python and reads its peak RSS via wait4.
WRAPPER = """#!{python}
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen([{python!r}, *sys.argv[1:]])
_, status, usage = os.wait4(proc.pid, 0)
with open({log!r}, "a") as log:
    log.write(json.dumps({{"script": sys.argv[1], "seconds": time.perf_counter() - start,
                          "peak_mb": usage.ru_maxrss / 1024}}) + "\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def dvc(cwd: Path, env: dict, *args: str) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--noop-repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clone, log = Path(tmp) / "clone", Path(tmp) / "stages.jsonl"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        wrapper = Path(tmp) / "python"
        wrapper.write_text(WRAPPER.format(python=sys.executable, log=str(log)))
        wrapper.chmod(0o755)
        env = {**os.environ, "MNIST_MLP_PYTHON": str(wrapper)}
        env.pop("VIRTUAL_ENV", None)
        # --force: on the BLAS kernel of the committed run the model comes out bit-identical,
        # so a plain repro would find evaluate's git-tracked outputs current and skip it.
        total = dvc(clone, env, "repro", "--force")
        ran = [json.loads(line)["script"] for line in log.read_text().splitlines()]
        assert len(ran) == 6, f"expected six stage runs, logged {ran}"
        print("| stage | wall s | peak MB |\n|---|---|---|")
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            print(f"| {Path(rec['script']).stem} | {rec['seconds']:.1f} | {rec['peak_mb']:.0f} |")
        print(f"| **full `dvc repro --force`** (fresh clone, empty cache) | {total:.1f} | |")
        noop = [dvc(clone, env, "repro") for _ in range(args.noop_repeats)]
        print(f"| no-op `dvc repro` (median of {len(noop)}) | {statistics.median(noop):.2f} | |")


if __name__ == "__main__":
    main()
