"""Classification metrics from integer predictions, in numpy only (no scikit-learn import).

Definitions match scikit-learn's (macro averages over classes present in y_true or
y_pred; an undefined precision/recall counts as 0), which the tests check.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def _safe_div(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def classification_metrics(y_true, y_pred, num_classes: int) -> dict:
    """Accuracy, balanced accuracy, macro precision/recall/F1, Cohen's kappa, confusion matrix."""
    cm = confusion_matrix(y_true, y_pred, num_classes)
    n = cm.sum()
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(1), cm.sum(0)
    present = (support + predicted) > 0
    precision = _safe_div(tp, predicted)[present]
    recall = _safe_div(tp, support)[present]
    f1 = _safe_div(2 * precision * recall, precision + recall)
    accuracy = tp.sum() / n
    expected = (support * predicted).sum() / n**2
    # One class in both truth and predictions: kappa is 0/0, undefined (scikit-learn: NaN);
    # JSON has no NaN, so the record stores null.
    kappa = float((accuracy - expected) / (1 - expected)) if expected < 1 else None
    return {
        "accuracy": float(accuracy),
        "balanced_accuracy": float(_safe_div(tp, support)[support > 0].mean()),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "cohen_kappa": kappa,
        "n_test": int(n),
        "confusion_matrix": cm.tolist(),
    }
