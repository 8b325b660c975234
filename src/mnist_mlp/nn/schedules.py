"""Learning-rate schedules as functions of the (fractional) epoch.

``learning_rate(t)`` with ``t = step / steps_per_epoch`` so the rate changes smoothly within an
epoch for cosine and exponential decay, and at epoch boundaries for step decay. A linear warmup
of ``warmup_epochs`` ramps from 0 up to ``lr`` first; the decay then runs over the remaining
epochs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCHEDULES = ("constant", "step", "exponential", "cosine")


@dataclass(frozen=True)
class Schedule:
    name: str
    lr: float
    epochs: int
    warmup_epochs: float = 0.0
    step_epochs: int = 10
    gamma: float = 0.1
    min_lr: float = 0.0

    def __post_init__(self):
        if self.name not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.name!r}; allowed: {', '.join(SCHEDULES)}")

    def learning_rate(self, t: float) -> float:
        """Learning rate at fractional epoch ``t`` (0 <= t < epochs)."""
        if t < self.warmup_epochs:
            return self.lr * t / self.warmup_epochs
        t = t - self.warmup_epochs
        span = max(self.epochs - self.warmup_epochs, 1e-12)
        if self.name == "constant":
            return self.lr
        if self.name == "step":
            return self.lr * self.gamma ** math.floor(t / self.step_epochs)
        if self.name == "exponential":
            return self.lr * self.gamma ** t
        cosine = 0.5 * (1 + math.cos(math.pi * min(t / span, 1.0)))
        return self.min_lr + (self.lr - self.min_lr) * cosine
