"""`needs_review`: the auto-accept threshold stored in the artifact, and its per-request override."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from pyfunc_model.review import THRESHOLD_KEY

pytestmark = pytest.mark.slow


def _expected(out: pd.DataFrame, threshold: float) -> list[bool]:
    return ((out["model_used"] != "primary") | (out["confidence"] < threshold)).tolist()


def test_needs_review_uses_the_threshold_chosen_in_training(loaded, logged_model):
    threshold = logged_model.bundle.metadata[THRESHOLD_KEY]
    assert 0.0 < threshold <= 1.0
    out = loaded.predict(logged_model.test_frame.head(300))
    assert out["needs_review"].dtype == bool
    assert out["needs_review"].tolist() == _expected(out, threshold)


def test_review_threshold_param_overrides_the_model_threshold(loaded, logged_model):
    frame = logged_model.test_frame.head(300)
    default = loaded.predict(frame)
    threshold = float(np.quantile(default["confidence"], 0.5))
    out = loaded.predict(frame, params={"review_threshold": threshold})
    assert out["needs_review"].tolist() == _expected(default, threshold)
    assert 0 < out["needs_review"].sum() < len(out)
    # the override changes the review flag only, never the answer
    assert out["category"].tolist() == default["category"].tolist()
    everything = loaded.predict(frame, params={"review_threshold": 0.0})
    assert everything["needs_review"].tolist() == (default["model_used"] != "primary").tolist()


def test_fallback_answers_always_need_review(loaded, logged_model):
    frame = pd.DataFrame({"title": ["", "Samsung 55 inch smart television"]})
    out = loaded.predict(frame, params={"review_threshold": 0.0})
    assert out["model_used"].iat[0] != "primary" and out["needs_review"].iat[0]


@pytest.mark.parametrize("value", [1.5, -0.5, "high"])
def test_bad_review_threshold_is_rejected_by_name(loaded, value):
    with pytest.raises(MlflowException, match="review_threshold"):
        loaded.predict(pd.DataFrame({"title": ["a"]}), params={"review_threshold": value})
