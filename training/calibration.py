"""Temperature scaling of the booster's raw scores, fitted on the validation split."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from pyfunc_model.chain import softmax

#: Search range of the temperature (a bounded 1-d search on log T).
TEMPERATURE_BOUNDS = (0.25, 8.0)


def fit_temperature(raw_scores: np.ndarray, y_idx: np.ndarray) -> float:
    """The T minimising validation log-loss of softmax(raw / T); 1.0 means "already calibrated"."""

    def nll(log_t: float) -> float:
        p = softmax(raw_scores, float(np.exp(log_t)))
        return float(-np.log(np.clip(p[np.arange(len(y_idx)), y_idx], 1e-12, None)).mean())

    res = minimize_scalar(nll, bounds=tuple(np.log(TEMPERATURE_BOUNDS)), method="bounded")
    return float(np.exp(res.x))
