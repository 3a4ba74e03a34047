"""Drift over captured traffic: every worker's rows together, judged per day and per model version.

Each server worker tests only the requests it answered; the capture holds them all. The rows are
judged as they were served: inputs as sent, confidence as answered (nothing is scored again), in
arrival order, against the drift reference of the model given (by default the newest captured
version, ``models:/<name>/<version>``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from features.schema import INPUT_COLUMNS
from pyfunc_model.capture.read import read_capture
from pyfunc_model.capture.rows import CAPTURED_AT, MODEL_NAME, MODEL_VERSION
from pyfunc_model.drift import DriftMonitor, DriftReference, summarize


def captured_traffic(uri: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(inputs as sent, captured rows) in arrival order; a dropped input column stays absent."""
    captured = read_capture(uri)
    inputs = captured[[c for c in INPUT_COLUMNS if c in captured.columns]]
    return inputs, captured


def default_model_uri(captured: pd.DataFrame) -> str:
    """``models:/<name>/<version>`` of the newest captured row (registered models only)."""
    last = captured.iloc[-1]
    name, version = last.get(MODEL_NAME), str(last.get(MODEL_VERSION) or "")
    if not name or not version.isdigit():
        raise SystemExit("the capture does not name a registered model version: pass --model-uri")
    return f"models:/{name}/{version}"


def group_verdicts(ref: DriftReference, prepared: pd.DataFrame, captured: pd.DataFrame) -> list[dict[str, Any]]:
    """One verdict per (UTC day, model version): all workers' rows of that day tested as one sample."""
    days = pd.to_datetime(captured[CAPTURED_AT], utc=True).dt.strftime("%Y-%m-%d").to_numpy()
    versions = captured[MODEL_VERSION].astype(str).to_numpy()
    confidence = captured["confidence"].to_numpy(dtype="float64")
    out = []
    for day, version in sorted(set(zip(days, versions, strict=True))):
        mask = (days == day) & (versions == version)
        part = prepared[mask].reset_index(drop=True)
        conf = confidence[mask]
        verdict = DriftMonitor(ref, window_size=max(len(part), 30)).check(part, conf, summary=summarize(part, ref))
        out.append(
            {
                "day": day,
                "model_version": version,
                "rows": int(mask.sum()),
                "workers": int(captured.loc[mask, "worker"].nunique()),
                "needs_review_share": float(captured.loc[mask, "needs_review"].astype(bool).mean()),
                "served_drift_flag_share": float(captured.loc[mask, "drift_detected"].astype(bool).mean()),
                **{k: v for k, v in asdict(verdict).items() if k != "details"},
            }
        )
    return out


def confidences(captured: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Confidence and category as served."""
    return captured["confidence"].to_numpy(dtype="float64"), captured["category"].astype(str).to_numpy()
