"""The primary's decision where the title decides: the booster, optionally blended with the title scorer.

On rows whose sub-category the model does not know (missing or never seen: the title decides),
the served probabilities are ``(1 - w) * booster + w * softmax(title scorer margins / T)``, then
multiplied by ``exp(offset)`` per class and renormalised. ``w``, ``T`` and the offsets are chosen
at training on out-of-fold rows (``training/title_choice.py``) and stored in the artifact's
metadata; an artifact without them serves the booster unchanged. Rows with a known sub-category
keep the booster's answer: it is near 1.0 macro-F1 there.

The title scorer's margins are columns the feature pipeline computes anyway (the booster's
input), so a blend costs one softmax per title row at serving.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pyfunc_model.chain import softmax

#: Metadata keys.
BLEND_WEIGHT_KEY = "title_blend_weight"
SCORER_TEMPERATURE_KEY = "title_scorer_temperature"
CLASS_OFFSETS_KEY = "title_class_offsets"


@dataclass(frozen=True)
class TitleDecision:
    """How title-decided rows are answered: blend weight, title scorer temperature, per-class log offsets."""

    blend_weight: float = 0.0
    scorer_temperature: float = 1.0
    class_offsets: tuple[float, ...] = ()

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> TitleDecision:
        return cls(
            float(metadata.get(BLEND_WEIGHT_KEY, 0.0)),
            float(metadata.get(SCORER_TEMPERATURE_KEY, 1.0)),
            tuple(float(v) for v in metadata.get(CLASS_OFFSETS_KEY, ())),
        )

    def to_metadata(self) -> dict[str, Any]:
        return {
            BLEND_WEIGHT_KEY: self.blend_weight,
            SCORER_TEMPERATURE_KEY: self.scorer_temperature,
            CLASS_OFFSETS_KEY: list(self.class_offsets),
        }

    @property
    def is_booster_alone(self) -> bool:
        return self.blend_weight == 0.0 and not any(self.class_offsets)

    def apply(self, proba: np.ndarray, scorer_margins: np.ndarray, title_rows: np.ndarray) -> np.ndarray:
        """``proba`` (the booster's calibrated probabilities) with the title-decided rows re-decided."""
        if self.is_booster_alone or not title_rows.any():
            return proba
        out = proba.copy()
        p = proba[title_rows]
        if self.blend_weight:
            scorer = softmax(np.asarray(scorer_margins[title_rows], dtype="float64"), self.scorer_temperature)
            p = (1.0 - self.blend_weight) * p + self.blend_weight * scorer
        if any(self.class_offsets):
            p = p * np.exp(np.asarray(self.class_offsets))
            p = p / p.sum(axis=1, keepdims=True)
        out[title_rows] = p
        return out
