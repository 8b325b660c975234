"""Training epochs with NumPy's OpenBLAS jobs in numba's thread pool (``nn/blas_pool.py``, the
default) and on OpenBLAS's own threads, side by side.

For each config of frameworks.py that the pool serves (mini-batches on two BLAS threads;
``training.training_threads`` says why full-batch training keeps OpenBLAS's threads), the
library's ``train`` runs ``--epochs`` epochs each way, alternating the order pair by pair,
``--repeats`` pairs in one process (``blas_pool.ENABLED`` switches). Prints per config the
median seconds per epoch after the first (the first compiles and warms up), the median of the
pairs' ratios pool / own threads with their range, and whether each pair's weights came out
with the same bits (they must: the pool runs OpenBLAS's own job split).

    .venv/bin/python benchmarks/pool.py [--epochs 3] [--repeats 3] [--only default]

Needs the prepared data (`make repro`).
"""

from __future__ import annotations

import argparse
import statistics
from typing import Callable

import numba
from frameworks import CONFIGS
from modes import DATA, require_prepared_data

from mnist_mlp.nn import blas_pool
from mnist_mlp.splits import load_split, one_hot
from mnist_mlp.training import train


def epoch_seconds(params, data) -> tuple[float, list[bytes]]:
    """Median seconds of the epochs after the first, and the final weights' bytes."""
    tr, dv = data
    result = train(params.model, params.train, tr, one_hot(tr.y), dv, one_hot(dv.y))
    seconds = [row["seconds"] for row in result.history][1:]
    return statistics.median(seconds), [p.tobytes() for p in result.model.params()]


def alternating_pairs(params, data, switch: Callable[[bool], None], repeats: int
                      ) -> tuple[dict[bool, list[float]], int]:
    """``repeats`` pairs of runs, one with ``switch(True)`` and one with ``switch(False)``, in
    alternating order (``switch(True)`` again after each run): each way's median seconds per
    epoch, run by run, and how many pairs ended with the same weights."""
    seconds: dict[bool, list[float]] = {True: [], False: []}
    same = 0
    for repeat in range(repeats):
        weights = {}
        for on in (True, False) if repeat % 2 == 0 else (False, True):
            switch(on)
            try:
                s, weights[on] = epoch_seconds(params, data)
            finally:
                switch(True)
            seconds[on].append(s)
        same += weights[True] == weights[False]
    return seconds, same


def compare(description: str, switch: Callable[[bool], None], names: tuple[str, str]) -> None:
    """The command line of this script and of those like it: ``alternating_pairs`` for each
    config that the shared pool serves, one table row per config."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="alternating pairs of runs")
    parser.add_argument("--only", nargs="*", help="config name prefixes")
    args = parser.parse_args()
    if args.epochs < 2 or args.repeats < 1:
        parser.error(f"--epochs needs at least 2 and --repeats 1, not {args.epochs} and "
                     f"{args.repeats}")
    require_prepared_data(parser)
    data = load_split(DATA / "train.npz"), load_split(DATA / "dev.npz")
    reason = blas_pool.unavailable_reason(2)
    if reason is not None:
        parser.exit(2, f"error: the pool is not available here: {reason}\n")
    print(f"{len(data[0].x)} training rows, {args.epochs} epochs per run (the first not timed), "
          f"{args.repeats} alternating pairs per config; numba's threading layer "
          f"{numba.threading_layer()}\n")
    print(f"| config | {names[0]}: s/epoch | {names[1]}: s/epoch | {names[0]} / {names[1]} "
          "(range) | same bits |")
    print("|---|---|---|---|---|")
    for config in CONFIGS:
        if args.only and not any(config.name.startswith(p) for p in args.only):
            continue
        params = config.params(epochs=args.epochs, threads="auto", rows=len(data[0].x))
        if params.train.threads != 2 or params.train.batch_size == "full":
            continue
        seconds, same = alternating_pairs(params, data, switch, args.repeats)
        ratios = sorted(a / b for a, b in zip(seconds[True], seconds[False]))
        print(f"| {config.name} | {statistics.median(seconds[True]):.3f} | "
              f"{statistics.median(seconds[False]):.3f} | {statistics.median(ratios):.2f} "
              f"({ratios[0]:.2f}–{ratios[-1]:.2f}) | {same} of {args.repeats} |", flush=True)


def switch(on: bool) -> None:
    """The pool (True) or OpenBLAS's own threads."""
    blas_pool.ENABLED = on


if __name__ == "__main__":
    compare(__doc__.split("\n\n")[0], switch, ("pool", "own threads"))
