"""Our numpy metrics agree with scikit-learn's definitions."""

import numpy as np
import pytest
from sklearn import metrics as skm

from transfer_atlas.train.metrics import classification_metrics


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    y_true = rng.integers(0, k, 200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, k, 200))
    if seed == 4:  # a class never predicted and one never present
        y_pred[y_pred == 0] = 1
        y_true[y_true == k - 1] = 0
    m = classification_metrics(y_true, y_pred, k)
    labels = np.union1d(y_true, y_pred)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred))
    kw = dict(average="macro", labels=labels, zero_division=0)
    assert m["macro_precision"] == pytest.approx(skm.precision_score(y_true, y_pred, **kw))
    assert m["macro_recall"] == pytest.approx(skm.recall_score(y_true, y_pred, **kw))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y_true, y_pred, **kw))
    assert m["cohen_kappa"] == pytest.approx(skm.cohen_kappa_score(y_true, y_pred))
    assert m["confusion_matrix"] == skm.confusion_matrix(y_true, y_pred, labels=range(k)).tolist()
