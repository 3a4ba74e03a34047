"""Temperature scaling of the booster's raw scores, fitted on the validation split."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from pyfunc_model.chain import softmax
from pyfunc_model.temperature import TEMPERATURE_KEY, UNKNOWN_SUBCATEGORY_KEY

#: Search range of the temperature (a bounded 1-d search on log T).
TEMPERATURE_BOUNDS = (0.25, 8.0)


def fit_temperature(
    raw_scores: np.ndarray, y_idx: np.ndarray, bounds: tuple[float, float] = TEMPERATURE_BOUNDS
) -> float:
    """The T minimising validation log-loss of softmax(raw / T); 1.0 means "already calibrated"."""

    def nll(log_t: float) -> float:
        p = softmax(raw_scores, float(np.exp(log_t)))
        return float(-np.log(np.clip(p[np.arange(len(y_idx)), y_idx], 1e-12, None)).mean())

    res = minimize_scalar(nll, bounds=tuple(np.log(bounds)), method="bounded")
    return float(np.exp(res.x))


#: Fewer validation rows than this in a group: the group shares the overall temperature.
MIN_GROUP_ROWS = 50


def fit_group_temperatures(raw_scores: np.ndarray, y_idx: np.ndarray, known: np.ndarray) -> dict[str, float]:
    """Temperatures for rows with a known sub-category and for the rest (artifact metadata keys)."""
    overall = None
    out = {}
    for key, rows in ((TEMPERATURE_KEY, known), (UNKNOWN_SUBCATEGORY_KEY, ~known)):
        if rows.sum() >= MIN_GROUP_ROWS:
            out[key] = fit_temperature(raw_scores[rows], y_idx[rows])
        else:
            overall = overall if overall is not None else fit_temperature(raw_scores, y_idx)
            out[key] = overall
    return out
