"""Metrics against a confusion matrix computed by hand."""

import numpy as np
import pytest

from mnist_mlp.metrics import (classification_report, confusion_matrix, evaluation_metrics,
                               precision_recall_f1)


def test_confusion_matrix_by_hand():
    actual = np.array([0, 0, 1, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 2, 2])
    np.testing.assert_array_equal(confusion_matrix(actual, predicted, 3),
                                  [[1, 1, 0], [0, 2, 1], [0, 0, 1]])


def test_precision_recall_f1_by_hand():
    confusion = np.array([[1, 1, 0], [0, 2, 1], [0, 0, 1]])
    precision, recall, f1 = precision_recall_f1(confusion)
    np.testing.assert_allclose(precision, [1, 2 / 3, 1 / 2])
    np.testing.assert_allclose(recall, [1 / 2, 2 / 3, 1])
    np.testing.assert_allclose(f1, [2 / 3, 2 / 3, 2 / 3])


def test_class_never_predicted_scores_zero_not_nan():
    precision, recall, f1 = precision_recall_f1(np.array([[2, 0], [1, 0]]))
    assert precision[1] == 0 and recall[1] == 0 and f1[1] == 0


def test_class_absent_and_never_predicted_scores_zero_without_dividing_by_zero():
    """Class 2 neither occurs nor is predicted; classes 0 and 1, one right out of four each,
    have precision + recall below 1, where F1 is still 2pr / (p + r)."""
    with np.errstate(all="raise"):
        precision, recall, f1 = precision_recall_f1(np.array([[1, 3, 0], [3, 1, 0], [0, 0, 0]]))
    np.testing.assert_allclose(precision, [0.25, 0.25, 0])
    np.testing.assert_allclose(recall, [0.25, 0.25, 0])
    np.testing.assert_allclose(f1, [0.25, 0.25, 0])


def test_classification_report():
    labels = np.array([0, 1, 1, 2])
    probabilities = np.full((4, 10), 0.01, np.float32)
    probabilities[[0, 1, 2, 3], [0, 1, 2, 2]] = 0.91
    report = classification_report(labels, probabilities)
    assert report["accuracy"] == 0.75
    assert report["loss"] == pytest.approx(-(3 * np.log(0.91) + np.log(0.01)) / 4, rel=1e-5)
    assert report["per_class"]["1"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert report["confusion"][1][2] == 1
    # Classes 3-9 never occur: F1 0 each; macro F1 averages all ten.
    assert report["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 10)


def test_metrics_json_has_each_splits_headline_and_the_test_splits_details():
    rng = np.random.default_rng(0)
    reports = {split: classification_report(rng.integers(0, 10, rows),
                                            rng.dirichlet(np.ones(10), rows).astype(np.float32))
               for split, rows in (("test", 50), ("dev", 30))}
    metrics = evaluation_metrics(reports)
    for split in ("test", "dev"):
        assert metrics[split] == {key: round(reports[split][key], 6)
                                  for key in ("accuracy", "loss", "macro_f1")}
    assert metrics["confusion"] == reports["test"]["confusion"]
    assert metrics["per_class"] == {
        digit: {key: round(value, 6) for key, value in scores.items()}
        for digit, scores in reports["test"]["per_class"].items()}
    assert sum(scores["support"] for scores in metrics["per_class"].values()) == 50
