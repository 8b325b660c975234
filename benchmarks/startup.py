"""A training process's first step with numba's on-disk cache empty and filled, side by side.

The compiled loops (nn/kernels.py) are cached on disk. This starts fresh Python processes in
alternating pairs: one with an empty cache directory (it compiles every loop the step calls),
one with a directory an earlier process filled (it loads them). Each times its first two
training steps of the default net (784-512-256-10, batch 128, Adam, synthetic data, 2 BLAS
threads in numba's pool and the batches gathered from bytes, as ``training.train`` sets them
up), which include numba's import and the compiling or loading (the optimizer's second step is
the first to claim the parameters' cache lines, a loop of its own; optimizers.py,
``LineClaims``), and a third step for comparison.

    .venv/bin/python benchmarks/startup.py [--pairs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = """
import json, time
import numpy as np
from mnist_mlp.nn import Architecture, build_mlp, init_weights, make_optimizer
architecture = Architecture(hidden=(512, 256))
model = build_mlp(architecture, init_weights(architecture, "he", np.random.default_rng(0)))
flat = model.flatten_parameters()
optimizer = make_optimizer("adam")
rng = np.random.default_rng(1)
from mnist_mlp.splits import Normalization, Split
split = Split(Normalization().apply(rng.integers(0, 256, (384, 784), dtype=np.uint8)),
              rng.integers(0, 10, 384).astype(np.uint8))
x = np.empty((128, 784), np.float32)
y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 128)]
seconds = []
start = time.perf_counter()
from mnist_mlp.batches import BatchImages
from mnist_mlp.training import training_threads
with training_threads(2, optimizer) as pooled:
    images = BatchImages(split, parallel=pooled)
    for step in range(3):
        images.take(np.arange(step * 128, (step + 1) * 128), x)
        model.loss_and_gradients(x, y)
        optimizer.step(flat.params, flat.grads, 1e-3, flat.decayed)
        seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
from mnist_mlp.nn import blas_pool, kernels
loops = [getattr(module, name) for module in (kernels, blas_pool) for name in dir(module)]
loops = [loop for loop in loops if hasattr(loop, "stats")]
print(json.dumps({"seconds": seconds,
                  "loaded": sum(sum(loop.stats.cache_hits.values()) for loop in loops),
                  "compiled": sum(sum(loop.stats.cache_misses.values()) for loop in loops)}))
"""


def first_steps(cache_dir: str) -> dict:
    """One fresh process's step times and how many loops it loaded or compiled."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=5, help="alternating pairs of processes")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"empty": [], "filled": []}
    with tempfile.TemporaryDirectory() as filled:
        first_steps(filled)  # fills it
        for _ in range(args.pairs):
            with tempfile.TemporaryDirectory() as empty:
                runs["empty"].append(first_steps(empty))
            runs["filled"].append(first_steps(filled))
    print(f"Default net, batch 128, Adam; medians of {args.pairs} processes each, alternating:\n")
    print("| numba cache | first two steps s | third step ms | loops loaded (fewest) "
          "| loops compiled (most) |\n|---|---|---|---|---|")
    medians = {}
    for name, results in runs.items():
        medians[name] = statistics.median(sum(r["seconds"][:2]) for r in results)
        third = statistics.median(r["seconds"][2] for r in results)
        print(f"| {name} | {medians[name]:.2f} | {third * 1e3:.1f} | "
              f"{min(r['loaded'] for r in results)} | {max(r['compiled'] for r in results)} |")
    print(f"\nfirst two steps, filled / empty cache: {medians['filled'] / medians['empty']:.2f}x "
          f"({medians['empty'] - medians['filled']:.2f} s saved per training process)")


if __name__ == "__main__":
    main()
