"""Optimizers: update parameters in place from gradients computed elsewhere.

``step(params, grads, lr, decayed=None)`` takes parallel lists of arrays; ``decayed`` marks the
arrays an L2 penalty applies to (by default the matrices, not the bias vectors). Hyperparameters
are Python floats so float32 parameters stay float32 (a NumPy float64 scalar would promote
them). Per-parameter state, including a scratch array, is allocated on the first step with the
parameter's shape and dtype, so updates allocate nothing: every operation writes in place.

Each optimizer's ``_update`` is the reference: NumPy passes over whole arrays. ``_update_fused``
does the same arithmetic as one compiled loop (kernels.py), with the same bits; ``step`` takes
it whenever ``fused`` is on and the arrays allow it (one dtype, C-contiguous). Before a fused
update ``step`` may first claim the parameters' cache lines (``LineClaims``): that changes no
value, only how long the update takes on some machines. Both ways store a moment that decays
below the smallest normal float as zero (``zero_subnormals``): on an Intel Xeon arithmetic on
subnormal numbers made the default run's later epochs 1.5x as long.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import deque

import numpy as np

from .compiled import claim_cache_lines, fusable, kernels as compiled_kernels


class LineClaims:
    """Whether to store one value per cache line back into the parameters before an update
    (kernels.claim_lines), chosen step by step from how long the update took each way.

    On some VMs, for spans of seconds to minutes, a core's first write to a cache line that
    the other core has read is slow, and the parameters are such lines: both BLAS threads read
    them in the forward and backward passes. A compiled update then stalls on those writes:
    over the default net, after a 2-thread backward pass, Adam took 1.45 ms where it takes 0.19
    in the machine's other mode. Storing one value per line back first, in a loop that does
    nothing else, took 0.34 ms, and the update after it 0.18 ms. Where such writes are not
    slow, that loop costs 0.03-0.04 ms per update (benchmarks/slow_mode.py; benchmarks/HISTORY.md,
    "Modes of the AMD EPYC machine of 2026-12-01"). The store changes no value, so choosing by
    the clock cannot change a result: each way is tried once, then the way with the lower
    median of its last ``WINDOW`` timings is taken, and every ``RETRY_EVERY``-th step the other
    way, so that a change of the machine's mode is seen within a few dozen steps.

    An update split over numba's pool (``Optimizer.parallel``) stalls so too: on the same EPYC
    model (2026-12-06, slow mode) pooled Adam took 0.68-0.98 ms without claims and 0.52-0.53
    with the claims in one loop. There each thread claims the half it then updates: 0.32 ms
    against 0.74 without claims (fast mode 0.14 against 0.11).
    """

    WINDOW = 5
    RETRY_EVERY = 16

    def __init__(self) -> None:
        self._seconds = {False: deque(maxlen=self.WINDOW), True: deque(maxlen=self.WINDOW)}
        self._steps = 0

    def choose(self) -> bool:
        self._steps += 1
        for claim, seconds in self._seconds.items():
            if not seconds:
                return claim
        faster = statistics.median(self._seconds[True]) < statistics.median(self._seconds[False])
        return not faster if self._steps % self.RETRY_EVERY == 0 else faster

    def record(self, claim: bool, seconds: float) -> None:
        self._seconds[claim].append(seconds)


def zero_subnormals(moment: np.ndarray, scratch: np.ndarray) -> None:
    """Replace each subnormal value of an optimizer's moment by a zero of its sign, as a CPU's
    flush-to-zero mode would (the compiled loops do the same: kernels.py, ``_flushed``).

    A moment whose gradients stop (an input pixel that is blank in nearly every image, a unit
    that stays off) decays geometrically, and spends its last ~150 steps (Adam's first moment)
    to ~16,000 (its second) below the smallest normal float before it rounds to zero. Intel
    CPUs take a microcode assist of ~100 cycles or more for arithmetic on or giving such a
    number: on an Intel Xeon (family 6 model 167, 2026-12-01) the default run's Adam update
    grew from 0.37 ms per step to 1.48 ms by epoch 8, when 2-3% of the first moments were
    subnormal, and its epochs from 1.03 to 1.47 s (benchmarks/subnormals.py). Flushed, a moment
    is zero or normal. The parameters stay the same in practice: a subnormal moment moves a
    parameter by less than 1e-30, below the last bit of any parameter larger than ~1e-23.
    """
    np.abs(moment, out=scratch)
    np.less(scratch, np.finfo(moment.dtype).tiny, out=scratch)  # 1 where subnormal or zero
    np.subtract(1, scratch, out=scratch)
    moment *= scratch  # NaN and inf are not below tiny: multiplied by 1, they stay


class Optimizer:
    #: Names of the per-parameter arrays an update carries from step to step, zeros at first.
    MOMENTS: tuple[str, ...] = ()
    #: Whether the fused update has a loop split in halves over numba's pool (``parallel``).
    HALVES = False

    def __init__(self, weight_decay: float = 0.0, fused: bool = True) -> None:
        #: Coupled L2 penalty ``weight_decay/2 * ||W||^2``, added to the weight matrices'
        #: gradients.
        self.weight_decay = float(weight_decay)
        #: Update through the compiled loop when it can (same numbers; False: NumPy passes only).
        self.fused = fused
        #: Claim the parameters' cache lines before a fused update: None chooses by timing
        #: (``LineClaims``); True or False always or never (the same numbers either way).
        self.claim_lines: bool | None = None
        #: Store moments that fall below the smallest normal float as zeros
        #: (``zero_subnormals``); False keeps them as IEEE arithmetic gives them.
        self.flush_subnormals = True
        #: Split a fused update over numba's thread pool where the optimizer has such a loop
        #: (SGD, Adam; the same numbers). Set by ``training.training_threads`` inside
        #: ``blas_pool.shared_pool``: elsewhere that pool fights OpenBLAS's spinning threads.
        self.parallel = False
        self.steps = 0
        self._state: list[dict[str, np.ndarray]] | None = None
        self._claims = LineClaims()

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], lr: float,
             decayed: list[bool] | None = None) -> None:
        self.steps += 1
        if self._state is None:
            self._state = [self._buffers(p) | {name: np.zeros_like(p) for name in self.MOMENTS}
                           for p in params]
        if decayed is None:
            decayed = [p.ndim > 1 for p in params]
        kernels = compiled_kernels() if self.fused else None
        claim = kernels is not None and (self._claims.choose() if self.claim_lines is None
                                         else self.claim_lines)
        start = time.perf_counter()
        for param, grad, state, decay in zip(params, grads, self._state, decayed):
            if self.weight_decay and decay:
                # grad + decay * param, in a buffer of its own: the caller's gradient is kept.
                penalised = np.multiply(param, self.weight_decay, out=state["penalised_grad"])
                penalised += grad
                grad = penalised
            if kernels is not None and fusable(param, grad, *state.values()):
                # 1-D views (reshape of a C-contiguous array never copies), scalars in the
                # arrays' dtype, as NumPy casts Python floats in the passes.
                flat_state = {name: a.reshape(-1) for name, a in state.items()}
                if claim:
                    claim_cache_lines(param, halves=self.split_update)
                self._update_fused(kernels, param.reshape(-1), grad.reshape(-1), flat_state,
                                   param.dtype.type, float(lr), decay)
            else:
                self._update(param, grad, state, float(lr), decay)
        if kernels is not None and self.claim_lines is None:
            self._claims.record(claim, time.perf_counter() - start)

    def _buffers(self, param: np.ndarray) -> dict[str, np.ndarray]:
        """Work arrays every optimizer gets, so no update allocates."""
        buffers = {"scratch": np.empty_like(param)}
        if self.weight_decay:
            buffers["penalised_grad"] = np.empty_like(param)
        return buffers

    def moments(self) -> list[np.ndarray]:
        """Every parameter's ``MOMENTS`` arrays, in order (none before the first step)."""
        return [state[name] for state in self._state or () for name in self.MOMENTS]

    def _flush(self, moment: np.ndarray, scratch: np.ndarray) -> None:
        if self.flush_subnormals:
            zero_subnormals(moment, scratch)

    @property
    def split_update(self) -> bool:
        """The fused update runs in halves over numba's pool, each half's thread claiming the
        lines it writes: ``parallel`` is set and this optimizer has such a loop."""
        return self.parallel and self.HALVES

    def _floor(self, param: np.ndarray) -> np.floating:
        """For the compiled loops: a moment below this in magnitude is stored as zero."""
        return np.finfo(param.dtype).tiny if self.flush_subnormals else param.dtype.type(0)

    def _update(self, param, grad, state, lr, decayed) -> None:
        raise NotImplementedError

    def _update_fused(self, kernels, param, grad, state, scalar, lr, decayed) -> None:
        """``_update`` through ``kernels``; arrays 1-D, ``scalar`` the arrays' scalar type."""
        raise NotImplementedError


class SGD(Optimizer):
    """Plain gradient descent: ``p -= lr * g``."""

    HALVES = True

    def _update(self, param, grad, state, lr, decayed):
        scratch = np.multiply(grad, lr, out=state["scratch"])
        param -= scratch

    def _update_fused(self, kernels, param, grad, state, scalar, lr, decayed):
        (kernels.sgd_halves if self.split_update else kernels.sgd)(param, grad, scalar(lr))


class Momentum(Optimizer):
    """Heavy-ball momentum, ``v = mu v + g; p -= lr v``; Nesterov looks ahead:
    ``p -= lr (g + mu v)``."""

    MOMENTS = ("velocity",)

    def __init__(self, momentum: float = 0.9, nesterov: bool = False, weight_decay: float = 0.0,
                 fused: bool = True):
        super().__init__(weight_decay, fused)
        self.momentum = float(momentum)
        self.nesterov = nesterov

    def _update(self, param, grad, state, lr, decayed):
        v, scratch = state["velocity"], state["scratch"]
        v *= self.momentum
        v += grad
        self._flush(v, scratch)
        if self.nesterov:
            np.multiply(v, self.momentum, out=scratch)
            scratch += grad
            scratch *= lr
        else:
            np.multiply(v, lr, out=scratch)
        param -= scratch

    def _update_fused(self, kernels, param, grad, state, scalar, lr, decayed):
        kernels.momentum(param, grad, state["velocity"], scalar(self.momentum), scalar(lr),
                         self.nesterov, self._floor(param))


class RMSprop(Optimizer):
    """``s = rho s + (1 - rho) g^2; p -= lr g / (sqrt(s) + eps)``."""

    MOMENTS = ("square_avg",)

    def __init__(self, rho: float = 0.9, eps: float = 1e-8, weight_decay: float = 0.0,
                 fused: bool = True):
        super().__init__(weight_decay, fused)
        self.rho, self.eps = float(rho), float(eps)

    def _update(self, param, grad, state, lr, decayed):
        s, scratch = state["square_avg"], state["scratch"]
        s *= self.rho
        np.multiply(grad, grad, out=scratch)
        scratch *= 1 - self.rho
        s += scratch
        self._flush(s, scratch)
        np.sqrt(s, out=scratch)
        scratch += self.eps
        np.divide(grad, scratch, out=scratch)
        scratch *= lr
        param -= scratch

    def _update_fused(self, kernels, param, grad, state, scalar, lr, decayed):
        kernels.rmsprop(param, grad, state["square_avg"], scalar(self.rho), scalar(1 - self.rho),
                        scalar(self.eps), scalar(lr), self._floor(param))


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction.

    ``decoupled_weight_decay`` turns it into AdamW (Loshchilov & Hutter 2019): weights shrink by
    ``lr * decay`` directly instead of the decay entering the adaptive gradient.
    """

    MOMENTS = ("m", "v")
    HALVES = True

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: float = 0.0,
                 fused: bool = True):
        super().__init__(weight_decay, fused)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.decoupled_weight_decay = float(decoupled_weight_decay)

    def _update(self, param, grad, state, lr, decayed):
        m, v, scratch = state["m"], state["v"], state["scratch"]
        b1, b2 = self.beta1, self.beta2
        m *= b1
        np.multiply(grad, 1 - b1, out=scratch)
        m += scratch
        v *= b2
        np.multiply(grad, grad, out=scratch)
        scratch *= 1 - b2
        v += scratch
        self._flush(m, scratch)
        self._flush(v, scratch)
        step_size, eps_hat = self._corrected(lr)
        if self.decoupled_weight_decay and decayed:
            param *= 1 - lr * self.decoupled_weight_decay
        # p -= step_size * m / (sqrt(v) + eps_hat), i.e. bias-corrected Adam, in one scratch array.
        np.sqrt(v, out=scratch)
        scratch += eps_hat
        np.divide(m, scratch, out=scratch)
        scratch *= step_size
        param -= scratch

    def _update_fused(self, kernels, param, grad, state, scalar, lr, decayed):
        b1, b2 = self.beta1, self.beta2
        step_size, eps_hat = self._corrected(lr)
        keep = 1 - lr * self.decoupled_weight_decay if decayed else 1.0
        update = kernels.adam_halves if self.split_update else kernels.adam
        update(param, grad, state["m"], state["v"], scalar(b1), scalar(1 - b1), scalar(b2),
               scalar(1 - b2), scalar(eps_hat), scalar(step_size), scalar(keep),
               self._floor(param))

    def _corrected(self, lr: float) -> tuple[float, float]:
        """Step size and epsilon with the bias correction of step ``self.steps`` folded in."""
        t = self.steps
        correction2 = math.sqrt(1 - self.beta2**t)
        return lr * correction2 / (1 - self.beta1**t), self.eps * correction2


def make_optimizer(name: str, *, momentum: float = 0.9, rho: float = 0.9, beta1: float = 0.9,
                   beta2: float = 0.999, eps: float = 1e-8, l2: float = 0.0,
                   weight_decay: float = 0.0) -> Optimizer:
    """Build an optimizer by its params.yaml name."""
    if name == "sgd":
        return SGD(weight_decay=l2)
    if name in ("momentum", "nesterov"):
        return Momentum(momentum, nesterov=name == "nesterov", weight_decay=l2)
    if name == "rmsprop":
        return RMSprop(rho=rho, eps=eps, weight_decay=l2)
    if name == "adam":
        return Adam(beta1, beta2, eps, weight_decay=l2)
    if name == "adamw":
        return Adam(beta1, beta2, eps, weight_decay=l2, decoupled_weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")
