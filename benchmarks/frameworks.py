"""Epoch time of this project's trainer against PyTorch (CPU) and scikit-learn, side by side.

For the default params and each tutorial's setup, the same architecture, batch size, optimizer
and learning rate are trained in all three, interleaved run by run (numpy, torch, sklearn,
numpy, …) so machine noise hits them alike, on the same number of BLAS/intra-op threads (by
default what this trainer's ``threads: auto`` picks for the config). Each run trains one
warm-up epoch, whose time is dropped (first-touch page faults, thread start-up), then the
timed epochs. Prints per config the median seconds per epoch, the ratios, achieved GFLOP/s,
and test accuracy after all epochs; then the float32 sgemm ceiling measured in the same run,
and a scaling table of this trainer. The column "0.35x sklearn needs" is what issue 4's
scikit-learn target asks of this trainer in that run: the GFLOP/s of an epoch 0.35 times
scikit-learn's median, and that as a share of the sgemm ceiling on the config's threads (the
matrix products alone cannot beat the ceiling, so above ~90% the target is out of reach).

    make bench-venv                         # torch==2.13.0 (CPU) and scikit-learn
    .venv/bin/python benchmarks/frameworks.py [--repeats 5] [--epochs 1] [--threads auto]

The header names the OpenBLAS kernel NumPy runs. Where the environment forces one with
OPENBLAS_CORETYPE (some machines set it for old OpenBLAS builds), unset it and OPENBLAS_L2_SIZE
for the benchmark command alone, or NumPy competes on older kernels than PyTorch's MKL:
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/frameworks.py``.

Needs the prepared data: run `make repro` first.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
import warnings
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from mnist_mlp.errors import ParamsError
from mnist_mlp.nn import Architecture
from mnist_mlp.params import Params
from mnist_mlp.splits import Split, load_split, one_hot
from mnist_mlp.training import blas_threads, train, usable_cpus


@dataclass
class Config:
    name: str
    overrides: dict

    def params(self, epochs: int, threads: int | str, rows: int) -> Params:
        """Params for ``epochs`` epochs on ``threads`` threads, ``auto`` resolved for ``rows``."""
        raw = {k: dict(v) for k, v in self.overrides.items()}
        raw.setdefault("train", {}).update(epochs=epochs, threads=threads)
        params = Params.model_validate(raw)
        batch = rows if params.train.batch_size == "full" else params.train.batch_size
        raw["train"]["threads"] = blas_threads(threads, architecture(params), batch)
        return Params.model_validate(raw)


def architecture(params: Params) -> Architecture:
    return Architecture(hidden=tuple(params.model.hidden))


TUTORIAL = {"onehot": {"label_smoothing": 0.0}}
SGD = {"optimizer": "sgd", "schedule": "constant"}
CONFIGS = [
    Config("default 784-512-256-10 adam b128", {}),
    Config("tut-2layer-10 784-10-10 full-batch",
           {**TUTORIAL, "model": {"hidden": [10], "init": "uniform"},
            "train": {**SGD, "lr": 0.1, "batch_size": "full"}}),
    Config("tut-128-64 784-128-64-10 full-batch",
           {**TUTORIAL, "model": {"hidden": [128, 64]},
            "train": {**SGD, "lr": 0.5, "batch_size": "full"}}),
    Config("tut-64-64 784-64-64-10 b32",
           {**TUTORIAL, "model": {"hidden": [64, 64]},
            "train": {**SGD, "lr": 0.1, "batch_size": 32}}),
    Config("tut-64 784-64-10 b64",
           {**TUTORIAL, "model": {"hidden": [64]}, "train": {**SGD, "lr": 0.1, "batch_size": 64}}),
    Config("tut-sigmoid-mse 784-128-10 b128",
           {**TUTORIAL, "model": {"hidden": [128], "activation": "sigmoid",
                                  "output": "sigmoid_mse", "init": "xavier"},
            "train": {**SGD, "lr": 0.01, "batch_size": 128}}),
]


# --- the three trainers: each returns (seconds of each epoch after the first, test accuracy) --

def run_numpy(params: Params, data) -> tuple[list[float], float]:
    tr, dv, te = data
    result = train(params.model, params.train, tr, one_hot(tr.y), dv, one_hot(dv.y),
                   progress="none")
    accuracy = float(np.mean(result.model.predict_proba(te.x).argmax(1) == te.y))
    return [row["seconds"] for row in result.history][1:], accuracy


def torch_mlp(hidden, activation: str = "relu"):
    """784-hidden-10 as ``nn.Sequential``: Linear layers with the activation between them."""
    import torch

    act = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}[activation]
    widths = [784, *hidden, 10]
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(act())
    return torch.nn.Sequential(*layers)


def run_torch(params: Params, data) -> tuple[list[float], float]:
    import torch

    torch.manual_seed(params.train.seed)
    torch.set_num_threads(params.train.threads)
    tr, _, te = data
    m, t = params.model, params.train
    net = torch_mlp(m.hidden, m.activation)
    opt = (torch.optim.Adam(net.parameters(), lr=t.lr) if t.optimizer == "adam"
           else torch.optim.SGD(net.parameters(), lr=t.lr))
    x, y = torch.from_numpy(tr.x), torch.from_numpy(tr.y.astype(np.int64))
    targets = torch.nn.functional.one_hot(y, 10).float()
    mse = m.output == "sigmoid_mse"
    n = len(x)
    batch = n if t.batch_size == "full" else t.batch_size
    seconds = []
    for _ in range(t.epochs):
        start = time.perf_counter()
        order = torch.randperm(n)
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            logits = net(x[idx])
            if mse:
                loss = ((torch.sigmoid(logits) - targets[idx]) ** 2).sum(1).mean()
            else:
                loss = torch.nn.functional.cross_entropy(logits, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        seconds.append(time.perf_counter() - start)
    with torch.no_grad():
        accuracy = float((net(torch.from_numpy(te.x)).argmax(1).numpy() == te.y).mean())
    return seconds[1:], accuracy


def run_sklearn(params: Params, data) -> tuple[list[float], float]:
    from sklearn import config_context
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    tr, _, te = data
    m, t = params.model, params.train
    clf = MLPClassifier(hidden_layer_sizes=tuple(m.hidden),
                        activation={"sigmoid": "logistic"}.get(m.activation, m.activation),
                        solver="adam" if t.optimizer == "adam" else "sgd", momentum=0.0,
                        nesterovs_momentum=False, learning_rate_init=t.lr, alpha=0.0,
                        batch_size=len(tr.x) if t.batch_size == "full" else t.batch_size,
                        shuffle=True, random_state=t.seed)
    classes = np.arange(10)
    seconds = []
    # assume_finite: fit() would check the 55k x 784 input once; per-epoch partial_fit calls
    # should not each pay for that scan (9 ms here, a tenth of a full-batch 784-10-10 epoch).
    with threadpool_limits(t.threads), warnings.catch_warnings(), \
            config_context(assume_finite=True):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(t.epochs):  # partial_fit is one epoch; optimizer state carries over
            start = time.perf_counter()
            clf.partial_fit(tr.x, tr.y, classes=classes)
            seconds.append(time.perf_counter() - start)
    accuracy = float(np.mean(clf.predict(te.x) == te.y))
    return seconds[1:], accuracy


TRAINERS = {"numpy": run_numpy, "torch": run_torch, "sklearn": run_sklearn}


def paired(runs: dict[str, list[float]], peer: str) -> str:
    """Median and range of numpy/peer over the repeats, each ratio from back-to-back runs."""
    ratios = sorted(a / b for a, b in zip(runs["numpy"], runs[peer]))
    return f"{statistics.median(ratios):.2f}x ({ratios[0]:.2f}–{ratios[-1]:.2f})"


def blas_description() -> str:
    """The OpenBLAS build and kernel NumPy runs, and the variables that force a kernel."""
    libraries = [f"{i['internal_api']} {i['version']}, {i.get('architecture', '?')} kernels"
                 for i in threadpool_info() if i["user_api"] == "blas"]
    forced = [f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
              if k in os.environ]
    return "; ".join(libraries) + (f" (forced by {' '.join(forced)})" if forced else "")


def sgemm_ceiling(threads: int, size: int = 2048, repeats: int = 5) -> float:
    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    out = np.empty_like(a)
    with threadpool_limits(threads):
        np.matmul(a, b, out=out)
        best = min(_timed(lambda: np.matmul(a, b, out=out)) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def sample_pool(train_split: Split, dev_split: Split) -> Split:
    """Train then dev rows, 60k in all: enough rows to time an epoch over all of MNIST's
    training images (timing only; the dev split is still what each epoch is scored on)."""
    return Split(np.concatenate([train_split.x, dev_split.x]),
                 np.concatenate([train_split.y, dev_split.y]), train_split.normalization)


def subsample(split: Split, n: int) -> Split:
    return Split(np.ascontiguousarray(split.x[:n]), split.y[:n], split.normalization)


def scaling_table(data, threads: int | str) -> None:
    """Each run is preceded by its own sgemm ceiling measurement (the machine's clock drifts
    by 20% over minutes), and the percentage is the median of the per-run ratios."""
    tr, dv, te = data
    pool = sample_pool(tr, dv)
    print("\nScaling of this trainer (adam, 1 timed epoch after a warm-up one, median of 3 "
          "runs, each next to its own sgemm ceiling; default 784-512-256-10, batch 128, the "
          f"{len(tr.x) // 1000}k train rows unless varied; sample counts above that add the dev "
          "rows):")
    print("| varied | value | threads | s/epoch | GFLOP/s | % of sgemm ceiling |\n"
          "|---|---|---|---|---|---|")
    cases = [("hidden width (784-w-10)", w, {"model": {"hidden": [w]}}, len(tr.x))
             for w in (64, 256, 1024, 2048)]
    cases += [("batch", b, {"train": {"batch_size": b}}, len(tr.x)) for b in (32, 128, 512, 1024)]
    cases += [("samples", n, {}, n) for n in (10_000, 30_000, 60_000) if n <= len(pool.x)]
    for what, value, overrides, n in cases:
        params = Config(what, overrides).params(epochs=2, threads=threads, rows=n)
        sub = (subsample(pool, n), dv, te)  # train rows first: up to len(tr.x), the train split
        flops = architecture(params).training_flops_per_sample() * n
        seconds, shares = [], []
        for _ in range(3):
            ceiling = sgemm_ceiling(params.train.threads)
            seconds.append(run_numpy(params, sub)[0][0])
            shares.append(flops / seconds[-1] / 1e9 / ceiling)
        sec = statistics.median(seconds)
        print(f"| {what} | {value} | {params.train.threads} | {sec:.3f} | "
              f"{flops / sec / 1e9:.1f} | {100 * statistics.median(shares):.0f}% |", flush=True)


def positive_int(text: str) -> int:
    """argparse type for widths, batch sizes, counts of runs, epochs or steps: a whole number
    above 0."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=positive_int, default=5,
                        help="interleaved runs per trainer")
    parser.add_argument("--epochs", type=positive_int, default=1,
                        help="timed epochs per run (after one untimed warm-up epoch)")
    parser.add_argument("--threads", default="auto",
                        type=lambda v: v if v == "auto" else positive_int(v),
                        help="threads for all three trainers: N, or auto (this trainer's pick)")
    parser.add_argument("--only", nargs="*", help="config name prefixes")
    parser.add_argument("--no-scaling", action="store_true")
    args = parser.parse_args()
    try:  # the trainer's own rule for the count, before anything is measured
        blas_threads(args.threads, Architecture(), 1)
    except ParamsError as exc:
        parser.error(f"--threads {args.threads}: {exc}")
    missing = [name for name in ("torch", "sklearn") if importlib.util.find_spec(name) is None]
    if missing:
        parser.exit(2, f"error: {' and '.join(missing)} not installed; they are the bench extra: "
                       "make bench-venv\n")
    data = tuple(load_split(f"data/prepared/{s}.npz") for s in ("train", "dev", "test"))
    n = len(data[0].x)
    print(f"{n} training rows, {args.epochs} timed epochs per run after a warm-up epoch, "
          f"{args.repeats} interleaved runs, threads: {args.threads}")
    import torch

    print(f"NumPy {np.__version__}: {blas_description()}; PyTorch {torch.__version__}: "
          f"{torch.backends.cpu.get_cpu_capability()} kernels")
    ceilings = {t: sgemm_ceiling(t) for t in (range(1, min(2, usable_cpus()) + 1)
                                               if args.threads == "auto" else (args.threads,))}
    for threads, ceiling in ceilings.items():
        print(f"float32 sgemm ceiling (2048^3, {threads} thread(s)): {ceiling:.1f} GFLOP/s")
    print("\nnumpy/peer: median (range) of the ratios of back-to-back runs")
    print("\n| config | threads | numpy s/epoch | torch s/epoch | sklearn s/epoch | numpy/torch | "
          "numpy/sklearn | numpy GFLOP/s | 0.35x sklearn needs | "
          "test acc numpy / torch / sklearn |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for config in CONFIGS:
        if args.only and not any(config.name.startswith(o) for o in args.only):
            continue
        params = config.params(args.epochs + 1, args.threads, rows=n)
        runs = {name: [] for name in TRAINERS}  # per repeat: median s/epoch of that run
        accuracy = {}
        for _ in range(args.repeats):
            for name, trainer in TRAINERS.items():
                seconds, accuracy[name] = trainer(params, data)
                runs[name].append(statistics.median(seconds))
        med = {name: statistics.median(t) for name, t in runs.items()}
        flops = architecture(params).training_flops_per_sample() * n
        needed = flops / (0.35 * med["sklearn"]) / 1e9
        ceiling = ceilings.get(params.train.threads)
        share = f" ({100 * needed / ceiling:.0f}%)" if ceiling else ""
        print(f"| {config.name} | {params.train.threads} | {med['numpy']:.3f} | "
              f"{med['torch']:.3f} | {med['sklearn']:.3f} | {paired(runs, 'torch')} | "
              f"{paired(runs, 'sklearn')} | {flops / med['numpy'] / 1e9:.1f} | "
              f"{needed:.0f} GFLOP/s{share} | "
              f"{accuracy['numpy']:.4f} / {accuracy['torch']:.4f} / {accuracy['sklearn']:.4f} |",
              flush=True)
    if not args.no_scaling:
        scaling_table(data, args.threads)


if __name__ == "__main__":
    main()
