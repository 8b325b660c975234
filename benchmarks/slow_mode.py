"""What makes Adam's update slow after a 2-thread backward pass in a VM's slow mode, and
how much claiming the parameters' cache lines first (optimizers.py, ``LineClaims``) saves.
``--optimizer sgd --hidden 128 --batch 128`` times SGD's update at tut-sigmoid-mse's shape
(with ReLU; the update does not depend on the activation).

In the slow mode of some VMs (benchmarks/modes.py) Adam's compiled update over the default
net takes several times as long right after a 2-thread forward and backward pass as it does
on one thread or when run again at once. The first table finds which memory access carries
that cost: after each 2-thread forward and backward pass one "touch" of one array runs, then
the update (claiming no lines) is timed. A touch that takes the extra time itself, and leaves
the update after it as fast as in the fast mode, has taken the slow accesses out of the
update. The touches take turns step by step: read or write the gradients (written by both
threads in the backward pass), read or write the parameters (read by both threads in the
forward and backward passes), claim the parameters' lines (``kernels.claim_lines``: one store
per 64-byte line), write an array that only this thread touches, or nothing. A write stores
the values already there (``x * 1``), so training goes on unchanged. The second table times
the update alone with the optimizer's ``claim_lines`` set to never, always, and chosen by
timing (the default).

The steps run as ``training.train`` sets them up: NumPy's OpenBLAS jobs in numba's thread pool
and the update split over the same pool (nn/blas_pool.py), where each thread claims the lines
of the half it updates. ``--own-threads`` keeps OpenBLAS's own threads and the update and its
claims in one loop, as before the pool.

Each block is the first steps of a training run (initial weights, a fresh optimizer, the
next batches of the shuffled training set). A round runs one block of each kind (the touches, and
each ``claim_lines`` setting), in turns; the mode is probed before and after each round as in
modes.py, and rounds whose probes disagree are dropped. Per mode it prints medians over the
rounds of each block's median milliseconds.

    .venv/bin/python benchmarks/slow_mode.py [--seconds 240] [--steps 64] [--own-threads]
        [--optimizer adam] [--hidden 512 256] [--batch 128]

Needs the prepared data (`make repro`).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, Iterator

import numpy as np
from frameworks import positive_int
from modes import fresh_block, mode, require_prepared_data, sgemm_speedup, shuffled_batches
from threadpoolctl import threadpool_limits

from mnist_mlp.nn import Architecture, build_mlp, compiled, init_weights
from mnist_mlp.training import training_threads


def touches(weights: np.ndarray, weight_grads: np.ndarray) -> dict[str, Callable[[], object]]:
    """The touches, each a pass over one whole array of the size of the net's weights."""
    private = np.ones_like(weights)
    return {
        "none": lambda: None,
        "read gradients": weight_grads.sum,
        "write gradients": lambda: np.multiply(weight_grads, 1, out=weight_grads),
        "read parameters": weights.sum,
        "write parameters": lambda: np.multiply(weights, 1, out=weights),
        "claim the parameters' lines": lambda: compiled.claim_cache_lines(weights),
        "write a private array": lambda: np.multiply(private, 1, out=private),
    }


# The optimizer's claim_lines settings the update is timed with, without touches.
CLAIMS = {"never": False, "always": True, "chosen by timing": None}


def run_block(model, flat, initial: list[np.ndarray], batches: Iterator, steps: int,
              touch: dict[str, Callable[[], object]], claim_lines: bool | None = False,
              pool: bool = True, optimizer_name: str = "adam"
              ) -> dict[str, tuple[list[float], list[float]]]:
    """``steps`` training steps on 2 threads from ``initial``, the optimizer's ``claim_lines``
    as given, in numba's pool if ``pool``; per touch, the seconds of each of its touches and of
    the updates after them."""
    optimizer, data = fresh_block(flat, initial, batches, steps, optimizer_name)
    optimizer.claim_lines = claim_lines
    names = list(touch)
    seconds: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in names}
    threads = training_threads(2, optimizer) if pool else threadpool_limits(2)
    with threads:
        for step, (x, targets) in enumerate(data):
            model.loss_and_gradients(x, targets)
            name = names[step % len(names)]
            start = time.perf_counter()
            touch[name]()
            middle = time.perf_counter()
            optimizer.step(flat.params, flat.grads, 1e-3, flat.decayed)
            seconds[name][0].append(middle - start)
            seconds[name][1].append(time.perf_counter() - middle)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=240, help="how long to measure")
    parser.add_argument("--steps", type=positive_int, default=64,
                        help="training steps per block")
    parser.add_argument("--own-threads", action="store_true",
                        help="OpenBLAS's own threads and a one-loop update, not numba's pool")
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    parser.add_argument("--hidden", type=positive_int, nargs="+", default=[512, 256])
    parser.add_argument("--batch", type=positive_int, default=128)
    args = parser.parse_args()
    block_options = {"pool": not args.own_threads, "optimizer_name": args.optimizer}
    require_prepared_data(parser, args.batch)
    architecture = Architecture(hidden=tuple(args.hidden))
    model = build_mlp(architecture, init_weights(architecture, "he", np.random.default_rng(0)))
    flat = model.flatten_parameters()  # group 0: the weight matrices (default net: 532k of 535k)
    initial = [p.copy() for p in flat.params]
    batches = shuffled_batches(args.batch)
    touch = touches(flat.params[0], flat.grads[0])
    no_touch = {"none": lambda: None}
    kinds = [("touches", touch, False),
             *((name, no_touch, claim) for name, claim in CLAIMS.items())]
    for _, kind_touch, claim in kinds:  # compiles the loops
        run_block(model, flat, initial, batches, args.steps, kind_touch, claim, **block_options)
    kept: dict[str, list[dict]] = {"fast": [], "slow": []}
    dropped = rounds = 0
    before = mode(sgemm_speedup())
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        blocks = {}
        turn = rounds % len(kinds)
        for name, kind_touch, claim in kinds[turn:] + kinds[:turn]:
            blocks[name] = run_block(model, flat, initial, batches, args.steps, kind_touch,
                                     claim, **block_options)
        rounds += 1
        after = mode(sgemm_speedup())
        if after == before:
            kept[after].append(blocks)
        else:
            dropped += 1
        before = after
    threads = "OpenBLAS's own threads" if args.own_threads else "in numba's pool"
    net = "-".join(map(str, [784, *args.hidden, 10]))
    print(f"{net}, batch {args.batch}, {args.optimizer}, 2 threads ({threads}); {args.steps} "
          f"steps per block, a block of each kind between two probes; {dropped} rounds dropped "
          "whose probes disagreed\n")
    print("| mode | rounds | touch after the backward pass | touch ms | "
          "update after it ms |")
    print("|---|---|---|---|---|")
    for name, rounds_kept in kept.items():
        for touch_name in touch if rounds_kept else ():  # a mode never seen has no rows
            touch_ms, update_ms = (median_ms(r["touches"][touch_name][i] for r in rounds_kept)
                                   for i in (0, 1))
            print(f"| {name} | {len(rounds_kept)} | {touch_name} | {touch_ms:.3f} | "
                  f"{update_ms:.3f} |")
    print("\n| mode | rounds | " + " | ".join(f"update ms, claims {c}" for c in CLAIMS) + " |")
    print("|---|---|" + "---|" * len(CLAIMS))
    for name, rounds_kept in kept.items():
        if rounds_kept:
            cells = [f"{median_ms(r[c]['none'][1] for r in rounds_kept):.3f}" for c in CLAIMS]
            print(f"| {name} | {len(rounds_kept)} | " + " | ".join(cells) + " |")


def median_ms(per_round) -> float:
    """Median over rounds of each round's median, in milliseconds."""
    return statistics.median(statistics.median(times) for times in per_round) * 1e3


if __name__ == "__main__":
    main()
