"""Optimizers: update parameters in place from gradients computed elsewhere.

``step(params, grads, lr, decayed=None)`` takes parallel lists of arrays; ``decayed`` marks the
arrays an L2 penalty applies to (by default the matrices, not the bias vectors). Hyperparameters
are Python floats so float32 parameters stay float32 (a NumPy float64 scalar would promote
them). Per-parameter state, including a scratch array, is allocated on the first step with the
parameter's shape and dtype, so updates allocate nothing: every operation writes in place.
"""

from __future__ import annotations

import math

import numpy as np


class Optimizer:
    def __init__(self, weight_decay: float = 0.0) -> None:
        #: Coupled L2 penalty ``weight_decay/2 * ||W||^2`` added to the gradient of weight matrices.
        self.weight_decay = float(weight_decay)
        self.steps = 0
        self._state: list[dict[str, np.ndarray]] | None = None

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], lr: float,
             decayed: list[bool] | None = None) -> None:
        self.steps += 1
        if self._state is None:
            self._state = [self._buffers(p) | self._init_state(p) for p in params]
        if decayed is None:
            decayed = [p.ndim > 1 for p in params]
        for param, grad, state, decay in zip(params, grads, self._state, decayed):
            if self.weight_decay and decay:
                # grad + decay * param, in a buffer of its own: the caller's gradient is kept.
                penalised = np.multiply(param, self.weight_decay, out=state["penalised_grad"])
                penalised += grad
                grad = penalised
            self._update(param, grad, state, float(lr), decay)

    def _buffers(self, param: np.ndarray) -> dict[str, np.ndarray]:
        """Work arrays every optimizer gets, so no update allocates."""
        buffers = {"scratch": np.empty_like(param)}
        if self.weight_decay:
            buffers["penalised_grad"] = np.empty_like(param)
        return buffers

    def _init_state(self, param: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def _update(self, param, grad, state, lr, decayed) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Plain gradient descent: ``p -= lr * g``."""

    def _update(self, param, grad, state, lr, decayed):
        scratch = np.multiply(grad, lr, out=state["scratch"])
        param -= scratch


class Momentum(Optimizer):
    """Heavy-ball momentum, ``v = mu v + g; p -= lr v``; Nesterov looks ahead: ``p -= lr (g + mu v)``."""

    def __init__(self, momentum: float = 0.9, nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(weight_decay)
        self.momentum = float(momentum)
        self.nesterov = nesterov

    def _init_state(self, param):
        return {"velocity": np.zeros_like(param)}

    def _update(self, param, grad, state, lr, decayed):
        v, scratch = state["velocity"], state["scratch"]
        v *= self.momentum
        v += grad
        if self.nesterov:
            np.multiply(v, self.momentum, out=scratch)
            scratch += grad
            scratch *= lr
        else:
            np.multiply(v, lr, out=scratch)
        param -= scratch


class RMSprop(Optimizer):
    """``s = rho s + (1 - rho) g^2; p -= lr g / (sqrt(s) + eps)``."""

    def __init__(self, rho: float = 0.9, eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(weight_decay)
        self.rho, self.eps = float(rho), float(eps)

    def _init_state(self, param):
        return {"square_avg": np.zeros_like(param)}

    def _update(self, param, grad, state, lr, decayed):
        s, scratch = state["square_avg"], state["scratch"]
        s *= self.rho
        np.multiply(grad, grad, out=scratch)
        scratch *= 1 - self.rho
        s += scratch
        np.sqrt(s, out=scratch)
        scratch += self.eps
        np.divide(grad, scratch, out=scratch)
        scratch *= lr
        param -= scratch


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction.

    ``decoupled_weight_decay`` turns it into AdamW (Loshchilov & Hutter 2019): weights shrink by
    ``lr * decay`` directly instead of the decay entering the adaptive gradient.
    """

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: float = 0.0):
        super().__init__(weight_decay)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.decoupled_weight_decay = float(decoupled_weight_decay)

    def _init_state(self, param):
        return {"m": np.zeros_like(param), "v": np.zeros_like(param)}

    def _update(self, param, grad, state, lr, decayed):
        m, v, scratch = state["m"], state["v"], state["scratch"]
        b1, b2, t = self.beta1, self.beta2, self.steps
        m *= b1
        np.multiply(grad, 1 - b1, out=scratch)
        m += scratch
        v *= b2
        np.multiply(grad, grad, out=scratch)
        scratch *= 1 - b2
        v += scratch
        step_size = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        eps_hat = self.eps * math.sqrt(1 - b2**t)
        if self.decoupled_weight_decay and decayed:
            param *= 1 - lr * self.decoupled_weight_decay
        # p -= step_size * m / (sqrt(v) + eps_hat), i.e. bias-corrected Adam, in one scratch array.
        np.sqrt(v, out=scratch)
        scratch += eps_hat
        np.divide(m, scratch, out=scratch)
        scratch *= step_size
        param -= scratch


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
