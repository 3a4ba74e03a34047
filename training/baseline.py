"""The bars to beat: linear text models on TF-IDF of the title (plus one-hot fields when given).

Word 1-2 + char_wb 3-5 TF-IDF (fitted once per training set and shared by every baseline), then
LinearSVC, logistic regression and ComplementNB; a sigmoid-calibrated LinearSVC gives the
confidence a simple model would auto-accept with. The structured fields, when an input set has
them, are one-hot columns beside the title's TF-IDF.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import FeatureUnion, make_union
from sklearn.preprocessing import OneHotEncoder
from sklearn.svm import LinearSVC

from features.schema import LABEL
from training.data import title_grouped_subset
from training.evaluate import MAX_EVAL_ROWS, expected_calibration_error, macro_f1, per_class_f1
from training.held_back import HELD_BACK_FOLDS
from training.review_threshold import ReviewStats, choose_threshold, coverage_at_precision
from training.tuned_baseline import TunedSvc, choose, inner_fold_jobs

#: Baselines by name. Logistic regression is fitted by SGD on the log loss: lbfgs takes ~70 s
#: per fit on 8.7k titles (C=10, measured) for about the same macro-F1.
BASELINES: dict[str, ClassifierMixin] = {
    "linear_svc": LinearSVC(C=1.0, random_state=0),
    "logistic_regression": SGDClassifier(loss="log_loss", alpha=2e-6, random_state=0),
    "complement_nb": ComplementNB(alpha=0.3),
}
#: Training rows the bars are fitted on. Past it, a title-grouped random subset: the bars are
#: reported, not served, and their fit (scikit-learn's vectorizer, four LinearSVCs) costs ~2
#: minutes of CPU per 80,000 rows, more than the model itself; amazon.in's and PriceRunner's
#: training splits (under 29,000 rows) are used whole.
MAX_BASELINE_ROWS = 50_000
CALIBRATED_SVC = CalibratedClassifierCV(LinearSVC(C=1.0, random_state=0), cv=3, method="sigmoid")
#: What :func:`calibrated_svc_metrics` reports.
CALIBRATED_SVC_METRICS = (
    "calibrated_svc_macro_f1_title_only",
    "calibrated_svc_ece_title_only",
    "calibrated_svc_coverage_at_98_title_only",
)
#: The structured fields each input set gives the baselines (title always).
FIELD_SETS: dict[str, tuple[str, ...]] = {
    "_title_only": (),
    "": ("subcategory", "brand", "seller_id"),
    "_no_subcategory": ("brand", "seller_id"),
}


def title_vectorizer() -> FeatureUnion:
    return make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True),
    )


@dataclass
class BaselineInputs:
    """The title TF-IDF and one one-hot encoder per field, fitted once on a training frame.

    A field with one value in the training rows (e.g. never sent: every row is the empty
    string) tells the baselines nothing and gets no column, so input sets that differ only by
    such fields are the same matrix (:meth:`fields`)."""

    tfidf: FeatureUnion
    onehot: dict[str, OneHotEncoder]

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> BaselineInputs:
        tfidf = title_vectorizer().fit(frame["title"].fillna(""))
        onehot = {}
        for f in FIELD_SETS[""]:
            values = _field(frame, f)
            if len(np.unique(values)) > 1:
                onehot[f] = OneHotEncoder(handle_unknown="ignore").fit(values)
        return cls(tfidf, onehot)

    def fields(self, suffix: str) -> tuple[str, ...]:
        """The fields whose columns the input set ``suffix`` has beside the title's TF-IDF."""
        return tuple(f for f in FIELD_SETS[suffix] if f in self.onehot)

    def matrices(self, frame: pd.DataFrame) -> dict[str, sp.csr_matrix]:
        """One matrix per input set (keys of :data:`FIELD_SETS`); the title is vectorised once."""
        titles = self.tfidf.transform(frame["title"].fillna(""))
        encoded = {f: enc.transform(_field(frame, f)) for f, enc in self.onehot.items()}
        return {
            suffix: sp.hstack([titles, *(encoded[f] for f in self.fields(suffix))], format="csr")
            for suffix in FIELD_SETS
        }


def _field(frame: pd.DataFrame, field: str) -> np.ndarray:
    """One field as a string column; missing values are the empty string (a category of their own)."""
    values = frame[field].astype(object)
    return values.where(values.notna(), "").astype(str).to_numpy().reshape(-1, 1)


@dataclass
class BaselineScores:
    metrics: dict[str, float]
    per_class_f1: dict[str, float]
    #: The tuned LinearSVC's choice (run params).
    params: dict[str, object]

    @classmethod
    def of(
        cls,
        y_test: np.ndarray,
        classes: np.ndarray,
        tuned: TunedSvc,
        tuned_pred: np.ndarray,
        untuned_f1: float,
        calibrated: dict[str, float],
        train_rows: int,
        seconds: float,
    ) -> BaselineScores:
        """The held-out split's bars from their fits: the tuned LinearSVC's labels (the anchor,
        ``baseline_macro_f1_title_only``), the untuned one's score and :func:`calibrated_svc_metrics`."""
        return cls(
            metrics={
                "baseline_macro_f1_title_only": macro_f1(y_test, tuned_pred),
                "baseline_untuned_macro_f1_title_only": untuned_f1,
                **tuned.metrics(),
                **calibrated,
                "baseline_train_rows": train_rows,
                "baseline_fit_seconds": seconds,
            },
            per_class_f1=per_class_f1(y_test, tuned_pred, classes),
            params=tuned.params(),
        )


def calibrated_svc_metrics(proba: np.ndarray, classes: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    """The sigmoid-calibrated LinearSVC on title-only test rows: macro-F1, ECE and the share it
    would auto-accept at 98 % precision (``proba``: its probabilities over ``classes``)."""
    pred = classes[proba.argmax(axis=1)]
    values = (
        macro_f1(y_test, pred),
        expected_calibration_error(proba, np.searchsorted(classes, y_test)),
        coverage_at_precision(proba.max(axis=1), pred == y_test),
    )
    return dict(zip(CALIBRATED_SVC_METRICS, values, strict=True))


def evaluation_rows(test_df: pd.DataFrame, classes: np.ndarray) -> pd.DataFrame:
    """The held-out rows a run scores: labels the model knows, at most :data:`MAX_EVAL_ROWS` (whole title groups)."""
    test_df = test_df[test_df[LABEL].isin(set(classes))].reset_index(drop=True)
    return title_grouped_subset(test_df, MAX_EVAL_ROWS)


def _untuned_and_calibrated(
    train_titles: pd.Series, y_train: np.ndarray, test_titles: pd.Series
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The untuned LinearSVC's labels and the sigmoid-calibrated one's probabilities (and classes)
    on the test titles: fits that do not wait for the tuning's choice."""
    tfidf = title_vectorizer()
    X_train = tfidf.fit_transform(train_titles.fillna(""))
    X_test = tfidf.transform(test_titles.fillna(""))
    pred = clone(BASELINES["linear_svc"]).fit(X_train, y_train).predict(X_test)
    calibrated = clone(CALIBRATED_SVC).fit(X_train, y_train)
    return pred, calibrated.predict_proba(X_test), calibrated.classes_


def title_baselines(
    train_df: pd.DataFrame, test_df: pd.DataFrame, classes: np.ndarray, seed: int = 42, n_jobs: int = 2
) -> BaselineScores:
    """The held-out split's title-only bars: TF-IDF + LinearSVC tuned by inner cross-validation on
    the training rows (``baseline_macro_f1_title_only``, the anchor), the untuned one, and the
    share of rows a sigmoid-calibrated LinearSVC auto-accepts at the primary's precision target.

    The inner folds and the untuned and calibrated fits run as one pool of ``n_jobs`` workers
    (three folds alone would leave a core idle for the last one); then the chosen setting is fitted."""
    t0 = time.perf_counter()
    y_train, y_test = train_df[LABEL].to_numpy(), test_df[LABEL].to_numpy()
    jobs = inner_fold_jobs(train_df["title"], y_train, seed)
    results = Parallel(n_jobs=n_jobs)(
        [*jobs, delayed(_untuned_and_calibrated)(train_df["title"], y_train, test_df["title"])]
    )
    tuned = choose(results[: len(jobs)])
    untuned_pred, proba, calibrated_classes = results[-1]
    # the default setting is the untuned LinearSVC, already fitted on these rows
    tuned_pred = untuned_pred if tuned.is_default else tuned.predict(train_df["title"], y_train, test_df["title"])
    return BaselineScores.of(
        y_test,
        classes,
        tuned,
        tuned_pred,
        macro_f1(y_test, untuned_pred),
        calibrated_svc_metrics(proba, calibrated_classes, y_test),
        len(train_df),
        time.perf_counter() - t0,
    )


def held_out_bars(
    train_df: pd.DataFrame, test_df: pd.DataFrame, seed: int
) -> tuple[Callable[..., BaselineScores], tuple[Any, ...]]:
    """The held-out split's bars as a job (function, arguments) to run beside the model's fit:
    fitted on the training rows (at most :data:`MAX_BASELINE_ROWS`), scored on the rows the run
    evaluates, one process."""
    classes = np.unique(train_df[LABEL].to_numpy())
    bars_train = title_grouped_subset(train_df, MAX_BASELINE_ROWS)
    return title_baselines, (bars_train, evaluation_rows(test_df, classes), classes, seed, 1)


@contextmanager
def baselines_in_background(
    train_df: pd.DataFrame, test_df: pd.DataFrame, seed: int
) -> Iterator[Callable[[], BaselineScores]]:
    """Fit the held-out split's bars in a worker process while the model trains; yields a
    function that waits for them.

    The model's fit runs on one core (its booster single-threaded, so ``--cv`` folds can run two
    at a time), and the bars cost ~40 s of CPU on amazon_in's training split: beside the fit they
    take no wall time. The worker is a fresh (spawned) interpreter, stopped if the run fails.
    """
    pool = multiprocessing.get_context("spawn").Pool(1)
    try:
        pending = pool.apply_async(*held_out_bars(train_df, test_df, seed))
        yield pending.get
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def calibrated_svc_review(
    X_train: sp.csr_matrix,
    y_train: np.ndarray,
    groups: np.ndarray,
    X_test: sp.csr_matrix,
    y_test: np.ndarray,
    seed: int,
    fitted: CalibratedClassifierCV | None = None,
) -> ReviewStats:
    """The calibrated LinearSVC's auto-accept threshold chosen as the primary's is, and what it does on the test rows.

    Same rule, same kind of rows: out-of-fold predictions over the training rows
    (:data:`HELD_BACK_FOLDS` title-grouped folds), then the model fitted on all of them is
    applied to the test rows at that threshold (``fitted``: that model, when the caller has it).
    """
    folds = GroupKFold(n_splits=HELD_BACK_FOLDS, shuffle=True, random_state=seed)
    held_back = cross_val_predict(
        clone(CALIBRATED_SVC), X_train, y_train, groups=groups, cv=folds, method="predict_proba"
    )
    classes = np.unique(y_train)
    threshold = choose_threshold(held_back.max(axis=1), classes[held_back.argmax(axis=1)] == y_train)
    model = fitted if fitted is not None else clone(CALIBRATED_SVC).fit(X_train, y_train)
    proba = model.predict_proba(X_test)
    return ReviewStats.at(threshold, proba.max(axis=1), model.classes_[proba.argmax(axis=1)] == y_test)
