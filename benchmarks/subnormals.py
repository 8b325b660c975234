"""Training epochs with the optimizer's moments flushed to zero below the smallest normal float
(the default) and kept subnormal, side by side, epoch by epoch.

A moment whose gradients stop decays geometrically and passes through the subnormal floats; on
some CPUs (Intel's) each arithmetic operation on or giving such a number takes a microcode
assist (optimizers.py, ``zero_subnormals``). That shows only once training has run for a while,
not in the first epochs that frameworks.py, modes.py and slow_mode.py time. This script runs
the library's training loop (``training.train``) on the default net (784-512-256-10, ReLU,
softmax cross-entropy, he init, batch 128, plain one-hot targets, ``threads: auto``: 2 BLAS
threads, 1 where the process has one CPU) with ``--optimizer`` (Adam) at a constant 1e-3 for
``--epochs`` epochs, once with ``flush_subnormals`` on and once off, from the same weights on
the same batches (seed 0), alternating the two ``--repeats`` times. Per epoch it prints the
median over the repeats of: the epoch's seconds (without the dev evaluation, as the history has
them), its median milliseconds for the forward and backward passes and for the update, and the
share of moments that were subnormal at the epoch's end without flushing. Last, whether the two
runs' parameters have the same bits.

    .venv/bin/python benchmarks/subnormals.py [--epochs 8] [--repeats 3] [--optimizer adam]

Needs the prepared data (`make repro`).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from modes import DATA, require_prepared_data

from mnist_mlp.params import ModelParams, TrainParams
from mnist_mlp.splits import load_split, one_hot
from mnist_mlp.training import TrainObserver, train

BATCH = 128


class PhaseTimer(TrainObserver):
    """Sets ``flush_subnormals`` on the run's optimizer, times each step's forward and backward
    passes and its update, and records per epoch what ``train_epochs`` returns."""

    def __init__(self, flush: bool) -> None:
        self.flush = flush
        self.rows: list[dict] = []
        self._forward_backward: list[float] = []
        self._update: list[float] = []

    def started(self, model, optimizer) -> None:
        optimizer.flush_subnormals = self.flush
        model.loss_and_gradients = _timed(model.loss_and_gradients, self._forward_backward)
        optimizer.step = _timed(optimizer.step, self._update)

    def epoch_ended(self, row, model, optimizer) -> None:
        self.rows.append({"seconds": row["seconds"],
                          "fb_ms": statistics.median(self._forward_backward) * 1e3,
                          "update_ms": statistics.median(self._update) * 1e3,
                          "subnormal": subnormal_share(optimizer)})
        self._forward_backward.clear()
        self._update.clear()


def _timed(method, seconds: list[float]):
    def timed(*args, **kwargs):
        start = time.perf_counter()
        value = method(*args, **kwargs)
        seconds.append(time.perf_counter() - start)
        return value
    return timed


def train_epochs(train_split, dev_split, epochs: int, optimizer_name: str, flush: bool
                 ) -> tuple[list[dict], list[np.ndarray], int]:
    """The library's training loop (``training.train``) on the default net at a constant rate.
    Per epoch: seconds, median ms of forward+backward and of the update, subnormal share of the
    moments at its end; the final parameters; the BLAS threads it trained on."""
    timer = PhaseTimer(flush)
    params = TrainParams(optimizer=optimizer_name, lr=1e-3, schedule="constant", epochs=epochs,
                         batch_size=BATCH)
    result = train(ModelParams(hidden=[512, 256]), params, train_split, one_hot(train_split.y),
                   dev_split, one_hot(dev_split.y), observer=timer)
    return timer.rows, result.model.params(), result.blas_threads


def subnormal_share(optimizer) -> float:
    moments = optimizer.moments()
    tiny = np.finfo(moments[0].dtype).tiny
    count = sum(int(np.count_nonzero((m != 0) & (np.abs(m) < tiny))) for m in moments)
    return count / sum(m.size for m in moments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="alternating pairs of runs")
    parser.add_argument("--optimizer", default="adam",
                        choices=["momentum", "nesterov", "rmsprop", "adam", "adamw"])
    args = parser.parse_args()
    if args.epochs < 1 or args.repeats < 1:
        parser.error(f"--epochs and --repeats need at least 1, not {args.epochs} and "
                     f"{args.repeats}")
    require_prepared_data(parser)
    train_split, dev_split = load_split(DATA / "train.npz"), load_split(DATA / "dev.npz")
    runs: dict[bool, list[list[dict]]] = {True: [], False: []}
    same_bits = []
    threads = set()
    train_epochs(train_split, dev_split, 1, args.optimizer, True)  # compiles the loops
    for repeat in range(args.repeats):
        params = {}
        for flush in (True, False) if repeat % 2 == 0 else (False, True):
            rows, params[flush], run_threads = train_epochs(train_split, dev_split, args.epochs,
                                                            args.optimizer, flush)
            runs[flush].append(rows)
            threads.add(run_threads)
        same_bits.append(all(a.tobytes() == b.tobytes()
                             for a, b in zip(params[True], params[False])))
    print(f"784-512-256-10, {args.optimizer}, batch {BATCH}, "
          f"{' and '.join(map(str, sorted(threads)))} BLAS threads, "
          f"{len(train_split.x)} rows; "
          f"medians of {args.repeats} alternating pairs of runs\n")
    print("| epoch | flushed: s | fwd+bwd ms | update ms | kept subnormal: s | fwd+bwd ms | "
          "update ms | subnormal moments | epoch time, kept / flushed |")
    print("|---|---|---|---|---|---|---|---|---|")
    for epoch in range(args.epochs):
        cells = []
        for flush in (True, False):
            per_run = [rows[epoch] for rows in runs[flush]]
            cells += [f"{statistics.median(r[key] for r in per_run):.{digits}f}"
                      for key, digits in (("seconds", 2), ("fb_ms", 3), ("update_ms", 3))]
        share = statistics.median(rows[epoch]["subnormal"] for rows in runs[False])
        ratio = statistics.median(kept[epoch]["seconds"] / flushed[epoch]["seconds"]
                                  for kept, flushed in zip(runs[False], runs[True]))
        print(f"| {epoch + 1} | " + " | ".join(cells) + f" | {100 * share:.2f}% | {ratio:.2f}x |")
    print(f"\nfinal parameters, flushed and kept subnormal, the same bits: "
          f"{sum(same_bits)} of {len(same_bits)} pairs")


if __name__ == "__main__":
    main()
