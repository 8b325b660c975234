"""Classification metrics from labels and predicted probabilities."""

from __future__ import annotations

import numpy as np

from .nn import cross_entropy
from .splits import N_CLASSES


def confusion_matrix(actual: np.ndarray, predicted: np.ndarray,
                     num_classes: int = N_CLASSES) -> np.ndarray:
    """Counts (num_classes, num_classes): row = actual class, column = predicted class."""
    flat = actual.astype(np.int64) * num_classes + predicted.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def precision_recall_f1(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall and F1; a class never predicted (or absent) scores 0."""
    true_pos = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    precision = np.divide(true_pos, predicted, out=np.zeros_like(true_pos), where=predicted > 0)
    recall = np.divide(true_pos, actual, out=np.zeros_like(true_pos), where=actual > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(true_pos), where=total > 0)
    return precision, recall, f1


def classification_report(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """Accuracy, cross-entropy, macro F1, per-class scores and confusion counts."""
    predicted = probabilities.argmax(axis=1)
    confusion = confusion_matrix(labels, predicted)
    precision, recall, f1 = precision_recall_f1(confusion)
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "loss": cross_entropy(probabilities, labels),
        "macro_f1": float(f1.mean()),
        "per_class": {str(k): {"precision": float(precision[k]), "recall": float(recall[k]),
                               "f1": float(f1[k]), "support": int(confusion[k].sum())}
                      for k in range(len(confusion))},
        "confusion": confusion.tolist(),
    }


def evaluation_metrics(reports: dict[str, dict]) -> dict:
    """metrics.json content: headline scores per split, then the test split's details."""
    metrics = {name: {k: round(r[k], 6) for k in ("accuracy", "loss", "macro_f1")}
               for name, r in reports.items()}
    test = reports["test"]
    metrics["per_class"] = {c: {k: round(v, 6) for k, v in scores.items()}
                            for c, scores in test["per_class"].items()}
    # A list: `dvc metrics show` skips it, yet it stays in the file for people and tools.
    metrics["confusion"] = test["confusion"]
    return metrics


def predictions_csv(labels: np.ndarray, probabilities: np.ndarray) -> str:
    """``actual,predicted,confidence`` per row; confidence is the predicted class's probability."""
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    rows = [f"{a},{p},{c:.6f}" for a, p, c in zip(labels, predicted, confidence)]
    return "actual,predicted,confidence\n" + "\n".join(rows) + "\n"
