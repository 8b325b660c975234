"""Training steps with the compiled elementwise passes against the NumPy passes, side by side.

The layers' and the loss's compiled loops (ReLU forward and backward, a Dense layer's bias
gradient, the softmax's row maximum; nn/kernels.py) give the same bits as their NumPy code
(tests/test_layers.py); this prints what they buy in whole training steps (forward, backward,
Adam through its compiled loop in both), in alternating blocks so that machine drift hits both
alike: the default 784-512-256-10 net at batch 128, and tut-128-64's full-batch step
(784-128-64-10 over 55,000 rows), where the passes run over 28 MB activations. BLAS threads as
``threads: auto`` picks. Synthetic inputs: a step's time does not depend on the pixel values.

    .venv/bin/python benchmarks/passes.py [--blocks 9]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from mnist_mlp.nn import Architecture, build_mlp, init_weights, make_optimizer
from mnist_mlp.training import blas_threads

CASES = (  # name, hidden widths, batch, training rows, steps per block
    ("default 784-512-256-10 b128", (512, 256), 128, 128, 100),
    ("tut-128-64 784-128-64-10 full batch", (128, 64), 55_000, 55_000, 3),
)


def step_seconds(hidden, batch, rows, steps, blocks) -> dict[bool, float]:
    """Median seconds per step with the compiled passes (True) and without (False)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, rows)]
    architecture = Architecture(hidden=hidden)
    runs = {}
    for fused in (False, True):
        model = build_mlp(architecture, init_weights(architecture, "he", np.random.default_rng(1)))
        model.fused = fused
        runs[fused] = (model, model.flatten_parameters(), make_optimizer("adam"), [])
    with threadpool_limits(blas_threads("auto", architecture, batch)):
        for block in range(blocks + 1):  # block 0 compiles and warms up
            for model, flat, optimizer, seconds in runs.values():
                for step in range(steps):
                    rows_of_step = slice((step * batch) % rows, (step * batch) % rows + batch)
                    start = time.perf_counter()
                    model.loss_and_gradients(x[rows_of_step], y[rows_of_step])
                    optimizer.step(flat.params, flat.grads, 1e-3, flat.decayed)
                    if block:
                        seconds.append(time.perf_counter() - start)
    return {fused: statistics.median(run[3]) for fused, run in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=9, help="alternating blocks of steps")
    args = parser.parse_args()
    print(f"Median step time, {args.blocks} alternating blocks each way:\n")
    print("| step | threads | NumPy passes ms | compiled passes ms | compiled / NumPy |\n"
          "|---|---|---|---|---|")
    for name, hidden, batch, rows, steps in CASES:
        threads = blas_threads("auto", Architecture(hidden=hidden), batch)
        seconds = step_seconds(hidden, batch, rows, steps, args.blocks)
        print(f"| {name} | {threads} | {seconds[False] * 1e3:.2f} | {seconds[True] * 1e3:.2f} | "
              f"{seconds[True] / seconds[False]:.3f}x |", flush=True)


if __name__ == "__main__":
    main()
