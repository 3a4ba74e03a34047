"""Title text features: surface statistics and cross-fitted linear text scores.

``TitleTextScorer`` turns a title into one score per class from a linear model on hashed word
1-2 and char 3-5 n-grams. LightGBM on those scores plus the tabular fields beats the linear
model alone. As in scikit-learn's ``TargetEncoder``, ``fit_transform`` returns out-of-fold
scores (grouped by title so repeated listings never score themselves), while ``transform``
uses the model fitted on all the data: the booster never trains on over-confident scores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import GroupKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted, validate_data

from features.chars import char_counts
from features.ngrams import FastTfidf
from features.subsample import capped_groups, group_fold
from features.text import as_strings, distinct, normalize_title

#: Progress of the (training-only) fits; serving never fits.
log = logging.getLogger(__name__)

#: Distinct (title, label) pairs the text models are fitted on. Past it, the vocabulary and
#: every LinearSVC/ComplementNB fit use a title-grouped random subset of this size: the scorer
#: fits six LinearSVCs (all titles + five folds), each ~20 s of CPU per 80,000 titles and growing
#: faster than the titles, while the learning curve (docs/SCALE.md) is nearly flat long before
#: 100,000; amazon.in and PriceRunner have under 30,000 distinct training titles and never reach
#: it. Training-only.
MAX_FIT_TITLES = 100_000
#: Titles vectorised and scored at once outside the fitted subset: bounded TF-IDF memory.
SCORE_CHUNK_TITLES = 50_000


def _titles(X: object) -> pd.Series | np.ndarray:
    if isinstance(X, pd.DataFrame):
        return X["title"] if "title" in X.columns else X.iloc[:, 0]
    if isinstance(X, dict):  # the columns of a ``features.prepared.PreparedInput``
        return X["title"]
    arr = np.asarray(X, dtype=object)
    return pd.Series(arr.reshape(len(arr), -1)[:, 0] if arr.ndim > 1 else arr)


class TitleStats(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Length in characters and word tokens, share of digits and of upper-case letters."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags

    def fit(self, X: object, y: object = None) -> TitleStats:
        validate_data(self, X, dtype=None, ensure_all_finite=False, reset=True)
        return self

    def transform(self, X: object) -> np.ndarray:
        """Statistics of the first column (the title); a DataFrame's ``title`` column if it has one."""
        check_is_fitted(self, "n_features_in_")
        if isinstance(X, pd.DataFrame | dict) and "title" in X:
            raw = as_strings(X["title"])
        else:
            arr = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=False)
            raw = as_strings(arr[:, 0])
        n_chars, n_tokens, digits, upper = char_counts(raw).T
        denom = np.maximum(n_chars, 1.0)
        return np.column_stack([n_chars, n_tokens, digits / denom, upper / denom])

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(["title_chars", "title_tokens", "title_digit_share", "title_upper_share"], dtype=object)


@dataclass
class LinearScores:
    """What scoring needs of the fitted text models: one float32 (n-grams x scores) weight matrix.

    LinearSVC keeps a (classes x n-grams) float64 array and ComplementNB three; one float32
    matrix holding both is a fraction of the memory, and scoring is a single sparse product
    (scores move by ~1e-7). ``blocks``: each model's (first column, width, is naive Bayes).
    """

    weights: np.ndarray
    intercepts: np.ndarray
    blocks: list[tuple[int, int, bool]]

    @classmethod
    def from_models(cls, models: list) -> LinearScores:
        weights, intercepts, blocks, col = [], [], [], 0
        for m in models:
            is_nb = isinstance(m, ComplementNB)
            w = m.feature_log_prob_.T if is_nb else m.coef_.T
            weights.append(w)
            intercepts.append(np.zeros(w.shape[1]) if is_nb else np.atleast_1d(m.intercept_))
            blocks.append((col, w.shape[1], is_nb))
            col += w.shape[1]
        return cls(np.ascontiguousarray(np.hstack(weights), dtype=np.float32), np.concatenate(intercepts), blocks)

    def scores(self, matrix: sp.csr_matrix) -> np.ndarray:
        """SVM margins, then naive Bayes joint log-likelihoods relative to the row's best class.

        ``jll - max(jll)`` equals ``predict_log_proba - max``: the normaliser cancels.
        """
        out = np.asarray(matrix.astype(np.float32, copy=False) @ self.weights, dtype="float64") + self.intercepts
        for first, width, is_nb in self.blocks:
            if is_nb:
                block = out[:, first : first + width]
                block -= block.max(axis=1, keepdims=True)
        return out


class TitleTextScorer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """One linear-model score per class from word 1-2 and char 3-5 n-gram TF-IDF of the title.

    A fitted vocabulary (capped by ``max_features``) rather than hashing: measured on the real
    data it scores ~0.01 macro-F1 higher, and the titles' vocabulary is small (tens of MB at most).

    ``max_fit_titles`` (training only): past this many distinct titles the vocabulary and the
    models are fitted on a title-grouped subset; see :meth:`fit_transform`.
    """

    def __init__(
        self,
        max_features: int | None = 100_000,
        C: float = 0.5,
        naive_bayes: bool = True,
        nb_alpha: float = 0.3,
        n_splits: int = 5,
        random_state: int = 0,
        max_fit_titles: int | None = MAX_FIT_TITLES,
    ) -> None:
        self.naive_bayes = naive_bayes
        self.nb_alpha = nb_alpha
        self.max_features = max_features
        self.C = C
        self.n_splits = n_splits
        self.random_state = random_state
        self.max_fit_titles = max_fit_titles

    def _make_vectorizer(self) -> FastTfidf:
        # the word 1-2 + char_wb 3-5 TfidfVectorizer pair's matrix (vocabulary and idf learned by
        # scikit-learn), transformed with numpy: ~7x the rows/s, ~0.2 ms for one title
        return FastTfidf(max_features=self.max_features, sublinear_tf=True, dtype=np.float32)

    def _new_model(self) -> LinearSVC:
        return LinearSVC(C=self.C, random_state=self.random_state)

    def _new_models(self) -> list:
        models: list = [self._new_model()]
        if self.naive_bayes:
            models.append(ComplementNB(alpha=self.nb_alpha))
        return models

    def fit(self, X: object, y: object) -> TitleTextScorer:
        self._fit_full(_titles(X), np.asarray(y))
        return self

    def _fit_full(self, titles: pd.Series, y: np.ndarray) -> sp.csr_matrix:
        self.n_features_in_ = 1
        self.vectorizer_ = self._make_vectorizer()
        matrix = self.vectorizer_.fit_transform(as_strings(titles))
        fitted = [m.fit(matrix, y) for m in self._new_models()]
        self.linear_ = LinearScores.from_models(fitted)
        self.classes_ = fitted[0].classes_
        return matrix

    def fit_transform(self, X: object, y: object = None, **fit_params: object) -> np.ndarray:
        """Fit on all rows; return out-of-fold scores, folds grouped by normalised title.

        Each distinct (title, label) pair is fitted once, so row copies (the title-only
        augmentation in training, repeated listings) cost nothing extra.

        Past ``max_fit_titles`` pairs, the vocabulary and the served models are fitted on a
        title-grouped subset S of that size (:func:`features.subsample.capped_groups`) and the
        folds split S. A title outside S is scored by one fold's models, the fold chosen by a hash
        of the title: it is out of sample as well, scored by a model fitted on the same share of
        S as the out-of-fold scores inside S, so the booster sees one distribution. Titles outside
        S are vectorised in chunks: the TF-IDF matrix of every title never exists at once.
        """
        if y is None:
            raise ValueError("TitleTextScorer.fit_transform needs the labels y")
        titles = _titles(X).reset_index(drop=True)
        y = np.asarray(y)
        groups = normalize_title(titles).to_numpy()
        first = ~pd.DataFrame({"g": groups, "y": y}).duplicated().to_numpy()
        uniq_titles, uniq_y, uniq_groups = titles[first], y[first], groups[first]
        in_fit = capped_groups(uniq_groups, self.max_fit_titles, self.random_state)
        fit_rows = np.arange(len(uniq_y)) if in_fit is None else np.flatnonzero(in_fit)
        fit_y, fit_groups = uniq_y[fit_rows], uniq_groups[fit_rows]
        log.info(
            "title scorer: vocabulary and %d + 1 model fits on %d of %d distinct titles",
            self.n_splits,
            len(fit_rows),
            len(uniq_y),
        )
        matrix = self._fit_full(uniq_titles.iloc[fit_rows], fit_y)
        n_splits = min(self.n_splits, len(np.unique(fit_groups)))
        if n_splits < 2:
            return self.transform(X)
        k = len(self.classes_)
        oof = np.full((len(uniq_y), k * len(self.linear_.blocks)), -1.0)
        fold_models: list[tuple[LinearScores, np.ndarray]] = []
        for train_idx, test_idx in GroupKFold(n_splits=n_splits).split(matrix, fit_y, fit_groups):
            folds = [m.fit(matrix[train_idx], fit_y[train_idx]) for m in self._new_models()]
            cols = np.searchsorted(self.classes_, folds[0].classes_)
            cols = np.concatenate([cols + j * k for j in range(len(folds))])
            fold_models.append((LinearScores.from_models(folds), cols))
            oof[np.ix_(fit_rows[test_idx], cols)] = fold_models[-1][0].scores(matrix[test_idx])
        del matrix, folds  # the fold models' weights now live in their LinearScores
        if in_fit is not None:
            self._score_outside(uniq_titles.to_numpy(), uniq_groups, np.flatnonzero(~in_fit), fold_models, oof)
        # every row gets the out-of-fold scores of its (title, label) pair
        key = pd.MultiIndex.from_arrays([uniq_groups, uniq_y])
        pos = key.get_indexer(pd.MultiIndex.from_arrays([groups, y]))
        return oof[pos]

    def _score_outside(
        self,
        titles: np.ndarray,
        groups: np.ndarray,
        rows: np.ndarray,
        fold_models: list[tuple[LinearScores, np.ndarray]],
        out: np.ndarray,
    ) -> None:
        """Scores of the titles outside the fitted subset, each by the fold its title hashes to."""
        log.info("title scorer: scoring the %d titles outside the fitted subset with the fold models", len(rows))
        fold = group_fold(groups[rows], len(fold_models), self.random_state)
        for f, (linear, cols) in enumerate(fold_models):
            mine = rows[fold == f]
            for lo in range(0, len(mine), SCORE_CHUNK_TITLES):
                chunk = mine[lo : lo + SCORE_CHUNK_TITLES]
                out[np.ix_(chunk, cols)] = linear.scores(self.vectorizer_.transform(as_strings(titles[chunk])))

    def transform(self, X: object) -> np.ndarray:
        """Scores of the models fitted on all rows, computed once per distinct title."""
        check_is_fitted(self, "linear_")
        unique, inverse = distinct(as_strings(_titles(X)))
        scores = self.linear_.scores(self.vectorizer_.transform(unique))
        return scores if inverse is None else scores[inverse]

    def naive_bayes_proba(self, scores: np.ndarray) -> np.ndarray | None:
        """Class probabilities of the naive Bayes model from this scorer's output (None without NB)."""
        if not self.naive_bayes:
            return None
        block = scores[:, len(self.classes_) : 2 * len(self.classes_)]
        e = np.exp(block - block.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "classes_")
        prefixes = ["text_score", "text_nb_logp"][: len(self.linear_.blocks)]
        return np.asarray([f"{p}_{i}" for p in prefixes for i in range(len(self.classes_))], dtype=object)
