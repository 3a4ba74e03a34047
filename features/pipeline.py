"""``ProductFeatures``: raw product rows in, the primary model's numeric matrix out.

One object, fitted in training and pickled into the artifact, so the columns the booster
was trained on are, by construction, the columns it sees when serving.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from features.hashing import BrandPriceCross, HashingEncoder
from features.numeric import NumericFeatures
from features.prepared import prepare_input
from features.schema import CATEGORICAL_FIELDS, TITLE, RowFlags
from features.target import HashedTargetEncoder
from features.text import title_groups
from features.title import TitleStats, TitleTextScorer


class ProductFeatures(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Hashed categoricals, brand x price cross, numeric transforms, title stats and scores.

    Accepts a DataFrame with at least ``title``; every optional column may be absent or
    missing per row. Brand falls back to the title's first word.
    """

    def __init__(
        self,
        n_buckets: int = 4096,
        n_price_bins: int = 6,
        text_C: float = 0.5,
        max_text_features: int | None = 100_000,
        n_splits: int = 5,
        random_state: int = 0,
    ) -> None:
        self.n_buckets = n_buckets
        self.n_price_bins = n_price_bins
        self.text_C = text_C
        self.max_text_features = max_text_features
        self.n_splits = n_splits
        self.random_state = random_state

    @staticmethod
    def prepare(X: pd.DataFrame) -> pd.DataFrame:
        """Canonical columns and dtypes, brand derived from the title where missing."""
        return ProductFeatures.prepare_with_flags(X)[0]

    @staticmethod
    def prepare_with_flags(X: pd.DataFrame) -> tuple[pd.DataFrame, RowFlags]:
        """:meth:`prepare` plus the per-row input problems found while cleaning (serving reports them)."""
        prepared = prepare_input(X)
        return prepared.frame, prepared.flags

    def _make_blocks(self) -> None:
        self.hashing_ = HashingEncoder(n_buckets=self.n_buckets)
        self.cross_ = BrandPriceCross(n_bins=self.n_price_bins, n_buckets=2 * self.n_buckets)
        self.subcategory_shares_ = HashedTargetEncoder(
            n_buckets=self.n_buckets, cv=self.n_splits, random_state=self.random_state
        )
        self.numeric_ = NumericFeatures()
        self.title_stats_ = TitleStats()
        self.text_ = TitleTextScorer(
            max_features=self.max_text_features, C=self.text_C, n_splits=self.n_splits, random_state=self.random_state
        )

    def fit(self, X: pd.DataFrame, y: object) -> ProductFeatures:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: pd.DataFrame, y: object = None, **fit_params: object) -> np.ndarray:
        """Fit every block. The label-derived columns (sub-category shares, text scores) are
        out-of-fold, folds grouped by normalised title; ``transform`` uses the full fits."""
        if y is None:
            raise ValueError("ProductFeatures needs the labels y to fit the title text scorer")
        self._make_blocks()
        frame = self.prepare(X)
        cat = frame[list(CATEGORICAL_FIELDS)]
        self.hashing_.fit(cat)
        self.cross_.fit(frame)
        groups = title_groups(frame[TITLE])
        shares = self.subcategory_shares_.fit_transform(frame["subcategory"], np.asarray(y), groups=groups)
        self.numeric_.fit(frame)
        self.title_stats_.fit(frame)
        text_scores = self.text_.fit_transform(frame, np.asarray(y))
        self.classes_ = self.text_.classes_
        self.n_features_in_ = len(X.columns)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        return np.hstack([self._tabular(frame, shares), text_scores])

    def tabular(self, frame: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
        """The columns that do not come from the title scorer (the random forest's input), for a
        frame that already went through :meth:`prepare` or the columns of a ``PreparedInput``."""
        return self._tabular(frame, self.subcategory_shares_.transform(frame["subcategory"]))

    def _tabular(self, frame: pd.DataFrame | dict[str, np.ndarray], subcategory_shares: np.ndarray) -> np.ndarray:
        return np.hstack(
            [
                self.hashing_.transform_columns(frame),
                self.cross_.transform(frame),
                subcategory_shares,
                self.numeric_.transform(frame),
                self.title_stats_.transform(frame),
            ]
        )

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "text_")
        frame = self.prepare(X)
        return self.transform_prepared(frame)

    def transform_prepared(self, frame: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
        """Like :meth:`transform` for a frame that already went through :meth:`prepare`, or for the
        ``columns`` of :func:`features.prepared.prepare_input` (serving: no pandas per request)."""
        return np.hstack([self.tabular(frame), self.text_.transform(frame)])

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "text_")
        names = [
            *self.hashing_.get_feature_names_out(),
            *self.cross_.get_feature_names_out(),
            *self.subcategory_shares_.get_feature_names_out(),
            *self.numeric_.get_feature_names_out(),
            *self.title_stats_.get_feature_names_out(),
            *self.text_.get_feature_names_out(),
        ]
        return np.asarray(names, dtype=object)

    @property
    def categorical_indices(self) -> list[int]:
        """Columns holding hash bucket ids of seller, brand and the brand x price cross.

        The subcategory bucket is left out: its class shares (a later block) carry it better.
        """
        return [0, 1, 3]

    @property
    def n_tabular(self) -> int:
        """Number of leading columns that do not come from the text scorer."""
        return len(self.get_feature_names_out()) - len(self.text_.get_feature_names_out())
