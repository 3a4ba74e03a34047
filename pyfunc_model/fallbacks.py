"""Fallback models that need no booster: sub-category/keyword rules and the class prior.

Both are tiny, deterministic and pure numpy at predict time, so they answer when everything
else has failed. ``fit`` runs in training only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.text import normalize_title


class PriorClassifier:
    """The training class mix: the answer of last resort."""

    def fit(self, y: np.ndarray, classes: np.ndarray) -> PriorClassifier:
        counts = pd.Series(y).value_counts().reindex(classes, fill_value=0).to_numpy(dtype="float64")
        self.classes_ = np.asarray(classes)
        self.prior_ = (counts + 1.0) / (counts + 1.0).sum()
        return self

    def predict_proba(self, n_rows: int) -> np.ndarray:
        return np.tile(self.prior_, (n_rows, 1))


class RuleClassifier:
    """Sub-category -> category map learned from training data, then title keyword rules.

    A keyword rule is a title token seen at least ``min_support`` times whose rows belong to
    one category at least ``min_purity`` of the time. Rows no rule covers get NaN.
    """

    def __init__(self, min_support: int = 5, min_purity: float = 0.9) -> None:
        self.min_support = min_support
        self.min_purity = min_purity

    def fit(self, frame: pd.DataFrame, y: np.ndarray, classes: np.ndarray) -> RuleClassifier:
        self.classes_ = np.asarray(classes)
        index = {c: i for i, c in enumerate(self.classes_)}
        y_idx = np.array([index[v] for v in y])
        sub = frame["subcategory"].astype("string").str.lower()
        self.subcategory_map_ = self._purity_table(sub.to_numpy(dtype=object), y_idx, min_support=1)
        tokens = normalize_title(frame["title"]).str.split()
        exploded = pd.DataFrame({"tok": tokens, "y": y_idx}).explode("tok").dropna()
        exploded = exploded.reset_index().drop_duplicates(["index", "tok"])  # a token counts once per row
        self.keyword_map_ = self._purity_table(
            exploded["tok"].to_numpy(dtype=object), exploded["y"].to_numpy(), self.min_support
        )
        return self

    def _purity_table(self, keys: np.ndarray, y_idx: np.ndarray, min_support: int) -> dict[str, tuple[int, float]]:
        table = pd.crosstab(pd.Series(keys, dtype=object), pd.Series(y_idx))
        table = table[table.sum(axis=1) >= min_support]
        purity = table.max(axis=1) / table.sum(axis=1)
        keep = purity >= self.min_purity
        best = table.idxmax(axis=1)
        return {str(k): (int(best[k]), float(purity[k])) for k in table.index[keep]}

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Probabilities per row; NaN rows where no rule applies."""
        n, k = len(frame), len(self.classes_)
        out = np.full((n, k), np.nan)
        sub = frame["subcategory"].astype("string").str.lower().to_numpy(dtype=object)
        tokens = normalize_title(frame["title"]).str.split()
        for i in range(n):
            hit = self.subcategory_map_.get(sub[i]) if isinstance(sub[i], str) else None
            votes = np.zeros(k)
            if hit is not None:
                votes[hit[0]] += hit[1] * 10.0
            else:
                for tok in tokens.iat[i] or []:
                    rule = self.keyword_map_.get(tok)
                    if rule is not None:
                        votes[rule[0]] += rule[1]
            if votes.sum() > 0:
                smoothed = votes + 0.1 * votes.sum() / k
                out[i] = smoothed / smoothed.sum()
        return out


def forest_input(tabular: np.ndarray) -> np.ndarray:
    """The random forest's view of the tabular features: missing as -1 (never a real value)."""
    return np.nan_to_num(tabular, nan=-1.0, posinf=1e12, neginf=-1.0)
