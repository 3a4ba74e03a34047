"""Fit the primary booster and the fallback models on prepared feature matrices."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

from features.pipeline import ProductFeatures
from pyfunc_model.bundle import Fallbacks
from pyfunc_model.fallbacks import PriorClassifier, RuleClassifier, forest_input

PRIMARY_PARAMS: dict[str, object] = {
    "objective": "multiclass",
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "feature_fraction": 1.0,  # every tree may use the subcategory shares (0.6 cost 0.01 F1 with all fields)
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    # hashed ids of sub-categories/brands: allow small groups to split
    "min_data_per_group": 20,
    "cat_smooth": 10.0,
    "cat_l2": 10.0,
    "max_cat_threshold": 64,
    "verbose": -1,
    # one thread: with OpenMP, 2 threads on a busy 2-core machine spin-wait and run ~10x slower
    "num_threads": 1,
    "seed": 0,
    "deterministic": True,
}
#: Boosting rounds: an upper bound, early stopping picks the number.
MAX_ROUNDS = 2000
EARLY_STOPPING_ROUNDS = 100
#: The tabular fallback: small (capped leaves) so the artifact and serving memory stay small.
FOREST_PARAMS: dict[str, object] = {
    "n_estimators": 60,
    "max_leaf_nodes": 512,
    "min_samples_leaf": 3,
    "n_jobs": 2,
    "random_state": 0,
}


def fit_primary(
    X_fit: np.ndarray,
    y_fit: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    n_classes: int,
    categorical: list[int],
    feature_names: list[str],
    max_rounds: int = MAX_ROUNDS,
    early_stopping: int = EARLY_STOPPING_ROUNDS,
) -> lgb.Booster:
    """LightGBM multiclass with early stopping on the validation split."""
    params = {**PRIMARY_PARAMS, "num_class": n_classes}
    train_set = lgb.Dataset(
        X_fit, y_fit, categorical_feature=categorical, feature_name=feature_names, free_raw_data=False
    )
    valid_set = lgb.Dataset(X_valid, y_valid, reference=train_set)
    return lgb.train(
        params,
        train_set,
        num_boost_round=max_rounds,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(early_stopping, verbose=False)],
    )


def fit_fallbacks(
    features: ProductFeatures, prepared: pd.DataFrame, X_fit: np.ndarray, y: np.ndarray, classes: np.ndarray
) -> Fallbacks:
    """Random forest on the tabular columns (no title text), rules and the class prior.

    The forest is kept small (capped leaves) so the artifact and serving memory stay small;
    it answers only when the title cannot be used.
    """
    rf = RandomForestClassifier(**FOREST_PARAMS)
    rf.fit(forest_input(X_fit[:, : features.n_tabular]), y)
    rf.n_jobs = 1  # serving: no thread pool per call
    return Fallbacks(
        random_forest=rf,
        rules=RuleClassifier().fit(prepared, y, classes),
        prior=PriorClassifier().fit(y, classes),
    )
