"""``predict`` params: defaults, declared schema and validation with clear errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types.schema import ParamSchema, ParamSpec

from pyfunc_model.review import USE_MODEL_THRESHOLD

ON_DRIFT_CHOICES = ("flag", "fallback")


@dataclass(frozen=True)
class PredictParams:
    """What a caller may steer per request."""

    on_drift: str = "flag"
    confidence_threshold: float = 0.0
    #: auto-accept confidence; -1 means the threshold chosen in training (artifact metadata)
    review_threshold: float = USE_MODEL_THRESHOLD
    #: add an ``explanation`` column (``pyfunc_model.explain``); off, it costs nothing
    explain: bool = False

    @classmethod
    def from_request(cls, params: dict[str, Any] | None) -> PredictParams:
        """Validate request params (unknown keys are ignored, as MLflow itself does).

        Drift window size and false-alarm budget are deployment settings, not params: a request
        must not steer state other requests share (``pyfunc_model.drift.settings``).
        """
        params = params or {}
        on_drift = params.get("on_drift", cls.on_drift)
        if on_drift not in ON_DRIFT_CHOICES:
            raise _bad("on_drift", f"must be one of {list(ON_DRIFT_CHOICES)}, got {on_drift!r}")
        threshold = params.get("confidence_threshold", cls.confidence_threshold)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
            raise _bad("confidence_threshold", f"must be a number between 0 and 1, got {threshold!r}")
        review = params.get("review_threshold", cls.review_threshold)
        if (
            isinstance(review, bool)
            or not isinstance(review, int | float)
            or not (review == USE_MODEL_THRESHOLD or 0.0 <= review <= 1.0)
        ):
            raise _bad("review_threshold", f"must be a number between 0 and 1 (or -1: the model's own), got {review!r}")
        explain = params.get("explain", cls.explain)
        if not isinstance(explain, bool):
            raise _bad("explain", f"must be true or false, got {explain!r}")
        return cls(
            explain=explain,
            on_drift=on_drift,
            confidence_threshold=float(threshold),
            review_threshold=float(review),
        )


def _bad(name: str, reason: str) -> MlflowException:
    return MlflowException(f"Invalid predict param '{name}': {reason}", error_code=INVALID_PARAMETER_VALUE)


def param_schema() -> ParamSchema:
    """The params as declared in the model signature (types checked by MLflow, ranges by us)."""
    d = PredictParams()
    return ParamSchema(
        [
            ParamSpec("on_drift", "string", d.on_drift),
            ParamSpec("confidence_threshold", "double", d.confidence_threshold),
            ParamSpec("review_threshold", "double", d.review_threshold),
            ParamSpec("explain", "boolean", d.explain),
        ]
    )
