"""The first layer's two products, skipping blank pixels, against OpenBLAS's sgemm side by side.

Scaled MNIST images are ~81% zeros, so the first Dense layer's forward product ``x @ W`` and
its weight gradient ``x.T @ dz`` (the network's largest products; the first layer needs no
input gradient) could skip most of their multiply-adds. This measures whether that pays at
each config's first-layer shape, on batches of real prepared images, two ways:

- sparse: loops over each image's nonzero pixels (compiled with numba). Forward: each thread
  lists its half of the rows' nonzero pixels, then adds ``value * W[pixel]`` into each output
  row. Gradient: the batch's nonzero entries listed pixel by pixel, then each thread sums
  ``value * dz[row]`` into its half of the rows of ``dW``. Each output is one thread's sum in
  pixel or row order: the same bits on any thread count, though not OpenBLAS's bits.
- inked: sgemm over only the pixels that some image of the batch inks (``W``'s rows gathered,
  ``dW``'s scattered, the others zeros): the same kernel on a shorter inner dimension.

It prints the median milliseconds of each and, in brackets, the median of its ratios to plain
sgemm within each block of calls (the blocks alternate; the threads are those training picks
for the config, and two run as in training: in numba's pool, where OpenBLAS then runs its
jobs too, blas_pool.py, but for full batches), and each way's largest error against a float64
product, relative to the product's largest value. Neither way is in the trainer;
benchmarks/README.md says why.

    .venv/bin/python benchmarks/sparse_input.py [--blocks 15]

Needs the prepared data (`make repro`).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np
from frameworks import positive_int
from modes import DATA, require_prepared_data

from mnist_mlp.nn import Architecture, make_optimizer
from mnist_mlp.splits import load_split
from mnist_mlp.training import blas_threads, training_threads

SHAPES = (  # config, batch rows (None: the whole training split), hidden widths
    ("default", 128, (512, 256)),
    ("batch 512 net", 512, (512, 256)),
    ("tut-sigmoid-mse", 128, (128,)),
    ("tut-64", 64, (64,)),
    ("tut-64-64", 32, (64, 64)),
    ("tut-128-64 (full batch)", None, (128, 64)),
    ("tut-2layer-10 (full batch)", None, (10,)),
)
HALVES = 2  # the loops' split of the rows; on one thread the halves run one after the other


@numba.njit(nogil=True)
def _rows_forward(x, w, out, low, high):
    n_pixels, width = x.shape[1], w.shape[1]
    columns = np.empty((high - low) * n_pixels, np.intp)
    values = np.empty((high - low) * n_pixels, x.dtype)
    starts = np.empty(high - low + 1, np.intp)
    count = 0
    for i in range(low, high):
        starts[i - low] = count
        for c in range(n_pixels):
            if x[i, c] != 0:
                columns[count], values[count] = c, x[i, c]
                count += 1
    starts[high - low] = count
    for i in range(low, high):
        row = out[i]
        row[:] = 0
        for k in range(starts[i - low], starts[i - low + 1]):
            weights, value = w[columns[k]], values[k]
            for j in range(width):
                row[j] += value * weights[j]


@numba.njit(nogil=True, parallel=True)
def sparse_forward(x, w, out):
    """out = x @ w, (n, d) @ (d, m) -> (n, m), from x's nonzero entries."""
    n = x.shape[0]
    for half in numba.prange(HALVES):
        _rows_forward(x, w, out, half * n // HALVES, (half + 1) * n // HALVES)


@numba.njit(nogil=True, parallel=True)
def sparse_weight_gradient(x, dz, dw):
    """dw = x.T @ dz, (n, d).T @ (n, m) -> (d, m), from x's nonzero entries."""
    n, n_pixels = x.shape
    width = dz.shape[1]
    starts = np.zeros(n_pixels + 1, np.intp)
    for i in range(n):
        for c in range(n_pixels):
            if x[i, c] != 0:
                starts[c + 1] += 1
    for c in range(n_pixels):
        starts[c + 1] += starts[c]
    rows = np.empty(starts[n_pixels], np.intp)
    values = np.empty(starts[n_pixels], x.dtype)
    filled = starts[:n_pixels].copy()
    for i in range(n):
        for c in range(n_pixels):
            if x[i, c] != 0:
                rows[filled[c]], values[filled[c]] = i, x[i, c]
                filled[c] += 1
    for half in numba.prange(HALVES):
        for c in range(half * n_pixels // HALVES, (half + 1) * n_pixels // HALVES):
            total = dw[c]
            total[:] = 0
            for k in range(starts[c], starts[c + 1]):
                gradient, value = dz[rows[k]], values[k]
                for j in range(width):
                    total[j] += value * gradient[j]


def inked_forward(x, w, out):
    """out = x @ w as sgemm over only the pixels some image of the batch inks."""
    inked = np.flatnonzero(x.any(axis=0))
    return np.matmul(x[:, inked], w[inked], out=out)


def inked_weight_gradient(x, dz, dw):
    """dw = x.T @ dz as sgemm over only the inked pixels; the other rows of dw are zeros."""
    inked = np.flatnonzero(x.any(axis=0))
    dw[:] = 0
    dw[inked] = x[:, inked].T @ dz
    return dw


def relative_error(result: np.ndarray, exact: np.ndarray) -> float:
    return float(np.abs(result - exact).max() / np.abs(exact).max())


def compare(x: np.ndarray, width: int, blocks: int, rng: np.random.Generator) -> dict:
    w = rng.standard_normal((x.shape[1], width), dtype=np.float32)
    dz = rng.standard_normal((x.shape[0], width), dtype=np.float32)
    out, dw = np.empty((x.shape[0], width), np.float32), np.empty_like(w)
    calls = {
        "blas forward": lambda: np.matmul(x, w, out=out),
        "sparse forward": lambda: sparse_forward(x, w, out),
        "inked forward": lambda: inked_forward(x, w, out),
        "blas gradient": lambda: np.matmul(x.T, dz, out=dw),
        "sparse gradient": lambda: sparse_weight_gradient(x, dz, dw),
        "inked gradient": lambda: inked_weight_gradient(x, dz, dw),
    }
    exact = x.astype(np.float64) @ w, x.T.astype(np.float64) @ dz
    errors = []
    for kind in ("sparse", "inked"):
        calls[f"{kind} forward"]()
        calls[f"{kind} gradient"]()
        errors += [relative_error(out, exact[0]), relative_error(dw, exact[1])]
    repeats = max(1, int(1e9 // (x.shape[0] * x.shape[1] * width)))  # >= 10 ms of sgemm a block
    seconds = {name: [] for name in calls}
    for _ in range(blocks):
        for name, call in calls.items():
            call()
            start = time.perf_counter()
            for _ in range(repeats):
                call()
            seconds[name].append((time.perf_counter() - start) / repeats)
    ms = {name: statistics.median(ts) * 1e3 for name, ts in seconds.items()}
    for name in calls.keys() - {"blas forward", "blas gradient"}:
        # Ratios within each block: the machine drifts between them.
        blas = seconds["blas " + name.split()[1]]
        ms[f"{name} ratio"] = statistics.median(t / b for t, b in zip(seconds[name], blas))
    return ms | {"errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=positive_int, default=15,
                        help="alternating blocks of calls")
    args = parser.parse_args()
    require_prepared_data(parser)
    images = load_split(DATA / "train.npz").x
    rng = np.random.default_rng(0)
    print(f"Threads as training picks them (train.threads: auto); medians of {args.blocks} "
          f"alternating blocks; {np.count_nonzero(images) / images.size:.1%} of the training "
          "pixels are nonzero\n")
    print("| config | first layer | threads | inked pixels | x @ W: blas ms | sparse ms (/blas) "
          "| inked ms (/blas) | x.T @ dz: blas ms | sparse ms (/blas) | inked ms (/blas) "
          "| rel. error fwd / grad: sparse; inked |\n" + "|---" * 11 + "|")
    for name, batch, hidden in SHAPES:
        rows = batch or len(images)
        threads = blas_threads("auto", Architecture(hidden=hidden), rows)
        numba.set_num_threads(threads)
        x = np.ascontiguousarray(images[rng.permutation(len(images))[:rows]])
        # As training runs: OpenBLAS's jobs in numba's pool, but for full batches.
        with training_threads(threads, make_optimizer("adam"), full_batch=batch is None):
            ms = compare(x, hidden[0], args.blocks, rng)
        cells = [name, f"{rows} x 784 -> {hidden[0]}", str(threads),
                 str(np.count_nonzero(x.any(axis=0)))]
        for product in ("forward", "gradient"):
            cells.append(f"{ms[f'blas {product}']:.3f}")
            cells += [f"{ms[f'{kind} {product}']:.3f} ({ms[f'{kind} {product} ratio']:.2f})"
                      for kind in ("sparse", "inked")]
        sparse_forward_error, sparse_gradient_error, inked_forward_error, inked_gradient_error = \
            ms["errors"]
        cells.append(f"{sparse_forward_error:.0e} / {sparse_gradient_error:.0e}; "
                     f"{inked_forward_error:.0e} / {inked_gradient_error:.0e}")
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
