"""The train stage: mini-batch (or full-batch) training of the MLP with per-epoch history.

History columns: train_loss and train_accuracy are means over the epoch's batches as trained
(in training mode, while the weights move); dev_loss and dev_accuracy are measured after the
epoch; learning_rate is the rate at the epoch's start; seconds is the epoch's training time
without the dev evaluation and without numba's one-time import and set-up (a loop compiled on
a cold cache still counts in the epoch that first calls it).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from .errors import ParamsError, TrainingDiverged
from .augment import Augmenter
from .batches import BatchImages
from .cpu_claims import cpu_claim
from .nn import (MLP, Architecture, Dense, Optimizer, Schedule, build_mlp, compiled,
                 init_weights, make_optimizer)
from .params import AugmentParams, ModelParams, TrainParams
from .splits import Split

#: An epoch whose mean training loss exceeds the very first batch's loss by this factor has
#: diverged even while its loss is still finite (normal training only ever goes below it).
DIVERGENCE_FACTOR = 10.0

#: ``threads: auto`` trains on one BLAS thread below this much matrix-product work per step,
#: where waking a second thread for every product can cost more than it saves: on the 2-core
#: VM, small networks at batch 32 ran 1.24-1.35x faster on one thread in some runs, while in
#: others two threads were 11-20% faster (benchmarks/HISTORY.md has both; unresolved).
ONE_THREAD_MAX_FLOPS_PER_STEP = 40e6

HISTORY_COLUMNS = ("epoch", "train_loss", "train_accuracy", "dev_loss", "dev_accuracy",
                   "learning_rate", "seconds")


@dataclass
class TrainResult:
    model: MLP
    history: list[dict] = field(default_factory=list)
    #: The epoch whose weights the model holds (the best one under early stopping).
    chosen_epoch: int = 0
    #: BLAS threads it trained on (``train.threads`` resolved; 0: the library's default).
    blas_threads: int = 0
    #: Whether OpenBLAS's threaded jobs ran in numba's pool, shared with the optimizer's
    #: update (nn/blas_pool.py); the results are the same bits either way.
    shared_pool: bool = False

    def history_csv(self) -> str:
        lines = [",".join(HISTORY_COLUMNS)]
        lines += [",".join(f"{row[c]:.6g}" if isinstance(row[c], float) else str(row[c])
                           for c in HISTORY_COLUMNS) for row in self.history]
        return "\n".join(lines) + "\n"

    def metrics(self) -> dict:
        """The chosen epoch's figures (no timings, so equal runs give equal files)."""
        chosen = self.history[self.chosen_epoch - 1]
        return {"epochs": len(self.history), "chosen_epoch": self.chosen_epoch,
                **{k: round(chosen[k], 6) for k in HISTORY_COLUMNS[1:5]}}

    @property
    def seconds(self) -> float:
        return sum(row["seconds"] for row in self.history)


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity mask where the OS keeps one (``taskset``,
    a container's cpuset), else the machine's count."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def blas_threads(setting: int | str, architecture: Architecture, batch_size: int,
                 cpus: int | None = None) -> int:
    """The BLAS thread count for ``train.threads`` (0: leave the library's own default), never
    more than ``cpus`` (default: ``usable_cpus()``). OpenBLAS's threads wait for each other by
    spinning, so a thread without a CPU of its own stalls every product: on the 2-CPU EPYC
    (2026-12-06) a default epoch took 34.6 s on 3 threads against 1.1 s on 2, and, pinned to
    one CPU, 37.9 s on 2 threads against 1.8 s on 1. A count above ``cpus`` is a ParamsError;
    ``auto`` takes one thread where there is one CPU (whose results differ from two threads'
    in the last bits, as any other thread count's do)."""
    cpus = usable_cpus() if cpus is None else cpus
    if setting != "auto":
        if setting > cpus:
            raise ParamsError(
                f"train.threads = {setting} is more than the {cpus} CPU{'s' * (cpus > 1)} this "
                "process may use; BLAS threads without a CPU of their own stall every product "
                f"(3 threads on 2 CPUs made a default epoch 31x as long): use at most {cpus}, "
                "auto or 0")
        return setting
    flops = architecture.training_flops_per_sample() * batch_size
    return 1 if flops < ONE_THREAD_MAX_FLOPS_PER_STEP or cpus < 2 else 2


def build_model(model_params: ModelParams, input_dim: int, rng: np.random.Generator) -> MLP:
    arch = Architecture(input_dim=input_dim, hidden=tuple(model_params.hidden),
                        activation=model_params.activation, output=model_params.output,
                        dropout=model_params.dropout, batchnorm=model_params.batchnorm)
    return build_mlp(arch, init_weights(arch, model_params.init, rng), rng=rng)


class EarlyStopping:
    """Remembers the best epoch's weights by a dev metric; says when patience has run out."""

    def __init__(self, metric: str, patience: int):
        self.metric, self.patience = metric, patience
        self.best_epoch, self.best_value, self.snapshot = 0, None, None

    def update(self, epoch: int, row: dict, model: MLP) -> bool:
        """Record ``row``; True when training should stop."""
        value = row[self.metric] * (-1 if self.metric == "dev_accuracy" else 1)
        if self.best_value is None or value < self.best_value:
            self.best_epoch, self.best_value = epoch, value
            self.snapshot = [a.copy() for a in _model_arrays(model)]
        return epoch - self.best_epoch >= self.patience

    def restore(self, model: MLP) -> None:
        for target, saved in zip(_model_arrays(model), self.snapshot):
            target[...] = saved


def _model_arrays(model: MLP) -> list[np.ndarray]:
    return [*model.named_params().values(), *model.named_state().values()]


def apply_max_norm(model: MLP, max_norm: float) -> None:
    """Rescale each Dense unit's incoming weights (a column of W) to norm <= max_norm."""
    for layer in model.layers:
        if isinstance(layer, Dense):
            w = layer.params["W"]
            norms = np.sqrt(np.einsum("ij,ij->j", w, w))
            w *= np.minimum(1, max_norm / np.maximum(norms, 1e-12)).astype(w.dtype)


@contextlib.contextmanager
def training_threads(threads: int, optimizer: Optimizer, full_batch: bool = False):
    """BLAS limited to ``threads`` (0: the library's default) and, for mini-batch training
    where that can serve (nn/blas_pool.py), NumPy's OpenBLAS jobs run in numba's thread pool
    with ``optimizer``'s update split over the same pool. Yields whether the pool is used.

    Full-batch training keeps OpenBLAS's own threads: one update per epoch leaves the pool
    nothing to gain, and in benchmarks/frameworks.py's interleaving of three trainers on the
    Intel Xeon (model 167) the pool's parallel calls early in a run stalled 12-21 ms at times,
    so tut-2layer-10's 45 ms epochs ran up to 3x as long (benchmarks/HISTORY.md)."""
    limits = threadpool_limits(threads) if threads else contextlib.nullcontext()
    pool = compiled.blas_pool() if optimizer.fused and not full_batch else None
    shared = pool.shared_pool(threads) if pool is not None else contextlib.nullcontext(False)
    with limits, shared as pooled:
        optimizer.parallel = pooled
        try:
            yield pooled
        finally:
            optimizer.parallel = False


class TrainObserver:
    """Hooks into ``train``'s loop for tools that measure it (benchmarks/subnormals.py sets the
    optimizer's options and times its steps). These methods do nothing; override them."""

    def started(self, model: MLP, optimizer: Optimizer) -> None:
        """Before the first step, once the parameters are in flat storage
        (``MLP.flatten_parameters``); options set on the optimizer here hold for the run."""

    def epoch_ended(self, row: dict, model: MLP, optimizer: Optimizer) -> None:
        """After each epoch, with its history row, before early stopping looks at it."""


def train(model_params: ModelParams, params: TrainParams, train_split: Split,
          train_targets: np.ndarray, dev_split: Split, dev_targets: np.ndarray,
          augment: AugmentParams | None = None, progress: str = "none",
          observer: TrainObserver | None = None, wait_for_cpus: bool = True) -> TrainResult:
    """Train a new model; raises TrainingDiverged as soon as the loss is not finite.

    ``progress``: "bar" (a tqdm bar, for terminals), "lines" (one printed line per epoch, for
    logs such as DVC's queue) or "none". ``observer`` (a ``TrainObserver``) is told when the
    run starts and each epoch ends. With ``wait_for_cpus``, the run first claims a CPU per BLAS
    thread, waiting while other trainings hold them (cpu_claims.py).
    """
    observer = observer or TrainObserver()
    n = len(train_split.x)
    batch_size = n if params.batch_size == "full" else params.batch_size
    if batch_size > n:
        raise ParamsError(f"train.batch_size = {batch_size} is larger than the {n} rows of the "
                          "train split; use at most that or 'full'")
    if model_params.batchnorm and n % batch_size == 1:
        # As params.py's rule for batch_size 1: the lone row would leave the layer's output at
        # beta and pull the running variance towards 0 (PyTorch stops at such a batch).
        raise ParamsError(f"train.batch_size = {batch_size} leaves one row of the {n} train "
                          "rows in a batch of its own each epoch, which batch normalization "
                          "(model.batchnorm) cannot normalize: it has no variance; use a size "
                          f"that does not divide {n - 1}")
    rng = np.random.default_rng(params.seed)
    model = build_model(model_params, train_split.x.shape[1], rng)
    threads = blas_threads(params.threads, model.architecture, batch_size)
    optimizer = make_optimizer(params.optimizer, momentum=params.momentum, rho=params.rho,
                               beta1=params.beta1, beta2=params.beta2, eps=params.eps,
                               l2=params.l2, weight_decay=params.weight_decay)
    schedule = Schedule(params.schedule, params.lr, params.epochs, params.warmup_epochs,
                        params.step_epochs, params.gamma, params.min_lr)
    augmenter = None
    if augment is not None and augment.enabled:
        augmenter = Augmenter(augment, background=train_split.normalization.blank_value(),
                              rng=rng)
    stopper = None if params.early_stopping == "none" else EarlyStopping(
        params.early_stopping, params.patience)
    steps_per_epoch = math.ceil(n / batch_size)
    full_batch = batch_size == n
    if not full_batch:
        x_batch = np.empty((batch_size, train_split.x.shape[1]), np.float32)
        y_batch = np.empty((batch_size, train_targets.shape[1]), np.float32)
    predicted = np.empty(n, np.intp)  # the epoch's argmax per row, in training order
    result = TrainResult(model, blas_threads=threads)
    flat = model.flatten_parameters()  # optimizer steps are a few calls over all parameters
    claim = cpu_claim(threads, usable_cpus()) if wait_for_cpus else contextlib.nullcontext()
    # Overflow on the way to divergence is detected and reported below, not warned about.
    with claim, training_threads(threads, optimizer, full_batch) as result.shared_pool, \
            np.errstate(over="ignore", invalid="ignore"):
        if model.fused:  # numba's one-time set-up, before the first epoch's clock starts
            compiled.set_up(flat.params[0].dtype)
        observer.started(model, optimizer)
        first_loss = None
        bar = tqdm(range(1, params.epochs + 1), desc="train", unit="epoch",
                   disable=progress != "bar")
        images = None if full_batch else BatchImages(train_split, parallel=result.shared_pool)
        for epoch in bar:
            start = time.perf_counter()
            order = None if full_batch else rng.permutation(n)
            loss_sum = 0.0
            for step in range(steps_per_epoch):
                rows = slice(step * batch_size, (step + 1) * batch_size)
                if full_batch:  # the whole split in its own order: no copy needed
                    xb, yb = train_split.x, train_targets
                else:  # one index array gathers images and targets together, into reused buffers
                    idx = order[rows]
                    xb = images.take(idx, x_batch[:len(idx)])
                    # mode="clip": as in BatchImages.take.
                    yb = np.take(train_targets, idx, axis=0, out=y_batch[:len(idx)], mode="clip")
                if augmenter is not None:
                    xb = augmenter(xb)
                lr = schedule.learning_rate(epoch - 1 + step / steps_per_epoch)
                loss, logits, _ = model.loss_and_gradients(xb, yb)
                if not math.isfinite(loss):
                    raise TrainingDiverged(f"training diverged at epoch {epoch} (loss={loss}); "
                                           "lower train.lr")
                first_loss = loss if first_loss is None else first_loss
                optimizer.step(flat.params, flat.grads, lr, flat.decayed)
                if params.max_norm:
                    apply_max_norm(model, params.max_norm)
                loss_sum += loss * len(logits)
                np.argmax(logits, axis=1, out=predicted[rows])
            labels = train_split.y if full_batch else train_split.y[order]
            correct = int(np.count_nonzero(predicted == labels))
            seconds = time.perf_counter() - start
            if loss_sum / n > DIVERGENCE_FACTOR * first_loss:
                raise TrainingDiverged(
                    f"training diverged at epoch {epoch} (loss={loss_sum / n:.4g}, over "
                    f"{DIVERGENCE_FACTOR:g}x the first batch's {first_loss:.4g}); lower train.lr")
            dev_loss, dev_accuracy = score(model, dev_split, dev_targets)
            if not math.isfinite(dev_loss):
                raise TrainingDiverged(f"training diverged at epoch {epoch} "
                                       f"(dev loss={dev_loss}); lower train.lr")
            row = {"epoch": epoch, "train_loss": loss_sum / n, "train_accuracy": correct / n,
                   "dev_loss": dev_loss, "dev_accuracy": dev_accuracy,
                   "learning_rate": schedule.learning_rate(epoch - 1), "seconds": seconds}
            result.history.append(row)
            observer.epoch_ended(row, model, optimizer)
            bar.set_postfix(loss=f"{row['train_loss']:.4f}", dev_acc=f"{dev_accuracy:.4f}")
            if progress == "lines":
                print(f"epoch {epoch}/{params.epochs}: train loss {row['train_loss']:.4f}, "
                      f"dev accuracy {dev_accuracy:.4f}, {seconds:.1f} s", flush=True)
            result.chosen_epoch = epoch
            if stopper is not None and stopper.update(epoch, row, model):
                break
    if stopper is not None:
        stopper.restore(model)
        result.chosen_epoch = stopper.best_epoch
    return result


def score(model: MLP, split: Split, targets: np.ndarray, batch_size: int = 4096
          ) -> tuple[float, float]:
    """(mean training loss against ``targets``, accuracy) of ``model`` on ``split``, batched."""
    loss_sum, correct = 0.0, 0
    for start in range(0, len(split.x), batch_size):
        rows = slice(start, start + batch_size)
        logits = model.forward(split.x[rows])
        loss, _ = model.output.loss_and_grad(logits, targets[rows])
        loss_sum += loss * len(logits)
        correct += int(np.count_nonzero(logits.argmax(axis=1) == split.y[rows]))
    return loss_sum / len(split.x), correct / len(split.x)
