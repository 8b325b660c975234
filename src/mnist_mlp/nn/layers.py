"""Layers: each ``forward`` keeps what its ``backward`` needs; ``backward`` returns gradients.

Every layer works in the dtype of its input (float32 in training, float64 in gradient checks)
and never mutates the arrays it was given. ``backward(dout)`` returns ``(dx, grads)`` where
``grads`` has one array per entry of ``params`` (same keys, same shapes); applying them is the
optimizer's job, so gradients can be checked against finite differences.

A layer's ``grad_buffers``, when set, are where ``backward`` writes those gradients (the network
points them into one contiguous array so the optimizer updates everything in a few calls); the
returned arrays are then those buffers, overwritten by the next ``backward``.

Where a training pass is memory-bound, a layer takes a compiled loop (kernels.py) that gives
the same bits as its NumPy code in fewer passes; ``fused = False`` keeps it on NumPy (the
reference). Evaluation stays on NumPy, so predicting never imports numba.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .compiled import fusable, kernels


class Layer:
    """Base class: a layer without parameters."""

    params: dict[str, np.ndarray]
    grad_buffers: dict[str, np.ndarray] | None = None
    #: Training passes may take compiled loops (the same bits); False: NumPy only. Set for a
    #: whole network through ``MLP.fused``.
    fused: bool = True

    def __init__(self) -> None:
        self.params = {}

    def _grad_out(self, name: str) -> np.ndarray | None:
        """The ``out=`` for parameter ``name``'s gradient: its buffer, or None for a new array."""
        return self.grad_buffers[name] if self.grad_buffers is not None else None

    def _kernels(self, *arrays: np.ndarray):
        """The compiled loops if this layer uses them and ``arrays`` suit them, else None."""
        return kernels() if self.fused and fusable(*arrays) else None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError


class Dense(Layer):
    """Affine map ``y = x @ W + b``.

    x: (n, fan_in), W: (fan_in, fan_out), b: (fan_out,) -> y: (n, fan_out).
    """

    def __init__(self, weights: np.ndarray, bias: np.ndarray) -> None:
        if weights.ndim != 2 or bias.shape != (weights.shape[1],):
            raise ValueError(f"Dense: weights {weights.shape} and bias {bias.shape} do not match")
        self.params = {"W": weights, "b": bias}
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._x = x
        out = x @ self.params["W"]
        out += self.params["b"]
        return out

    def backward(self, dout: np.ndarray, input_grad: bool = True
                 ) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
        """``input_grad=False`` skips dx (None), which the network's first layer never needs:
        that product is as large as the layer's forward pass."""
        dx = dout @ self.params["W"].T if input_grad else None
        return dx, {"W": np.matmul(self._x.T, dout, out=self._grad_out("W")),
                    "b": self._bias_grad(dout)}

    def _bias_grad(self, dout: np.ndarray) -> np.ndarray:
        out = self._grad_out("b")
        if out is None:
            out = np.empty(dout.shape[1], dout.dtype)
        compiled = self._kernels(dout, out)
        if compiled is None:
            return np.sum(dout, axis=0, out=out)
        # NumPy's column sums of a 55,000 x 128 float32 gradient took 4.2 ms, this loop 2.7 ms.
        compiled.column_sums(dout, out)
        return out


class ReLU(Layer):
    """max(x, 0), elementwise. Backward needs only the output: y > 0 exactly where x > 0."""

    def forward(self, x, training=False):
        compiled = self._kernels(x) if training else None
        if compiled is not None:
            self._y = np.empty_like(x)
            compiled.relu_forward(x.reshape(-1), self._y.reshape(-1))
        else:
            # Against a broadcast row NumPy takes its vectorised loop; against a scalar it is
            # 2-3x slower.
            self._y = np.maximum(x, _constant_row(0, x.shape[-1], x.dtype))
        return self._y

    def backward(self, dout):
        compiled = self._kernels(dout, self._y)
        if compiled is None:
            # A bool mask multiplies without promoting float32 to float64.
            return dout * (self._y > 0), {}
        dx = np.empty_like(dout)
        compiled.relu_backward(dout.reshape(-1), self._y.reshape(-1), dx.reshape(-1))
        return dx, {}


class LeakyReLU(Layer):
    """x for x > 0, ``slope * x`` otherwise (0 <= slope <= 1)."""

    def __init__(self, slope: float = 0.01) -> None:
        super().__init__()
        if not 0 <= slope <= 1:
            raise ValueError(f"leaky ReLU slope must be in [0, 1], got {slope}")
        self.slope = float(slope)

    def forward(self, x, training=False):
        # With 0 <= slope <= 1, max(x, slope * x) is exactly the definition, and unlike
        # np.where on a data-dependent mask (~50x slower here) it runs vectorised.
        out = np.multiply(x, self.slope)
        np.maximum(x, out, out=out)
        # The local derivative, 1 or slope, as floats: backward is then one multiplication.
        self._derivative = (x > 0).astype(x.dtype)
        np.maximum(self._derivative, _constant_row(self.slope, x.shape[-1], x.dtype),
                   out=self._derivative)
        return out

    def backward(self, dout):
        return dout * self._derivative, {}


class Sigmoid(Layer):
    """1 / (1 + exp(-x)), elementwise; see ``sigmoid``."""

    def forward(self, x, training=False):
        self._y = sigmoid(x)
        return self._y

    def backward(self, dout):
        y = self._y
        dx = np.subtract(1, y)
        dx *= y
        dx *= dout
        return dx, {}


class Tanh(Layer):
    def forward(self, x, training=False):
        self._y = np.tanh(x)
        return self._y

    def backward(self, dout):
        dx = np.multiply(self._y, self._y)
        np.subtract(1, dx, out=dx)
        dx *= dout
        return dx, {}


class GELU(Layer):
    """GELU with the tanh approximation of Hendrycks & Gimpel (2016):
    ``0.5 x (1 + tanh(u))`` with ``u = C (x + 0.044715 x^3)``, ``C = sqrt(2 / pi)``."""

    _C = math.sqrt(2 / math.pi)
    _K = 0.044715

    def forward(self, x, training=False):
        self._x = x
        # u = C x (1 + K x^2), with x^2 as a product: ``x**3`` takes NumPy's general power
        # loop, ~400x slower than multiplying.
        t = np.multiply(x, x)
        t *= self._K
        t += 1
        t *= x
        t *= self._C
        self._t = np.tanh(t, out=t)
        out = np.add(t, 1)
        out *= x
        out *= 0.5
        return out

    def backward(self, dout):
        # d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) C (1 + 3 K x^2)
        x, t = self._x, self._t
        du = np.multiply(x, x)
        du *= 3 * self._K * self._C
        du += self._C
        sech2 = np.multiply(t, t)
        np.subtract(1, sech2, out=sech2)
        du *= sech2
        du *= x
        du += t
        du += 1
        du *= 0.5
        du *= dout
        return du, {}


class Dropout(Layer):
    """Inverted dropout: zeroes a fraction ``rate`` of activations in training, scales the rest.

    At evaluation it is the identity. ``rng`` is the training run's generator (no global state);
    a fixed ``mask`` can be set for gradient checks.
    """

    def __init__(self, rate: float, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0 <= rate < 1:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.mask: np.ndarray | None = None
        self.fixed_mask = False

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self.mask = None
            return x
        if not (self.fixed_mask and self.mask is not None):
            keep = self.rng.random(x.shape, dtype=np.float32) >= self.rate
            self.mask = keep.astype(x.dtype) / (1 - self.rate)
        return x * self.mask

    def backward(self, dout):
        if self.mask is None:
            return dout, {}
        return dout * self.mask, {}


class BatchNorm(Layer):
    """Batch normalization over the batch axis (Ioffe & Szegedy 2015).

    x: (n, d) -> (n, d). Training uses batch statistics and updates running ones; evaluation
    uses the running statistics. gamma and beta are learned; running_mean and running_var are
    state, not parameters (they get no gradient).
    """

    def __init__(self, dim: int, dtype=np.float32, momentum: float = 0.9, eps: float = 1e-5,
                 gamma: np.ndarray | None = None, beta: np.ndarray | None = None,
                 running_mean: np.ndarray | None = None,
                 running_var: np.ndarray | None = None) -> None:
        self.params = {
            "gamma": gamma if gamma is not None else np.ones(dim, dtype),
            "beta": beta if beta is not None else np.zeros(dim, dtype),
        }
        self.state = {
            "running_mean": running_mean if running_mean is not None else np.zeros(dim, dtype),
            "running_var": running_var if running_var is not None else np.ones(dim, dtype),
        }
        self.momentum = float(momentum)
        self.eps = float(eps)

    def forward(self, x, training=False):
        gamma, beta = self.params["gamma"], self.params["beta"]
        if not training:
            inv_std = 1 / np.sqrt(self.state["running_var"] + self.eps)
            return (x - self.state["running_mean"]) * (inv_std * gamma) + beta
        mean = x.mean(axis=0)
        centered = x - mean
        var = (centered * centered).mean(axis=0)
        inv_std = 1 / np.sqrt(var + self.eps)
        x_hat = centered * inv_std
        self._x_hat, self._inv_std = x_hat, inv_std
        m = self.momentum
        self.state["running_mean"] *= m
        self.state["running_mean"] += (1 - m) * mean
        self.state["running_var"] *= m
        self.state["running_var"] += (1 - m) * var
        return x_hat * gamma + beta

    def backward(self, dout):
        x_hat, inv_std, gamma = self._x_hat, self._inv_std, self.params["gamma"]
        n = dout.shape[0]
        dbeta = np.sum(dout, axis=0, out=self._grad_out("beta"))
        dgamma = np.sum(dout * x_hat, axis=0, out=self._grad_out("gamma"))
        dx = (gamma * inv_std / n) * (n * dout - dbeta - x_hat * dgamma)
        return dx, {"gamma": dgamma, "beta": dbeta}


@functools.lru_cache(maxsize=None)
def _constant_row(value: float, width: int, dtype: np.dtype) -> np.ndarray:
    row = np.full(width, value, dtype)
    row.flags.writeable = False
    return row


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))``, in one new array written four times in place.

    Correct for any x: where exp(-x) overflows to inf the result is 1/inf = 0, the float's own
    limit (float32 sigmoid(x) is below 1e-38 there). The overflow is expected, so not warned
    about. Four in-place passes instead of the eight temporaries of an ``np.where`` form:
    2x faster at 128x128, 20x at 4096x128 (benchmarks/README.md).
    """
    y = np.negative(x)
    with np.errstate(over="ignore"):
        np.exp(y, out=y)
    y += 1
    return np.reciprocal(y, out=y)


ACTIVATIONS = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "gelu": GELU,
}
