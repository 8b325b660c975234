"""One BLAS thread against two, per network shape and batch size: the evidence behind
``train.threads: auto`` (one thread below ``ONE_THREAD_MAX_FLOPS_PER_STEP`` of matrix-product
work per step, two above).

Each case trains this project's trainer with 1 and with 2 threads, alternating run by run;
each run is a warm-up epoch (dropped) and two timed epochs on the first 20,000 training rows.
Prints the median seconds per epoch of each, their ratio, the work per step and what ``auto``
picks.

    .venv/bin/python benchmarks/threads.py [--repeats 3]

Run it with the kernel the machine would pick by itself: see frameworks.py on OPENBLAS_CORETYPE.

Needs the prepared data: run `make repro` first.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from frameworks import (Config, architecture, blas_description, positive_int, run_numpy,
                        subsample)
from mnist_mlp.splits import load_split
from mnist_mlp.training import ONE_THREAD_MAX_FLOPS_PER_STEP

DATA = Path(__file__).resolve().parents[1] / "data" / "prepared"
SGD = {"optimizer": "sgd", "schedule": "constant", "lr": 0.1}
CASES = [
    ("784-10-10", 32, SGD), ("784-32-10", 64, SGD), ("784-64-10", 32, SGD),
    ("784-64-10", 64, SGD), ("784-64-64-10", 32, SGD), ("784-128-10", 32, SGD),
    ("784-256-10", 32, SGD), ("784-128-10", 128, SGD), ("784-128-64-10", 128, {}),
    ("784-256-10", 128, {}), ("784-512-256-10", 32, {}), ("784-512-256-10", 128, {}),
    ("784-800-10", 128, {}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="alternating runs per count")
    args = parser.parse_args()
    tr, dv, te = (load_split(DATA / f"{s}.npz") for s in ("train", "dev", "test"))
    print(f"BLAS: {blas_description()}\n")
    data = (subsample(tr, 20_000), dv, te)
    print("| net | batch | optimizer | MFLOP/step | auto picks | 1 thread s/epoch | "
          "2 threads s/epoch | 2 / 1 |\n|---|---|---|---|---|---|---|---|")
    for net, batch, train in CASES:
        hidden = [int(w) for w in net.split("-")[1:-1]]
        config = Config(net, {"model": {"hidden": hidden},
                              "train": {**train, "batch_size": batch}})
        times: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(args.repeats):
            for threads in times:
                times[threads] += run_numpy(config.params(3, threads, rows=20_000), data)[0]
        one, two = statistics.median(times[1]), statistics.median(times[2])
        params = config.params(3, "auto", rows=20_000)
        mflop = architecture(params).training_flops_per_sample() * batch / 1e6
        print(f"| {net} | {batch} | {params.train.optimizer} | {mflop:.0f} | "
              f"{params.train.threads} | {one:.3f} | {two:.3f} | {two / one:.2f} |", flush=True)
    print(f"\nauto: 1 thread below {ONE_THREAD_MAX_FLOPS_PER_STEP / 1e6:.0f} MFLOP per step")


if __name__ == "__main__":
    main()
