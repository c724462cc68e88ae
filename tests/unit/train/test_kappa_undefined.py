"""Cohen's kappa is undefined when one class fills both truth and predictions."""

import numpy as np
from sklearn import metrics as skm

from transfer_atlas.train.metrics import classification_metrics


def test_kappa_is_null_where_sklearn_gives_nan():
    y = np.zeros(20, int)
    assert np.isnan(skm.cohen_kappa_score(y, y))
    m = classification_metrics(y, y, 3)
    assert m["cohen_kappa"] is None and m["accuracy"] == 1.0
