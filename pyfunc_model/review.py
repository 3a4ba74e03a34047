"""Which answers need a person: the auto-accept rule applied at serving time.

A row is auto-accepted when the primary model answered it with a confidence at or above the
review threshold. The threshold is chosen in training (the lowest confidence above which
title-only precision reached the target on held-back rows) and stored in the artifact's
metadata; a request may override it. Fallback answers always need review: the threshold was
measured on the primary's calibrated confidences, not theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: Artifact metadata keys.
THRESHOLD_KEY = "review_threshold"
PRECISION_TARGET_KEY = "review_precision_target"
#: A model logged without a threshold auto-accepts nothing.
NO_THRESHOLD = 1.0
#: The request param's default, meaning "the threshold stored in the artifact".
USE_MODEL_THRESHOLD = -1.0


def model_threshold(metadata: Mapping[str, Any]) -> float:
    return float(metadata.get(THRESHOLD_KEY, NO_THRESHOLD))


def needs_review(confidence: np.ndarray, model_used: np.ndarray, threshold: float) -> np.ndarray:
    """True where the answer is not the primary's or its confidence is under ``threshold``."""
    confident = np.nan_to_num(np.asarray(confidence, dtype="float64"), nan=-1.0) >= threshold
    return ~(confident & (np.asarray(model_used, dtype=object) == "primary"))
