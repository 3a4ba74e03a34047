"""Repeated title-grouped evaluation: ``python -m training.train --data PATH --cv 5``.

One split's score moves by about 0.01 macro-F1 with the split's seed, so quality is reported as
mean and standard deviation over ``k`` title-grouped folds (every listing is tested once, never
with a same-title twin in training). In each fold the primary is trained exactly as the final
model is (same code, same early stopping) and scored on three input sets (all fields, title only,
all but the sub-category); the baselines (TF-IDF + LinearSVC, the same tuned by inner
cross-validation on the fold's training rows, logistic regression, ComplementNB, and a calibrated
LinearSVC for the auto-accept comparison) are trained on the same rows.

Cheap by construction, not by cutting corners: fold 0 is the run's held-out split, so its
primary is the final model and its baselines are the run's bars (nothing is fitted twice); each
fold's TF-IDF is fitted once and shared by all baselines and input sets, and the jobs run in
parallel, two at a time on two cores, the primary's booster on one thread each; the tuned
LinearSVC's inner folds are short jobs of their own, queued last so that neither worker idles
while the other finishes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import GroupKFold

from features.schema import LABEL
from features.text import normalize_title
from pyfunc_model.model import ProductClassifierModel
from training.baseline import (
    BASELINES,
    CALIBRATED_SVC,
    CALIBRATED_SVC_METRICS,
    BaselineInputs,
    BaselineScores,
    calibrated_svc_metrics,
    calibrated_svc_review,
    held_out_bars,
)
from training.evaluate import INPUT_SETS, macro_f1, quality_metrics, score_frame
from training.fit import FittedModel, fit_model
from training.tuned_baseline import INNER_FOLDS, TunedSvc, choose, inner_fold_jobs

log = logging.getLogger("training")
#: The metrics whose mean and sd over the folds are logged as ``cv_<metric>_mean`` / ``_sd``.
CV_METRICS = (
    "macro_f1_title_only",
    "baseline_macro_f1_title_only",
    "macro_f1",
    "macro_f1_no_subcategory",
    "ece",
    "ece_title_only",
    "title_only_margin",
    "coverage_at_98_title_only",
    "calibrated_svc_coverage_at_98_title_only",
    "review_coverage_title_only",
    "review_precision_title_only",
    "calibrated_svc_review_coverage_title_only",
    "calibrated_svc_review_precision_title_only",
    "review_coverage_margin_title_only",
    "review_coverage",
    "review_precision",
)
CV_DIR = "cv"
#: Name of the TF-IDF + LinearSVC whose C and min_df are chosen by inner cross-validation in each fold.
TUNED_SVC = "linear_svc_tuned"
_QUIET = logging.getLogger("training.cv.fold")
_QUIET.setLevel(logging.WARNING)
#: Fewest folds: fold 0 is the held-out split, the others split the training rows between them.
MIN_FOLDS = 3


def title_group_folds(frame: pd.DataFrame, n_splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_splits`` (train, test) index pairs; listings sharing a normalised title share a fold."""
    groups = pd.factorize(normalize_title(frame["title"]))[0]
    folds = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(folds.split(frame, groups=groups))


def held_out_folds(
    train_df: pd.DataFrame, test_df: pd.DataFrame, n_splits: int, seed: int
) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """``n_splits`` (train, test) frames. Fold 0 is the run's held-out split (the final model's
    own rows); folds 1.. split ``train_df`` by title (:func:`title_group_folds`), each trained on
    the rest of the data. Every listing is tested once, never with a same-title twin in training."""
    if n_splits < MIN_FOLDS:
        raise ValueError(f"--cv needs at least {MIN_FOLDS} folds (or 0: off), got {n_splits}")
    parts = [(train_df, test_df)]
    for rest, fold in title_group_folds(train_df, n_splits - 1, seed):
        training = pd.concat([test_df, train_df.iloc[rest]], ignore_index=True)
        parts.append((training, train_df.iloc[fold].reset_index(drop=True)))
    return parts


def primary_fold(train_df: pd.DataFrame, test_df: pd.DataFrame, seed: int) -> dict[str, float | str]:
    """Train the primary as the final model is trained (drift thresholds left uncalibrated: they
    change no answer, and the folds measure answers); score it on the three input sets."""
    t0 = time.perf_counter()
    fitted = fit_model(train_df, seed, progress=_QUIET, drift_thresholds=False)
    return fold_scores(fitted, test_df, time.perf_counter() - t0)


def fold_scores(fitted: FittedModel, test_df: pd.DataFrame, seconds: float) -> dict[str, float | str]:
    """A fold's primary, assembled as the artifact serves it (chain included), on the fold's test
    rows in each input set; with its title decision, threshold, rounds and fit time."""
    model = ProductClassifierModel()
    model.setup(fitted.bundle)
    classes = fitted.bundle.classes
    test_df = test_df[test_df[LABEL].isin(set(classes))].reset_index(drop=True)
    y = test_df[LABEL].to_numpy()
    out: dict[str, float | str] = {}
    for suffix, reduce in INPUT_SETS.items():
        scored = score_frame(model, reduce(test_df).drop(columns=LABEL), classes)
        out.update(quality_metrics(y, scored, classes, suffix))
    if fitted.title_choice is not None:
        out["title_choice"] = fitted.title_choice.chosen
        out["title_choice_oof_margin_over_booster"] = fitted.title_choice.metrics()[
            "title_choice_oof_margin_over_booster"
        ]
    out.update(review_threshold=model.review_threshold, best_iteration=fitted.best_iteration, primary_seconds=seconds)
    return out


def _timed(function: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    return function(*args), time.perf_counter() - t0


def baseline_fold(train_df: pd.DataFrame, test_df: pd.DataFrame, seed: int) -> tuple[dict[str, float], np.ndarray]:
    """Every baseline on every input set from one TF-IDF fit, plus the calibrated LinearSVC (the
    tuned LinearSVC's inner folds are jobs of their own: :func:`tuned_svc_fold`); and the
    untuned title-only LinearSVC's labels, which are the tuned one's when the default setting wins."""
    t0 = time.perf_counter()
    inputs = BaselineInputs.fit(train_df)
    train_m, test_m = inputs.matrices(train_df), inputs.matrices(test_df)
    y_train, y_test = train_df[LABEL].to_numpy(), test_df[LABEL].to_numpy()
    out: dict[str, float] = {}
    predictions = {}
    first_with: dict[tuple[str, ...], str] = {}  # input sets that are the same matrix share their fits
    for suffix in INPUT_SETS:
        same = first_with.setdefault(inputs.fields(suffix), suffix)
        for name, estimator in BASELINES.items():
            if same == suffix:
                predictions[name, suffix] = clone(estimator).fit(train_m[suffix], y_train).predict(test_m[suffix])
            else:
                predictions[name, suffix] = predictions[name, same]
            out[f"baseline_{name}_macro_f1{suffix}"] = macro_f1(y_test, predictions[name, suffix])
    calibrated = clone(CALIBRATED_SVC).fit(train_m["_title_only"], y_train)
    out.update(calibrated_svc_metrics(calibrated.predict_proba(test_m["_title_only"]), calibrated.classes_, y_test))
    groups = pd.factorize(normalize_title(train_df["title"]))[0]
    review = calibrated_svc_review(
        train_m["_title_only"], y_train, groups, test_m["_title_only"], y_test, seed, fitted=calibrated
    )
    out["calibrated_svc_review_threshold_title_only"] = review.threshold
    out["calibrated_svc_review_coverage_title_only"] = review.coverage
    out["calibrated_svc_review_precision_title_only"] = review.precision
    out["baseline_seconds"] = time.perf_counter() - t0
    return out, predictions["linear_svc", "_title_only"]


def tuned_svc_fold(
    train_df: pd.DataFrame, test_df: pd.DataFrame, seed: int, scores: list[dict[str, float]], untuned_pred: np.ndarray
) -> tuple[dict[str, float], TunedSvc, np.ndarray]:
    """The tuned LinearSVC of one fold from its inner folds' ``scores``: the chosen setting fitted
    on the fold's training rows (the default setting is the untuned LinearSVC: ``untuned_pred``,
    its labels of the test rows). Returns the fold table's columns, the choice and its labels."""
    tuned = choose(scores)
    pred = untuned_pred
    if not tuned.is_default:
        pred = tuned.predict(train_df["title"], train_df[LABEL].to_numpy(), test_df["title"])
    row = {
        f"baseline_{TUNED_SVC}_macro_f1_title_only": macro_f1(test_df[LABEL].to_numpy(), pred),
        "baseline_tuned_C": tuned.C,
        "baseline_tuned_min_df": tuned.min_df,
    }
    return row, tuned, pred


def strongest_baseline(table: pd.DataFrame) -> str:
    """The baseline with the highest mean title-only macro-F1 over the folds (the tuned LinearSVC included)."""
    return max([*BASELINES, TUNED_SVC], key=lambda name: table[f"baseline_{name}_macro_f1_title_only"].mean())


def cross_validate(
    train_df: pd.DataFrame, test_df: pd.DataFrame, n_splits: int, seed: int, n_jobs: int = 2
) -> tuple[pd.DataFrame, FittedModel, BaselineScores]:
    """Per-fold table (one row per fold, :func:`held_out_folds`), the final model and the held-out
    split's bars.

    Fold 0 is the held-out split, so its primary is the final model (fitted once, drift
    thresholds calibrated) and its baselines are the run's bars (fitted apart only when
    :func:`training.baseline.held_out_bars` caps their rows). Every job runs in one pool of
    ``n_jobs`` workers: more processes than cores would make every job slower.

    The table gains ``baseline_macro_f1_title_only`` (the strongest baseline's score) and
    ``title_only_margin`` (primary minus that).
    """
    parts = held_out_folds(train_df, test_df, n_splits, seed)
    bars_function, bars_args = held_out_bars(train_df, test_df, seed)
    bars_apart = len(bars_args[0]) < len(train_df) or len(bars_args[1]) < len(test_df)
    tasks = [delayed(_timed)(fit_model, train_df, seed)]
    tasks += [delayed(bars_function)(*bars_args)] if bars_apart else []
    tasks += [delayed(baseline_fold)(tr, te, seed) for tr, te in parts]  # the longest jobs first
    tasks += [delayed(primary_fold)(tr, te, seed) for tr, te in parts[1:]]
    # the tuned LinearSVC's inner folds last: short jobs that keep both workers busy to the end
    tasks += [job for tr, _ in parts for job in inner_fold_jobs(tr["title"], tr[LABEL].to_numpy(), seed)]
    log.info("cross-validation: %d title-grouped folds, %d jobs on %d workers...", n_splits, len(tasks), n_jobs)
    with Parallel(n_jobs=n_jobs, backend="loky") as pool:
        results = pool(tasks)
        (fitted, final_seconds), results = results[0], results[1:]
        bars, results = (results[0], results[1:]) if bars_apart else (None, results)
        baselines, primaries = results[:n_splits], results[n_splits : 2 * n_splits - 1]
        inner_scores = results[2 * n_splits - 1 :]
        inner = [inner_scores[i * INNER_FOLDS : (i + 1) * INNER_FOLDS] for i in range(n_splits)]
        tuned = pool(
            delayed(tuned_svc_fold)(tr, te, seed, scores, untuned_pred)
            for (tr, te), scores, (_, untuned_pred) in zip(parts, inner, baselines, strict=True)
        )
    primaries = [fold_scores(fitted, test_df, final_seconds), *primaries]
    rows = []
    for i, ((tr, te), primary, (baseline, _), (svc, _, _)) in enumerate(
        zip(parts, primaries, baselines, tuned, strict=True)
    ):
        rows.append({"split": i, "train_rows": len(tr), "test_rows": len(te), **primary, **baseline, **svc})
    table = pd.DataFrame(rows)
    best = strongest_baseline(table)
    table["strongest_baseline"] = best
    table["baseline_macro_f1_title_only"] = table[f"baseline_{best}_macro_f1_title_only"]
    table["title_only_margin"] = table["macro_f1_title_only"] - table["baseline_macro_f1_title_only"]
    table["review_coverage_margin_title_only"] = (
        table["review_coverage_title_only"] - table["calibrated_svc_review_coverage_title_only"]
    )
    if bars is None:
        bars = fold_bars(train_df, test_df, baselines[0][0], *tuned[0][1:])
    return table, fitted, bars


def fold_bars(
    train_df: pd.DataFrame, test_df: pd.DataFrame, baseline: dict[str, float], tuned: TunedSvc, tuned_pred: np.ndarray
) -> BaselineScores:
    """The held-out split's bars from fold 0's baselines: the same fits as
    :func:`training.baseline.title_baselines` on the same rows."""
    return BaselineScores.of(
        test_df[LABEL].to_numpy(),
        np.unique(train_df[LABEL].to_numpy()),
        tuned,
        tuned_pred,
        baseline["baseline_linear_svc_macro_f1_title_only"],
        {key: baseline[key] for key in CALIBRATED_SVC_METRICS},
        len(train_df),
        baseline["baseline_seconds"],
    )


def summary(table: pd.DataFrame) -> dict[str, float]:
    """``cv_<metric>_mean`` / ``_sd`` (sample sd) for :data:`CV_METRICS`, and the worst fold's margin."""
    out: dict[str, float] = {}
    for metric in CV_METRICS:
        out[f"cv_{metric}_mean"] = float(table[metric].mean())
        out[f"cv_{metric}_sd"] = float(table[metric].std(ddof=1)) if len(table) > 1 else 0.0
    out["cv_title_only_margin_min"] = float(table["title_only_margin"].min())
    out["cv_review_precision_title_only_min"] = float(table["review_precision_title_only"].min())
    out["cv_review_coverage_margin_title_only_min"] = float(table["review_coverage_margin_title_only"].min())
    return out


def markdown_table(table: pd.DataFrame) -> str:
    """The per-split table people read: the headline columns, then mean +- sd."""
    cols = ["split", "test_rows", *CV_METRICS[:9], "review_threshold", *CV_METRICS[9:11], *CV_METRICS[13:16]]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in table[cols].to_dict("records"):  # keeps ints as ints, unlike iterrows
        lines.append("| " + " | ".join(_cell(row[c]) for c in cols) + " |")
    lines.append(
        "| mean +- sd | | "
        + " | ".join(f"{table[c].mean():.4f} +- {table[c].std(ddof=1):.4f}" for c in cols[2:])
        + " |"
    )
    return "\n".join(lines) + f"\n\nstrongest baseline (title only): {table['strongest_baseline'].iat[0]}\n"


def _cell(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def log_cv(table: pd.DataFrame, workdir: Path) -> dict[str, float]:
    """Log the summary metrics, the strongest baseline's name and the per-split table (CSV + markdown)."""
    metrics = summary(table)
    mlflow.log_metrics(metrics)
    mlflow.log_params({"cv_folds": len(table), "cv_strongest_baseline": table["strongest_baseline"].iat[0]})
    csv, md = workdir / "cv_splits.csv", workdir / "cv_splits.md"
    table.to_csv(csv, index=False)
    md.write_text(markdown_table(table))
    mlflow.log_artifact(str(csv), CV_DIR)
    mlflow.log_artifact(str(md), CV_DIR)
    return metrics
