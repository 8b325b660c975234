"""Training steps of this trainer and PyTorch, sorted by the machine's speed mode.

Some VMs switch, for seconds to minutes, between two modes: in one, two BLAS threads run a
large sgemm 2.0x as fast as one; in the other ~1.6x, and a training step on two threads takes
about twice as long (benchmarks/HISTORY.md, "Modes of the AMD EPYC machine of 2026-12-01").
Epoch-level ratios from such a machine mix the modes. This script compares like with like:
two worker processes, one stepping this trainer and one PyTorch (each in its own process, so
that neither's idle threads spin beside the other's steps), take turns running blocks of
training steps of the same net; before and after each pair of blocks the numpy worker probes
the mode (2-thread over 1-thread sgemm speed), and a pair counts only when both probes agree.
Per mode it prints median milliseconds per step: this trainer's forward+backward and optimizer
update on 2 threads, its whole step on 1 thread, PyTorch's on 2 threads, and the ratio of the
2-thread steps (median of the pairs' ratios). Each block is the first steps of a training run:
from the same initial weights and a fresh Adam, on the next batches of the shuffled training
set.

    .venv/bin/python benchmarks/modes.py [--seconds 300] [--hidden 512 256] [--batch 128]

Needs the prepared data (`make repro`) and the bench extra (torch).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
from frameworks import positive_int, sgemm_ceiling, torch_mlp

from mnist_mlp.nn import Architecture, build_mlp, init_weights, make_optimizer
from mnist_mlp.splits import load_split, one_hot
from mnist_mlp.training import training_threads

# 2-thread/1-thread sgemm speed (best of 4 products, 1024^3) at or above which a probe says
# "fast": 1.91-2.05 in the fast mode and 1.63-1.68 in the slow one, 166 probes over 60 s on the
# EPYC machine of 2026-12-01 (an average of 4 products gave 1.83-2.10 and 1.41-1.74).
FAST_MODE_MIN_SPEEDUP = 1.8
DATA = Path(__file__).resolve().parents[1] / "data" / "prepared"


def require_prepared_data(parser: argparse.ArgumentParser, batch: int | None = None) -> None:
    """Exits, saying how to make them, where the prepared splits the benchmarks read are
    missing; and, given a ``batch``, where the training split has fewer rows than that (its
    batches would never come)."""
    if not (DATA / "train.npz").is_file():
        parser.exit(2, f"error: {DATA / 'train.npz'} not found; run `make repro` first\n")
    if batch is not None:
        with np.load(DATA / "train.npz", allow_pickle=False) as arrays:
            rows = len(arrays["y"])
        if batch > rows:
            parser.exit(2, f"error: --batch {batch} is more than the {rows} rows of "
                           f"{DATA / 'train.npz'}\n")


def shuffled_batches(batch: int):
    """Endless (images, labels) batches of the prepared training set, in one seeded order.

    Every block starts again from the initial weights: a net trained on and on would fit what
    it sees (on one fixed batch the loss was ~1e-7 within 60 steps), and such steps are not
    the ones a training run takes.
    """
    train = load_split(DATA / "train.npz")
    order = np.random.default_rng(0).permutation(len(train.x))
    x, y = train.x[order], train.y[order]  # one copy, so every batch is a contiguous view
    while True:
        for start in range(0, len(x) - batch + 1, batch):
            yield x[start:start + batch], y[start:start + batch]


def fresh_block(flat, initial: list[np.ndarray], batches, steps: int, optimizer: str = "adam"):
    """A block's start: the flattened parameters reset to ``initial``, a fresh ``optimizer``,
    and the next ``steps`` batches of ``batches`` with one-hot targets."""
    for param, value in zip(flat.params, initial):
        np.copyto(param, value)
    data = [(x, one_hot(y)) for x, y in (next(batches) for _ in range(steps))]
    return make_optimizer(optimizer), data


def timed_step(model, flat, optimizer, x: np.ndarray, targets: np.ndarray
               ) -> tuple[float, float]:
    """One training step at rate 1e-3: seconds of the forward and backward passes, and of the
    optimizer's update (``flat``: the model's flattened parameters)."""
    start = time.perf_counter()
    model.loss_and_gradients(x, targets)
    middle = time.perf_counter()
    optimizer.step(flat.params, flat.grads, 1e-3, flat.decayed)
    return middle - start, time.perf_counter() - middle


def numpy_worker(hidden: list[int], batch: int, steps: int) -> None:
    rng = np.random.default_rng(0)
    architecture = Architecture(hidden=tuple(hidden))
    model = build_mlp(architecture, init_weights(architecture, "he", rng))
    flat = model.flatten_parameters()
    initial = [p.copy() for p in flat.params]
    batches = shuffled_batches(batch)

    def block(threads: int) -> tuple[float, float]:
        optimizer, data = fresh_block(flat, initial, batches, steps)
        with training_threads(threads, optimizer):  # as training.train sets them up
            forward_backward, update = zip(*(timed_step(model, flat, optimizer, x, targets)
                                             for x, targets in data))
        return statistics.median(forward_backward), statistics.median(update)

    block(2), block(1)  # compiles the update loop, allocates the buffers
    for request in sys.stdin:
        if request.strip() == "probe":
            reply = {"speedup": sgemm_speedup()}
        else:
            two, one = block(2), block(1)
            reply = {"fb": two[0], "update": two[1], "one_thread": sum(one)}
        print(json.dumps(reply), flush=True)


def torch_worker(hidden: list[int], batch: int, steps: int) -> None:
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(2)
    net = torch_mlp(hidden)
    initial = {name: value.clone() for name, value in net.state_dict().items()}
    batches = shuffled_batches(batch)

    def block() -> float:
        net.load_state_dict(initial)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        data = [(torch.from_numpy(x), torch.from_numpy(y.astype(np.int64)))
                for x, y in (next(batches) for _ in range(steps))]
        seconds = []
        for x, y in data:
            start = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seconds.append(time.perf_counter() - start)
        return statistics.median(seconds)

    block()
    for _ in sys.stdin:
        print(json.dumps({"step": block()}), flush=True)


class Worker:
    def __init__(self, kind: str, args: argparse.Namespace):
        command = [sys.executable, __file__, "--worker", kind, "--batch", str(args.batch),
                   "--steps", str(args.steps), "--hidden", *map(str, args.hidden)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)

    def ask(self, request: str) -> dict:
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            sys.exit(f"error: a worker exited (code {self.process.wait()})")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def sgemm_speedup() -> float:
    """The mode probe: how many times as fast 2 threads run a 1024^3 sgemm as 1 thread."""
    return sgemm_ceiling(2, size=1024, repeats=4) / sgemm_ceiling(1, size=1024, repeats=4)


def mode(speedup: float) -> str:
    return "fast" if speedup >= FAST_MODE_MIN_SPEEDUP else "slow"


def alternate(numpy_side, torch_side, keep_going: Callable[[], bool]
              ) -> tuple[dict[str, list[dict]], int]:
    """Pairs of blocks by mode, each between two probes that agree; and how many were dropped.

    Each probe closes one pair and opens the next, so every block is bracketed by the probes
    taken right before and right after it.
    """
    pairs: dict[str, list[dict]] = {"fast": [], "slow": []}
    mixed = 0
    before = mode(numpy_side.ask("probe")["speedup"])
    while keep_going():
        ours, theirs = numpy_side.ask("block"), torch_side.ask("block")
        after = mode(numpy_side.ask("probe")["speedup"])
        if before == after:
            pairs[after].append({**ours, "torch": theirs["step"]})
        else:
            mixed += 1
        before = after
    return pairs, mixed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300, help="how long to alternate")
    parser.add_argument("--hidden", type=positive_int, nargs="+", default=[512, 256])
    parser.add_argument("--batch", type=positive_int, default=128)
    parser.add_argument("--steps", type=positive_int, default=60, help="timed steps per block")
    parser.add_argument("--worker", choices=("numpy", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        {"numpy": numpy_worker, "torch": torch_worker}[args.worker](args.hidden, args.batch,
                                                                    args.steps)
        return
    if importlib.util.find_spec("torch") is None:
        parser.exit(2, "error: torch not installed; it is in the bench extra: "
                       "make bench-venv\n")
    require_prepared_data(parser, args.batch)
    numpy_side, torch_side = Worker("numpy", args), Worker("torch", args)
    deadline = time.monotonic() + args.seconds
    pairs, mixed = alternate(numpy_side, torch_side, lambda: time.monotonic() < deadline)
    numpy_side.close()
    torch_side.close()
    net = "-".join(map(str, [784, *args.hidden, 10]))
    print(f"{net}, batch {args.batch}, Adam; {args.steps} steps per block; mode probe: 2-thread "
          f"over 1-thread sgemm 1024^3, fast if >= {FAST_MODE_MIN_SPEEDUP}; {mixed} pairs "
          "dropped whose probes disagreed\n")
    print("| mode | pairs | numpy fwd+bwd ms | numpy update ms | numpy step ms | "
          "numpy 1-thread step ms | torch step ms | numpy/torch |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rows in pairs.items():
        if not rows:
            print(f"| {name} | 0 | | | | | | |")
            continue
        med = {k: statistics.median(r[k] for r in rows) * 1e3
               for k in ("fb", "update", "one_thread", "torch")}
        ratios = [(r["fb"] + r["update"]) / r["torch"] for r in rows]
        print(f"| {name} | {len(rows)} | {med['fb']:.2f} | {med['update']:.2f} | "
              f"{statistics.median(r['fb'] + r['update'] for r in rows) * 1e3:.2f} | "
              f"{med['one_thread']:.2f} | {med['torch']:.2f} | "
              f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) |")


if __name__ == "__main__":
    main()
