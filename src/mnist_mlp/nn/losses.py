"""Output functions fused with their losses.

Each loss maps logits (n, k) and targets (n, k) to the mean over the batch of a per-sample
loss, and returns the gradient with respect to the logits in the same pass; ``fused`` lets it
take compiled loops with the same bits (kernels.py; training only, see MLP.fused). Fusing
softmax with cross-entropy gives the simple, stable gradient ``(p - y) / n``.
"""

from __future__ import annotations

import numpy as np

from .compiled import fusable, kernels
from .layers import sigmoid


def log_softmax(logits: np.ndarray, fused: bool = False) -> np.ndarray:
    """Row-wise log-softmax via log-sum-exp with the row maximum subtracted (no overflow).

    ``fused`` takes the row maximum from a compiled loop (the same bits; NumPy's reduction over
    10-wide rows ran at ~0.5 GB/s, the slowest pass of a full-batch step's loss)."""
    compiled = kernels() if fused and logits.shape[1] and fusable(logits) else None
    if compiled is None:
        row_max = logits.max(axis=1, keepdims=True)
    else:
        row_max = np.empty((logits.shape[0], 1), logits.dtype)
        compiled.row_max(logits, row_max.reshape(-1))
    shifted = logits - row_max
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    exp /= exp.sum(axis=1, keepdims=True)
    return exp


class SoftmaxCrossEntropy:
    """Softmax output with cross-entropy: mean over the batch of ``-sum_k y_k log p_k``.

    Targets may be one-hot or smoothed distributions (rows summing to 1).
    """

    name = "softmax_cross_entropy"

    @staticmethod
    def probabilities(logits: np.ndarray) -> np.ndarray:
        return softmax(logits)

    @staticmethod
    def loss_and_grad(logits: np.ndarray, targets: np.ndarray, fused: bool = True
                      ) -> tuple[float, np.ndarray]:
        n = logits.shape[0]
        log_p = log_softmax(logits, fused=fused)
        loss = -float(np.einsum("ij,ij->", targets, log_p)) / n
        grad = np.exp(log_p)
        grad -= targets
        grad /= n
        return loss, grad


class SigmoidMSE:
    """Independent sigmoid outputs with squared error: the mean over the batch of
    ``sum_k (s_k - y_k)^2``.

    ``probabilities`` renormalises the sigmoids to sum to one, so evaluation metrics such as
    cross-entropy are defined for this output too.
    """

    name = "sigmoid_mse"

    @staticmethod
    def probabilities(logits: np.ndarray) -> np.ndarray:
        s = sigmoid(logits)
        total = s.sum(axis=1, keepdims=True)
        vanished = total[:, 0] == 0
        if vanished.any():
            # Every sigmoid in the row is below the float range. There sigmoid(x) ~ exp(x), so
            # the renormalised row tends to the softmax of the logits, which is still defined.
            s[vanished] = softmax(logits[vanished])
            total[vanished] = 1
        s /= total
        return s

    @staticmethod
    def loss_and_grad(logits: np.ndarray, targets: np.ndarray, fused: bool = True
                      ) -> tuple[float, np.ndarray]:
        """``fused`` is accepted for the common signature; this loss has no compiled loop."""
        n = logits.shape[0]
        s = sigmoid(logits)
        diff = s - targets
        loss = float(np.einsum("ij,ij->", diff, diff)) / n
        grad = np.subtract(1, s)
        grad *= s
        grad *= diff
        grad *= 2 / n
        return loss, grad


OUTPUTS = {cls.name: cls for cls in (SoftmaxCrossEntropy, SigmoidMSE)}


def cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean of ``-log p[label]`` over the rows; probabilities are clipped away from 0."""
    picked = probabilities[np.arange(len(labels)), labels]
    return -float(np.mean(np.log(np.maximum(picked, np.finfo(probabilities.dtype).tiny))))
