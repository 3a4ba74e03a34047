"""Repeated title-grouped evaluation: ``python -m training.train --data PATH --cv 5``.

One split's score moves by about 0.01 macro-F1 with the split's seed, so quality is reported as
mean and standard deviation over ``k`` title-grouped folds (every listing is tested once, never
with a same-title twin in training). In each fold the primary is trained exactly as the final
model is (same code, same early stopping) and scored on three input sets (all fields, title only,
all but the sub-category); the baselines (TF-IDF + LinearSVC, the same tuned by inner
cross-validation on the fold's training rows, logistic regression, ComplementNB, and a calibrated
LinearSVC for the auto-accept comparison) are trained on the same rows.

Cheap by construction, not by cutting corners: each fold's TF-IDF is fitted once and shared by
all baselines and input sets, and the folds (plus the final model) run as parallel jobs, two at
a time on two cores, the primary's booster on one thread each; the tuned LinearSVC's inner folds
are short jobs of their own, queued last so that neither worker idles while the other finishes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
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
from training.baseline import BASELINES, CALIBRATED_SVC, BaselineInputs, calibrated_svc_review
from training.evaluate import INPUT_SETS, expected_calibration_error, macro_f1, quality_metrics, score_frame
from training.fit import fit_model
from training.review_threshold import coverage_at_precision
from training.tuned_baseline import INNER_FOLDS, choose, inner_fold_jobs

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
#: A job to run in the folds' pool: (function, positional arguments).
Job = tuple[Callable[..., Any], tuple[Any, ...]]


def title_group_folds(frame: pd.DataFrame, n_splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_splits`` (train, test) index pairs; listings sharing a normalised title share a fold."""
    groups = pd.factorize(normalize_title(frame["title"]))[0]
    folds = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(folds.split(frame, groups=groups))


def primary_fold(train_df: pd.DataFrame, test_df: pd.DataFrame, seed: int) -> dict[str, float | str]:
    """Train the primary as the final model is trained (drift thresholds left uncalibrated: they
    change no answer, and the folds measure answers); score it on the three input sets."""
    t0 = time.perf_counter()
    fitted = fit_model(train_df, seed, progress=_QUIET, drift_thresholds=False)
    model = ProductClassifierModel()
    model.setup(fitted.bundle)
    classes = fitted.bundle.classes
    test_df = test_df[test_df[LABEL].isin(set(classes))].reset_index(drop=True)
    y = test_df[LABEL].to_numpy()
    out: dict[str, float] = {}
    for suffix, reduce in INPUT_SETS.items():
        scored = score_frame(model, reduce(test_df).drop(columns=LABEL), classes)
        out.update(quality_metrics(y, scored, classes, suffix))
    if fitted.title_choice is not None:
        out["title_choice"] = fitted.title_choice.chosen
        out["title_choice_oof_margin_over_booster"] = fitted.title_choice.metrics()[
            "title_choice_oof_margin_over_booster"
        ]
    out.update(
        review_threshold=model.review_threshold,
        best_iteration=fitted.best_iteration,
        primary_seconds=time.perf_counter() - t0,
    )
    return out


def baseline_fold(train_df: pd.DataFrame, test_df: pd.DataFrame, seed: int) -> dict[str, float]:
    """Every baseline on every input set from one TF-IDF fit, plus the calibrated LinearSVC (the
    tuned LinearSVC's inner folds are jobs of their own: :func:`tuned_svc_fold`)."""
    t0 = time.perf_counter()
    inputs = BaselineInputs.fit(train_df)
    train_m, test_m = inputs.matrices(train_df), inputs.matrices(test_df)
    y_train, y_test = train_df[LABEL].to_numpy(), test_df[LABEL].to_numpy()
    out: dict[str, float] = {}
    for suffix in INPUT_SETS:
        for name, estimator in BASELINES.items():
            pred = clone(estimator).fit(train_m[suffix], y_train).predict(test_m[suffix])
            out[f"baseline_{name}_macro_f1{suffix}"] = macro_f1(y_test, pred)
    calibrated = clone(CALIBRATED_SVC).fit(train_m["_title_only"], y_train)
    proba = calibrated.predict_proba(test_m["_title_only"])
    pred = calibrated.classes_[proba.argmax(axis=1)]
    out["calibrated_svc_macro_f1_title_only"] = macro_f1(y_test, pred)
    y_idx = np.searchsorted(calibrated.classes_, y_test)
    out["calibrated_svc_ece_title_only"] = expected_calibration_error(proba, y_idx)
    out["calibrated_svc_coverage_at_98_title_only"] = coverage_at_precision(proba.max(axis=1), pred == y_test)
    groups = pd.factorize(normalize_title(train_df["title"]))[0]
    review = calibrated_svc_review(
        train_m["_title_only"], y_train, groups, test_m["_title_only"], y_test, seed, fitted=calibrated
    )
    out["calibrated_svc_review_threshold_title_only"] = review.threshold
    out["calibrated_svc_review_coverage_title_only"] = review.coverage
    out["calibrated_svc_review_precision_title_only"] = review.precision
    out["baseline_seconds"] = time.perf_counter() - t0
    return out


def tuned_svc_fold(
    train_df: pd.DataFrame, test_df: pd.DataFrame, seed: int, scores: list[dict[str, float]], untuned_f1: float
) -> dict[str, float]:
    """The tuned LinearSVC of one fold from its inner folds' ``scores``: the chosen setting fitted
    on the fold's training rows; the default setting is the untuned LinearSVC (``untuned_f1``)."""
    tuned = choose(scores)
    f1 = untuned_f1
    if not tuned.is_default:
        pred = tuned.predict(train_df["title"], train_df[LABEL].to_numpy(), test_df["title"])
        f1 = macro_f1(test_df[LABEL].to_numpy(), pred)
    return {
        f"baseline_{TUNED_SVC}_macro_f1_title_only": f1,
        "baseline_tuned_C": tuned.C,
        "baseline_tuned_min_df": tuned.min_df,
    }


def strongest_baseline(table: pd.DataFrame) -> str:
    """The baseline with the highest mean title-only macro-F1 over the folds (the tuned LinearSVC included)."""
    return max([*BASELINES, TUNED_SVC], key=lambda name: table[f"baseline_{name}_macro_f1_title_only"].mean())


def cross_validate(
    frame: pd.DataFrame, n_splits: int, seed: int, n_jobs: int = 2, beside: Sequence[Job] = ()
) -> tuple[pd.DataFrame, list[Any]]:
    """Per-fold table (one row per fold), and the results of the ``beside`` jobs (function,
    arguments), which run in the same pool of ``n_jobs`` workers (e.g. the final model's fit):
    more processes than cores would make every job slower.

    The table gains ``baseline_macro_f1_title_only`` (the strongest baseline's score) and
    ``title_only_margin`` (primary minus that).
    """
    folds = title_group_folds(frame, n_splits, seed)
    parts = [(frame.iloc[tr].reset_index(drop=True), frame.iloc[te].reset_index(drop=True)) for tr, te in folds]
    tasks = [delayed(function)(*args) for function, args in beside]
    tasks += [delayed(baseline_fold)(tr, te, seed) for tr, te in parts]  # the longest jobs first
    tasks += [delayed(primary_fold)(tr, te, seed) for tr, te in parts]
    # the tuned LinearSVC's inner folds last: short jobs that keep both workers busy to the end
    tasks += [job for tr, _ in parts for job in inner_fold_jobs(tr["title"], tr[LABEL].to_numpy(), seed)]
    log.info("cross-validation: %d title-grouped folds, %d jobs on %d workers...", n_splits, len(tasks), n_jobs)
    with Parallel(n_jobs=n_jobs, backend="loky") as pool:
        results = pool(tasks)
        alongside, results = results[: len(beside)], results[len(beside) :]
        baselines, primaries = results[:n_splits], results[n_splits : 2 * n_splits]
        inner_scores = results[2 * n_splits :]
        inner = [inner_scores[i * INNER_FOLDS : (i + 1) * INNER_FOLDS] for i in range(n_splits)]
        tuned = pool(
            delayed(tuned_svc_fold)(tr, te, seed, scores, baseline["baseline_linear_svc_macro_f1_title_only"])
            for (tr, te), scores, baseline in zip(parts, inner, baselines, strict=True)
        )
    rows = []
    for i, ((tr, te), primary, baseline, svc) in enumerate(zip(parts, primaries, baselines, tuned, strict=True)):
        rows.append({"split": i, "train_rows": len(tr), "test_rows": len(te), **primary, **baseline, **svc})
    table = pd.DataFrame(rows)
    best = strongest_baseline(table)
    table["strongest_baseline"] = best
    table["baseline_macro_f1_title_only"] = table[f"baseline_{best}_macro_f1_title_only"]
    table["title_only_margin"] = table["macro_f1_title_only"] - table["baseline_macro_f1_title_only"]
    table["review_coverage_margin_title_only"] = (
        table["review_coverage_title_only"] - table["calibrated_svc_review_coverage_title_only"]
    )
    return table, alongside


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
