"""Fit the primary booster and the fallback models on prepared feature matrices."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

from features.pipeline import ProductFeatures
from features.subsample import capped_groups
from features.text import normalize_title
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
#: Patience: amazon_in's best round is 26-31 and validation loss only rises after it (100 wasted ~100 rounds).
EARLY_STOPPING_ROUNDS = 30
#: The tabular fallback: small (capped leaves) so the artifact and serving memory stay small.
FOREST_PARAMS: dict[str, object] = {
    "n_estimators": 60,
    "max_leaf_nodes": 512,
    "min_samples_leaf": 3,
    "n_jobs": 2,
    "random_state": 0,
}
#: Past this many fitting rows each boosting round sees a bag of this size instead of 80 %: the
#: histogram work per tree stops growing with the data (training-only; smaller fits are unchanged:
#: PriceRunner's ~48,000 fitting rows bag ~38,000). One round costs ~0.65 s of CPU per 110,000
#: bagged rows (20 trees), and early stopping runs ~150 rounds.
MAX_BAGGED_ROWS = 150_000
#: Rows drawn per tree of the fallback forest; 512 leaves gain nothing from more (smaller fits unchanged).
MAX_FOREST_SAMPLES = 200_000
#: Rows the fallback rules are learned from (a title-grouped subset past it): a keyword rule needs
#: 5 rows at 90 % purity, which 200,000 rows settle; learning explodes every title into its words
#: (~15 rows each) in pandas, so memory and time would otherwise grow with the whole training set.
MAX_RULE_ROWS = 200_000


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
    progress: logging.Logger | None = None,
) -> lgb.Booster:
    """LightGBM multiclass, early stopping on the validation split (progress every 50 rounds)."""
    params = {**PRIMARY_PARAMS, "num_class": n_classes}
    if len(y_fit) * float(params["bagging_fraction"]) > MAX_BAGGED_ROWS:
        params["bagging_fraction"] = MAX_BAGGED_ROWS / len(y_fit)
    train_set = lgb.Dataset(
        X_fit, y_fit, categorical_feature=categorical, feature_name=feature_names, free_raw_data=False
    )
    valid_set = lgb.Dataset(X_valid, y_valid, reference=train_set)
    return lgb.train(
        params,
        train_set,
        num_boost_round=max_rounds,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(early_stopping, verbose=False)]
        + ([round_progress(progress, len(y_fit))] if progress else []),
    )


def round_progress(logger: logging.Logger, rows: int, every: int = 50) -> Callable[[lgb.callback.CallbackEnv], None]:
    """A LightGBM callback logging the round, the validation loss and the elapsed time: long fits show life."""
    started = time.perf_counter()

    def log_round(env: lgb.callback.CallbackEnv) -> None:
        if (env.iteration + 1) % every == 0 and env.evaluation_result_list:
            _, metric, value, _ = env.evaluation_result_list[0][:4]
            logger.info(
                "  round %d on %d rows: valid %s %.4f (%.0fs)",
                env.iteration + 1,
                rows,
                metric,
                value,
                time.perf_counter() - started,
            )

    return log_round


def fit_fallbacks(
    features: ProductFeatures, prepared: pd.DataFrame, X_fit: np.ndarray, y: np.ndarray, classes: np.ndarray
) -> Fallbacks:
    """Random forest on the tabular columns (no title text), rules and the class prior.

    Past their caps (:data:`MAX_FOREST_SAMPLES`, :data:`MAX_RULE_ROWS`) the forest's trees and
    the rules see a sample of the rows; the prior counts every row.

    The forest is kept small (capped leaves) so the artifact and serving memory stay small;
    it answers only when the title cannot be used.
    """
    rf = RandomForestClassifier(
        **FOREST_PARAMS, max_samples=MAX_FOREST_SAMPLES if len(y) > MAX_FOREST_SAMPLES else None
    )
    rf.fit(forest_input(X_fit[:, : features.n_tabular]), y)
    rf.n_jobs = 1  # serving: no thread pool per call
    rule_rows = capped_groups(normalize_title(prepared["title"]).to_numpy(), MAX_RULE_ROWS, seed=0)
    if rule_rows is not None:
        prepared, y_rules = prepared[rule_rows], y[rule_rows]
    else:
        y_rules = y
    return Fallbacks(
        random_forest=rf,
        rules=RuleClassifier().fit(prepared, y_rules, classes),
        prior=PriorClassifier().fit(y, classes),
    )
