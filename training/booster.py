"""The primary booster: LightGBM multiclass with early stopping, its parameters and row caps."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import lightgbm as lgb
import numpy as np

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
#: Past this many fitting rows each boosting round sees a bag of this size instead of 80 %: the
#: histogram work per tree stops growing with the data (training-only; smaller fits are unchanged:
#: PriceRunner's ~48,000 fitting rows bag ~38,000). One round costs ~0.65 s of CPU per 110,000
#: bagged rows (20 trees), and early stopping runs ~150 rounds.
MAX_BAGGED_ROWS = 150_000


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
