"""Every hyperparameter of every fitted part, flattened into MLflow run params.

Read from the fitted objects themselves (``get_params`` of each block and text model), so what
is logged is what ran, not a copy of the defaults that could drift from them.
"""

from __future__ import annotations

from collections.abc import Mapping

from sklearn.base import BaseEstimator

from features.pipeline import ProductFeatures
from training.booster import EARLY_STOPPING_ROUNDS, MAX_BAGGED_ROWS, MAX_ROUNDS, PRIMARY_PARAMS
from training.calibration import TEMPERATURE_BOUNDS
from training.drift_reference import MAX_REFERENCE_ROWS
from training.fit import FOREST_PARAMS, MAX_FOREST_SAMPLES, MAX_RULE_ROWS

#: The fitted blocks of ``ProductFeatures`` and the name they are logged under.
FEATURE_BLOCKS = {
    "hashing": "hashing_",
    "brand_price_cross": "cross_",
    "subcategory_shares": "subcategory_shares_",
    "numeric": "numeric_",
    "title_stats": "title_stats_",
    "text": "text_",
}


def _flat(prefix: str, params: Mapping[str, object]) -> dict[str, object]:
    """``prefix.key -> value`` for plain values (nested estimators are logged on their own)."""
    return {f"{prefix}.{k}": (getattr(v, "__name__", v)) for k, v in params.items() if not isinstance(v, BaseEstimator)}


def estimator_params(prefix: str, estimator: BaseEstimator) -> dict[str, object]:
    return _flat(prefix, estimator.get_params(deep=False))


def model_params(features: ProductFeatures, validation_share: float) -> dict[str, object]:
    """Feature blocks, text vectoriser and text models, booster, early stopping, calibration, forest."""
    out = estimator_params("features", features)
    for name, attr in FEATURE_BLOCKS.items():
        out.update(estimator_params(f"features.{name}", getattr(features, attr)))
    text = features.text_
    out.update(estimator_params("features.text.tfidf", text.vectorizer_))
    for model in text._new_models():
        out.update(estimator_params(f"features.text.{type(model).__name__}", model))
    out.update({f"lgb.{k}": v for k, v in PRIMARY_PARAMS.items()})
    out.update({"lgb.max_rounds": MAX_ROUNDS, "lgb.early_stopping_rounds": EARLY_STOPPING_ROUNDS})
    # row caps of the stages that would otherwise grow faster than the data (training only)
    out.update({"lgb.max_bagged_rows": MAX_BAGGED_ROWS, "drift.max_reference_rows": MAX_REFERENCE_ROWS})
    out.update({"validation_share": validation_share, "calibration": "temperature"})
    out.update({"calibration.temperature_bounds": list(TEMPERATURE_BOUNDS)})
    out.update(_flat("fallback.random_forest", FOREST_PARAMS))
    out["fallback.random_forest.max_samples_cap"] = MAX_FOREST_SAMPLES
    out["fallback.rules.max_rows"] = MAX_RULE_ROWS
    return out
