"""Forward + backward time of each activation layer, as a ratio to ReLU's, measured side by side.

ReLU is the floor (one comparison, one maximum, one multiplication); an activation far above
its handful of elementwise passes has hit a slow NumPy path (``x**3``, ``np.where`` on a
data-dependent mask). Shapes: a training batch (128 x 512) and an evaluation batch
(4096 x 512), float32, one thread (ufuncs do not use more).

    .venv/bin/python benchmarks/activations.py [--repeats 50]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from mnist_mlp.nn.layers import ACTIVATIONS


def forward_backward_seconds(layer, x: np.ndarray, dout: np.ndarray) -> float:
    start = time.perf_counter()
    layer.forward(x, training=True)
    layer.backward(dout)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50, help="interleaved rounds")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| activation | shape | forward+backward ms (median) | / ReLU |\n|---|---|---|---|")
    for shape in ((128, 512), (4096, 512)):
        x = rng.standard_normal(shape, dtype=np.float32) * 2
        dout = rng.standard_normal(shape, dtype=np.float32)
        layers = {name: cls() for name, cls in ACTIVATIONS.items()}
        seconds = {name: [] for name in layers}
        for _ in range(args.repeats):  # round-robin, so drift hits every activation alike
            for name, layer in layers.items():
                seconds[name].append(forward_backward_seconds(layer, x, dout))
        relu = statistics.median(seconds["relu"])
        for name, times in seconds.items():
            median = statistics.median(times)
            print(f"| {name} | {shape[0]}x{shape[1]} | {median * 1e3:.3f} | "
                  f"{median / relu:.1f}x |")


if __name__ == "__main__":
    main()
