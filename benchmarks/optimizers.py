"""Optimizer updates: the compiled loop against the NumPy passes, measured side by side.

Both give the same bits (tests/test_optimizers.py); this prints what the loop buys. First one
update of each optimizer over the parameters of the default 784-512-256-10 net (two flat
arrays, as training holds them), then whole training steps of that net at batch 128
(forward, backward, Adam; BLAS threads as ``threads: auto`` picks), in alternating blocks so
that machine drift hits both alike. Synthetic inputs: a step's time does not depend on the
pixel values.

    .venv/bin/python benchmarks/optimizers.py [--repeats 200] [--blocks 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from mnist_mlp.nn import Architecture, build_mlp, init_weights, make_optimizer
from mnist_mlp.training import blas_threads

OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")


def default_net(rng: np.random.Generator):
    architecture = Architecture(hidden=(512, 256))
    model = build_mlp(architecture, init_weights(architecture, "he", rng))
    return model, model.flatten_parameters()


def make(name: str, fused: bool):
    optimizer = make_optimizer(name, weight_decay=1e-2 if name == "adamw" else 0.0)
    optimizer.fused = fused
    return optimizer


def update_table(repeats: int) -> None:
    rng = np.random.default_rng(0)
    _, flat = default_net(rng)
    grads = [rng.standard_normal(g.shape, dtype=np.float32) * 1e-3 for g in flat.grads]
    size = sum(p.size for p in flat.params)
    print(f"One update over {size:,} float32 parameters (median of {repeats}, interleaved):\n")
    print("| optimizer | NumPy passes ms | compiled loop ms | loop / passes |\n|---|---|---|---|")
    for name in OPTIMIZERS:
        optimizers = {fused: make(name, fused) for fused in (False, True)}
        params = {fused: [p.copy() for p in flat.params] for fused in optimizers}
        seconds = {fused: [] for fused in optimizers}
        for _ in range(repeats + 1):  # the first round compiles the loop and allocates state
            for fused, optimizer in optimizers.items():
                start = time.perf_counter()
                optimizer.step(params[fused], grads, 1e-3, flat.decayed)
                seconds[fused].append(time.perf_counter() - start)
        passes, loop = (statistics.median(seconds[f][1:]) for f in (False, True))
        print(f"| {name} | {passes * 1e3:.3f} | {loop * 1e3:.3f} | {loop / passes:.2f}x |")


def step_table(blocks: int, steps: int = 60, batch: int = 128) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    runs = {}
    for fused in (False, True):
        model, flat = default_net(np.random.default_rng(1))
        runs[fused] = (model, flat, make("adam", fused), [])
    threads = blas_threads("auto", runs[True][0].architecture, batch)
    with threadpool_limits(threads):
        for block in range(blocks + 1):  # block 0 warms up
            for fused, (model, flat, optimizer, seconds) in runs.items():
                for _ in range(steps):
                    start = time.perf_counter()
                    model.loss_and_gradients(x, y)
                    optimizer.step(flat.params, flat.grads, 1e-3, flat.decayed)
                    if block:
                        seconds.append(time.perf_counter() - start)
    passes, loop = (statistics.median(runs[f][3]) for f in (False, True))
    print(f"\nTraining step, 784-512-256-10, batch {batch}, Adam, {threads} BLAS thread(s), "
          f"median of {blocks} alternating blocks of {steps} steps each way:\n")
    print(f"| update | step ms |\n|---|---|\n| NumPy passes | {passes * 1e3:.3f} |\n"
          f"| compiled loop | {loop * 1e3:.3f} |\n| loop / passes | {loop / passes:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=200, help="interleaved updates")
    parser.add_argument("--blocks", type=int, default=10, help="alternating blocks of steps")
    args = parser.parse_args()
    update_table(args.repeats)
    step_table(args.blocks)


if __name__ == "__main__":
    main()
