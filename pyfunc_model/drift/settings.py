"""Deployment settings of drift detection: fixed when the model is logged, never per request.

A request must not be able to steer state that other requests share (the sliding window), nor
the false-alarm rate everybody gets. These settings are stored in the drift reference when the
model is logged and can be overridden per deployment with environment variables read when the
model loads (e.g. ``mlflow models serve`` started with ``PRODUCT_CLASSIFIER_DRIFT_WINDOW_ROWS=2000``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

ENV_WINDOW_ROWS = "PRODUCT_CLASSIFIER_DRIFT_WINDOW_ROWS"
ENV_FALSE_ALARM_BUDGET = "PRODUCT_CLASSIFIER_DRIFT_FALSE_ALARM_BUDGET"
ENV_WINDOW_REROUTES = "PRODUCT_CLASSIFIER_DRIFT_WINDOW_REROUTES"
WINDOW_ROWS_RANGE = (30, 1_000_000)
BUDGET_RANGE = (0.001, 0.2)
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class DriftSettings:
    """``window_rows``: rows in the sliding window that single-row traffic is judged on.
    ``false_alarm_budget``: share of checks (batch or window) allowed to flag on in-distribution traffic.
    ``window_reroutes``: whether a WINDOW verdict (built from every client's recent rows) may send
    this request's rows to the fallbacks when ``on_drift=fallback``; off, only a verdict on the
    request's own batch reroutes, so one client's odd traffic cannot change another's answers.
    """

    window_rows: int = 1000
    false_alarm_budget: float = 0.01
    window_reroutes: bool = False

    def __post_init__(self) -> None:
        lo, hi = WINDOW_ROWS_RANGE
        if (
            isinstance(self.window_rows, bool)
            or not isinstance(self.window_rows, int)
            or not lo <= self.window_rows <= hi
        ):
            raise ValueError(f"drift window_rows must be an integer in [{lo}, {hi}], got {self.window_rows!r}")
        lo_b, hi_b = BUDGET_RANGE
        if not isinstance(self.false_alarm_budget, float) or not lo_b <= self.false_alarm_budget <= hi_b:
            raise ValueError(f"drift false_alarm_budget must be in [{lo_b}, {hi_b}], got {self.false_alarm_budget!r}")
        if not isinstance(self.window_reroutes, bool):
            raise ValueError(f"drift window_reroutes must be a boolean, got {self.window_reroutes!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def resolve(cls, stored: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> DriftSettings:
        """The logged settings, each overridden by its environment variable when set."""
        env = os.environ if environ is None else environ
        values = {**cls().as_dict(), **dict(stored or {})}
        if env.get(ENV_WINDOW_ROWS, "").strip():
            values["window_rows"] = _parse(ENV_WINDOW_ROWS, env[ENV_WINDOW_ROWS], int)
        if env.get(ENV_FALSE_ALARM_BUDGET, "").strip():
            values["false_alarm_budget"] = _parse(ENV_FALSE_ALARM_BUDGET, env[ENV_FALSE_ALARM_BUDGET], float)
        if env.get(ENV_WINDOW_REROUTES, "").strip():
            text = env[ENV_WINDOW_REROUTES].strip().lower()
            if text not in _TRUE + _FALSE:
                raise ValueError(f"{ENV_WINDOW_REROUTES} must be one of {_TRUE + _FALSE}, got {text!r}")
            values["window_reroutes"] = text in _TRUE
        values["false_alarm_budget"] = float(values["false_alarm_budget"])
        return cls(**values)


def _parse(name: str, text: str, kind: type) -> Any:
    try:
        return kind(text.strip())
    except ValueError as exc:
        raise ValueError(f"{name} must be a {kind.__name__}, got {text!r}") from exc


__all__ = ["ENV_FALSE_ALARM_BUDGET", "ENV_WINDOW_REROUTES", "ENV_WINDOW_ROWS", "DriftSettings"]
