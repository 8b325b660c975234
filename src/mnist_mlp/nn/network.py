"""The multilayer perceptron: a stack of layers ending in a fused output/loss."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .layers import ACTIVATIONS, BatchNorm, Dense, Dropout, Layer
from .losses import OUTPUTS

INITS = ("he", "xavier", "uniform")


@dataclass(frozen=True)
class Architecture:
    """Everything needed to rebuild the network's layers (stored in the model file)."""

    input_dim: int = 784
    hidden: tuple[int, ...] = (512, 256)
    num_classes: int = 10
    activation: str = "relu"
    output: str = "softmax_cross_entropy"
    dropout: float = 0.0
    batchnorm: bool = False

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"unknown output {self.output!r}")

    @property
    def widths(self) -> list[int]:
        return [self.input_dim, *self.hidden, self.num_classes]

    def training_flops_per_sample(self) -> int:
        """Floating-point operations of the matrix products in one training step, per sample:
        forward (1x) and backward (2x: input and weight gradients), without the first layer's
        input gradient, which is never computed."""
        widths = self.widths
        products = [2 * fan_in * fan_out for fan_in, fan_out in zip(widths[:-1], widths[1:])]
        return 3 * sum(products) - products[0]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d


@dataclass
class FlatParameters:
    """A model's parameters and gradients, each group one contiguous 1-D array.

    The layers' own parameter arrays and gradient buffers become views into these, so an
    optimizer updates a whole group at once (one compiled loop, or one NumPy call per
    operation) instead of array by array.
    Group 0 holds the weight matrices, group 1 the vectors (biases, batch-norm gamma and beta);
    ``decayed`` marks the groups an L2 penalty applies to.
    """

    params: list[np.ndarray]
    grads: list[np.ndarray]
    decayed: list[bool]


@dataclass
class MLP:
    """Layers from ``architecture``; ``params()`` and the gradients that ``loss_and_gradients``
    returns line up one to one."""

    architecture: Architecture
    layers: list[Layer] = field(default_factory=list)
    _fused: bool = field(default=True, init=False, repr=False)

    @property
    def fused(self) -> bool:
        """Whether training passes may take the compiled loops (kernels.py), in every layer and
        the loss: the same bits either way; False runs the NumPy reference passes."""
        return self._fused

    @fused.setter
    def fused(self, fused: bool) -> None:
        self._fused = fused
        for layer in self.layers:
            layer.fused = fused

    @property
    def output(self):
        return OUTPUTS[self.architecture.output]

    def params(self) -> list[np.ndarray]:
        return [p for layer in self.layers for p in layer.params.values()]

    def named_params(self) -> dict[str, np.ndarray]:
        return {f"{i}.{name}": p for i, layer in enumerate(self.layers)
                for name, p in layer.params.items()}

    def named_state(self) -> dict[str, np.ndarray]:
        """Non-learned arrays (batch-norm running statistics) that belong in the model file."""
        return {f"{i}.{name}": s for i, layer in enumerate(self.layers)
                for name, s in getattr(layer, "state", {}).items()}

    def flatten_parameters(self) -> FlatParameters:
        """Move every parameter into contiguous storage (values kept) and give each layer
        gradient buffers there; see FlatParameters."""
        groups: list[list[tuple[Layer, str]]] = [[], []]
        for layer in self.layers:
            for name, param in layer.params.items():
                groups[0 if param.ndim > 1 else 1].append((layer, name))
        flat = FlatParameters([], [], [True, False])
        for members in groups:
            dtype = members[0][0].params[members[0][1]].dtype  # every MLP has W's and b's
            size = sum(layer.params[name].size for layer, name in members)
            values, grads = np.empty(size, dtype), np.zeros(size, dtype)
            offset = 0
            for layer, name in members:
                param = layer.params[name]
                view = slice(offset, offset + param.size)
                values[view] = param.ravel()
                layer.params[name] = values[view].reshape(param.shape)
                if layer.grad_buffers is None:
                    layer.grad_buffers = {}
                layer.grad_buffers[name] = grads[view].reshape(param.shape)
                offset += param.size
            flat.params.append(values)
            flat.grads.append(grads)
        return flat

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """x: (n, input_dim) -> logits (n, num_classes)."""
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def loss_and_gradients(self, x: np.ndarray, targets: np.ndarray
                           ) -> tuple[float, np.ndarray, list[np.ndarray]]:
        """One training forward/backward pass.

        Returns (mean loss, logits, gradients aligned with ``params()``).
        """
        logits = self.forward(x, training=True)
        loss, dout = self.output.loss_and_grad(logits, targets, fused=self._fused)
        grads_per_layer = []
        for i in range(len(self.layers) - 1, 0, -1):
            dout, grads = self.layers[i].backward(dout)
            grads_per_layer.append(grads)
        _, grads = self.layers[0].backward(dout, input_grad=False)  # the first layer is Dense
        grads_per_layer.append(grads)
        grads_per_layer.reverse()
        return loss, logits, [g for grads in grads_per_layer for g in grads.values()]

    def predict_proba(self, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Class probabilities (n, num_classes), computed in batches to bound memory."""
        out = np.empty((len(x), self.architecture.num_classes), dtype=np.float32)
        for start in range(0, len(x), batch_size):
            logits = self.forward(x[start:start + batch_size], training=False)
            out[start:start + batch_size] = self.output.probabilities(logits)
        return out


def build_mlp(architecture: Architecture, weights: list[tuple[np.ndarray, np.ndarray]],
              rng: np.random.Generator | None = None,
              batchnorm: list[dict[str, np.ndarray]] | None = None) -> MLP:
    """Assemble the layers around given (W, b) pairs, one per Dense layer."""
    act = ACTIVATIONS[architecture.activation]
    layers: list[Layer] = []
    n_hidden = len(architecture.hidden)
    for i, (w, b) in enumerate(weights):
        layers.append(Dense(w, b))
        if i < n_hidden:
            if architecture.batchnorm:
                arrays = batchnorm[i] if batchnorm else {}
                layers.append(BatchNorm(w.shape[1], dtype=w.dtype, **arrays))
            layers.append(act())
            if architecture.dropout > 0:
                layers.append(Dropout(architecture.dropout, rng))
    return MLP(architecture, layers)


def init_weights(architecture: Architecture, init: str, rng: np.random.Generator,
                 dtype=np.float32) -> list[tuple[np.ndarray, np.ndarray]]:
    """Initial (W, b) per Dense layer.

    he: W ~ N(0, 2/fan_in) (He et al. 2015), for ReLU-like units; xavier: W ~ U(+-sqrt(6/(fan_in +
    fan_out))) (Glorot & Bengio 2010), for sigmoid/tanh; uniform: W and b ~ U(-0.5, 0.5), the
    tutorials' ``np.random.rand(...) - 0.5``. Biases start at zero except for ``uniform``.
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}")
    widths = architecture.widths
    weights = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        if init == "he":
            w = rng.standard_normal((fan_in, fan_out), dtype=np.float32) * np.sqrt(2 / fan_in)
            b = np.zeros(fan_out, np.float32)
        elif init == "xavier":
            limit = np.sqrt(6 / (fan_in + fan_out))
            w = rng.uniform(-limit, limit, (fan_in, fan_out))
            b = np.zeros(fan_out, np.float32)
        else:
            w = rng.random((fan_in, fan_out), dtype=np.float32) - 0.5
            b = rng.random(fan_out, dtype=np.float32) - 0.5
        weights.append((w.astype(dtype), b.astype(dtype)))
    return weights
