"""TF-IDF + LinearSVC on titles, tuned as a practitioner would: C and min_df chosen by inner cross-validation.

An anchor is only fair when it is tuned. The grid is small (:data:`C_GRID` x :data:`MIN_DF_GRID`)
and the choice is made on the training rows alone, :data:`INNER_FOLDS` folds grouped by
normalised title (a listing's twins never score it), by mean title-only macro-F1. The chosen
setting is then fitted on all the training rows.

Cheap by construction: each inner fold fits one unnormalised TF-IDF. Dropping the columns whose
document frequency is under ``min_df`` and L2-normalising each block (words, characters) gives
exactly ``TfidfVectorizer(min_df=...)``'s matrix, because a kept term's idf depends only on its
own document frequency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from joblib import delayed
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

from features.text import normalize_title
from training.evaluate import macro_f1

#: Regularisation strengths tried (LinearSVC's default 1.0 in the middle, on a log scale). On
#: amazon_in's training split (seed 42) a 4 x 3 grid (C 0.25-2, min_df 1-3) cost 70 s of CPU and
#: ranked C 0.5-2 with min_df 1-2 on top (inner macro-F1 0.819-0.822; C 0.25 or min_df 3: 0.811-0.817).
C_GRID = (0.5, 1.0, 2.0)
#: Minimum document frequencies of a word or character n-gram tried.
MIN_DF_GRID = (1, 2)
#: Inner folds on the training rows (title-grouped).
INNER_FOLDS = 3


def _vectorizers() -> list[TfidfVectorizer]:
    """The baseline's two TF-IDF blocks (word 1-2, char_wb 3-5, sublinear), unnormalised."""
    return [
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, norm=None),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, norm=None),
    ]


def min_df_matrices(
    train_titles: pd.Series, other_titles: pd.Series, min_dfs: tuple[int, ...]
) -> dict[int, tuple[sp.csr_matrix, sp.csr_matrix]]:
    """For each ``min_df``: the training and the other rows' TF-IDF as ``TfidfVectorizer(min_df=...)`` gives them."""
    out: dict[int, tuple[list, list]] = {m: ([], []) for m in min_dfs}
    for vectorizer in _vectorizers():
        fitted = vectorizer.fit_transform(train_titles.fillna("")).tocsc()
        other = vectorizer.transform(other_titles.fillna("")).tocsc()
        df = np.diff(fitted.indptr)  # documents per term (CSC: non-zeros per column)
        for m in min_dfs:
            keep = np.flatnonzero(df >= m)
            out[m][0].append(normalize(fitted[:, keep].tocsr()))
            out[m][1].append(normalize(other[:, keep].tocsr()))
    return {m: (sp.hstack(a, format="csr"), sp.hstack(b, format="csr")) for m, (a, b) in out.items()}


@dataclass(frozen=True)
class TunedSvc:
    """The chosen setting and every setting's mean inner-fold macro-F1 (keys ``C_<C>_min_df_<m>``)."""

    C: float
    min_df: int
    inner_macro_f1: dict[str, float] = field(default_factory=dict)

    def params(self, prefix: str = "baseline_tuned") -> dict[str, object]:
        """Run params: the choice and the grid it was made on."""
        return {
            f"{prefix}.C": self.C,
            f"{prefix}.min_df": self.min_df,
            f"{prefix}.inner_folds": INNER_FOLDS,
            f"{prefix}.C_grid": list(C_GRID),
            f"{prefix}.min_df_grid": list(MIN_DF_GRID),
        }

    def metrics(self, prefix: str = "baseline_tuned_inner_macro_f1") -> dict[str, float]:
        """Run metrics: every setting's mean inner-fold title-only macro-F1."""
        return {f"{prefix}_{key}": value for key, value in self.inner_macro_f1.items()}

    @property
    def is_default(self) -> bool:
        """The untuned baseline's own setting (LinearSVC's C=1.0, every n-gram kept)."""
        return self.C == 1.0 and self.min_df == 1

    def predict(self, train_titles: pd.Series, y: np.ndarray, test_titles: pd.Series) -> np.ndarray:
        """Fit the chosen setting on all of ``train_titles`` and label ``test_titles``."""
        X_train, X_test = min_df_matrices(train_titles, test_titles, (self.min_df,))[self.min_df]
        return LinearSVC(C=self.C, random_state=0).fit(X_train, y).predict(X_test)


def _key(C: float, min_df: int) -> str:
    return f"C_{C:g}_min_df_{min_df}"


def _inner_fold(titles: pd.Series, y: np.ndarray, fit_rows: np.ndarray, score_rows: np.ndarray) -> dict[str, float]:
    views = min_df_matrices(titles.iloc[fit_rows], titles.iloc[score_rows], MIN_DF_GRID)
    out = {}
    for m, (X_fit, X_score) in views.items():
        for C in C_GRID:
            pred = LinearSVC(C=C, random_state=0).fit(X_fit, y[fit_rows]).predict(X_score)
            out[_key(C, m)] = macro_f1(y[score_rows], pred)
    return out


def inner_fold_jobs(titles: pd.Series, y: np.ndarray, seed: int) -> list[Any]:
    """One joblib task per inner fold (its grid of settings), to run beside other work; their
    results go to :func:`choose`."""
    titles = titles.reset_index(drop=True)
    y = np.asarray(y)
    groups = pd.factorize(normalize_title(titles))[0]
    folds = GroupKFold(n_splits=INNER_FOLDS, shuffle=True, random_state=seed).split(titles, groups=groups)
    return [delayed(_inner_fold)(titles, y, fit, score) for fit, score in folds]


def choose(scores: list[dict[str, float]]) -> TunedSvc:
    """The setting with the best mean inner-fold macro-F1; ties go to the smaller min_df, then
    the smaller C (the first in the grid)."""
    mean = {key: float(np.mean([s[key] for s in scores])) for key in scores[0]}
    grid = [(C, m) for m in MIN_DF_GRID for C in C_GRID]
    C, m = max(grid, key=lambda cm: mean[_key(*cm)])
    return TunedSvc(C, m, mean)
