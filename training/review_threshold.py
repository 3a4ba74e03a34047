"""Choose the auto-accept threshold: the lowest confidence above which precision reaches a target.

Chosen at training on rows the model did not fit (validation or out-of-fold predictions) and
checked on the held-out split, where the threshold's coverage (share of rows auto-accepted) and
realised precision are reported. The serving side (``pyfunc_model.review``) only applies it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import beta

from pyfunc_model.review import PRECISION_TARGET_KEY, THRESHOLD_KEY

#: Precision required of auto-accepted title-only answers.
PRECISION_TARGET = 0.98
#: One-sided confidence level of the precision bound the stored threshold must reach.
CONFIDENCE_LEVEL = 0.9


def precision_lower_bound(correct: np.ndarray, accepted: np.ndarray, level: float) -> np.ndarray:
    """One-sided Clopper-Pearson lower bound on precision: ``correct`` of ``accepted`` rows were right.

    With ``level`` 0 the bound is the observed precision itself. The exact binomial bound is
    conservative for any number of rows, which matters at the top of the confidence range, where
    a cut-off accepts only a few hundred held-back rows.
    """
    correct, accepted = np.asarray(correct, dtype="float64"), np.asarray(accepted, dtype="float64")
    if level <= 0:
        return correct / np.maximum(accepted, 1)
    bound = beta.ppf(1.0 - level, correct, accepted - correct + 1)
    return np.where(correct > 0, bound, 0.0)


def choose_threshold(
    confidence: np.ndarray, correct: np.ndarray, target: float = PRECISION_TARGET, level: float = CONFIDENCE_LEVEL
) -> float:
    """Lowest confidence t such that the rows with confidence >= t are at least ``target`` precise.

    "Precise" means: the one-sided ``level`` lower confidence bound on their precision reaches
    the target (``level`` 0: the observed precision does). Of all such cut-offs the one
    accepting the most rows; cut-offs fall only between distinct confidences (tied rows are
    accepted together). If no cut-off reaches the target, 1.0 ("accept only certain answers").
    Rows with a NaN confidence count as never accepted.
    """
    confidence = np.asarray(confidence, dtype="float64")
    correct = np.asarray(correct, dtype=bool)
    keep = np.isfinite(confidence)
    confidence, correct = confidence[keep], correct[keep]
    if confidence.size == 0:
        return 1.0
    order = np.argsort(-confidence, kind="stable")
    conf_sorted = confidence[order]
    bound = precision_lower_bound(np.cumsum(correct[order]), np.arange(1, conf_sorted.size + 1), level)
    end_of_tie = np.append(conf_sorted[1:] < conf_sorted[:-1], True)
    ok = np.flatnonzero((bound >= target) & end_of_tie)
    return float(conf_sorted[ok[-1]]) if ok.size else 1.0


@dataclass(frozen=True)
class ReviewStats:
    """What a threshold does on a set of rows: share auto-accepted and their precision."""

    threshold: float
    coverage: float
    precision: float

    @classmethod
    def at(cls, threshold: float, confidence: np.ndarray, correct: np.ndarray) -> ReviewStats:
        accepted = np.nan_to_num(np.asarray(confidence, dtype="float64"), nan=-1.0) >= threshold
        precision = float(np.asarray(correct, dtype=bool)[accepted].mean()) if accepted.any() else float("nan")
        return cls(float(threshold), float(accepted.mean()) if accepted.size else 0.0, precision)


def coverage_at_precision(confidence: np.ndarray, correct: np.ndarray, target: float = PRECISION_TARGET) -> float:
    """Share of rows a threshold chosen ON these rows accepts: how well confidence ranks right answers.

    The same figure for two models on the same held-out rows compares their confidences fairly.
    """
    return ReviewStats.at(choose_threshold(confidence, correct, target, level=0.0), confidence, correct).coverage


def validation_thresholds(proba: np.ndarray, y_idx: np.ndarray, title_only: np.ndarray) -> dict[str, float]:
    """Artifact metadata: the title-only threshold (the one served) and the all-fields one (logged).

    ``proba``: calibrated class probabilities of held-back rows; ``title_only`` marks the rows
    whose sub-category, brand and seller were removed.
    """
    confidence, correct = proba.max(axis=1), proba.argmax(axis=1) == y_idx
    title_only = np.asarray(title_only, dtype=bool)
    return {
        THRESHOLD_KEY: choose_threshold(confidence[title_only], correct[title_only]),
        f"{THRESHOLD_KEY}_all_fields": choose_threshold(confidence[~title_only], correct[~title_only]),
        PRECISION_TARGET_KEY: PRECISION_TARGET,
    }
