"""The fallback chain: primary LightGBM -> naive Bayes (title) -> random forest (tabular) -> rules -> prior.

Each row starts at the primary or, when a trigger fires, further down the chain, and moves on
while a model cannot answer it (raises, returns NaN, abstains, or is below the confidence
threshold). The prior always answers, so every row gets a category, a route and a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ROUTES = ("primary", "naive_bayes", "random_forest", "rules", "prior")
FALLBACK_ORDER = ROUTES[1:]


@dataclass
class ChainResult:
    proba: np.ndarray
    model_used: np.ndarray
    fallback_reason: np.ndarray


Scorer = Callable[[np.ndarray], np.ndarray]
"""Given row indices, return probabilities (rows x classes); NaN rows mean "cannot answer"."""


def run_chain(
    primary_proba: np.ndarray,
    start: np.ndarray,
    reasons: np.ndarray,
    scorers: dict[str, Scorer],
    confidence_threshold: float,
) -> ChainResult:
    """Resolve every row.

    ``primary_proba`` holds the primary's answer (NaN rows where it failed); ``start`` is each
    row's first route (an index into ``ROUTES``); ``reasons`` the trigger that moved it there.
    """
    n, k = primary_proba.shape
    proba = np.full((n, k), np.nan)
    used = np.full(n, "", dtype=object)
    reasons = reasons.astype(object).copy()
    pending = np.ones(n, dtype=bool)
    for step, route in enumerate(ROUTES):
        rows = np.flatnonzero(pending & (start <= step))
        if rows.size == 0:
            continue
        if route == "primary":
            answer = primary_proba[rows]
        else:
            try:
                answer = np.asarray(scorers[route](rows), dtype="float64")
            except Exception as exc:  # a broken fallback must not take the chain down
                answer = np.full((rows.size, k), np.nan)
                _note(reasons, rows, f"{route}_error:{type(exc).__name__}")
        ok = np.isfinite(answer).all(axis=1)
        if route != "prior":
            conf_ok = answer.max(axis=1, initial=0.0) >= confidence_threshold
            low = ok & ~conf_ok
            _note(reasons, rows[low], f"{route}_low_confidence")
            ok &= conf_ok
        else:
            ok[:] = True
        accepted = rows[ok]
        proba[accepted] = answer[ok]
        used[accepted] = route
        pending[accepted] = False
    return ChainResult(proba=proba, model_used=used, fallback_reason=reasons)


def _note(reasons: np.ndarray, rows: np.ndarray, reason: str) -> None:
    for i in rows:
        reasons[i] = reason if not reasons[i] else reasons[i]


def softmax(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nonempty_title_rows(titles: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Mask over ``rows``: the (cleaned) title has at least one character."""
    return titles[rows].astype(str) != ""
