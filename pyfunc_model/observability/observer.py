"""The model's hooks: one ``Observer`` per loaded model, called a few times per ``predict``.

Logging (verdict changes, failing components) is always on; metrics only when the port
variable is set. Without metrics ``observe_predict`` is a plain call, so the cost is nil.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from pyfunc_model.observability import labels
from pyfunc_model.observability.logs import FailureReporter, configure_from_env, log_event
from pyfunc_model.observability.metrics import ServingMetrics, serving_metrics

#: Written by MLflow next to MLmodel when a model is downloaded through ``models:/name/...``.
REGISTERED_MODEL_META = "registered_model_meta"


class Observer:
    """Turns what ``predict`` already computed (the output frame, the drift verdict) into metrics
    and logs; never reads an input value."""

    def __init__(self, metrics: ServingMetrics | None = None) -> None:
        self.metrics = metrics
        self.failures = FailureReporter()
        self._drifted: dict[str, bool] = {}  # per scope: batch and window verdicts are independent
        self._completeness: dict[str, tuple[str, ...]] = {}  # per scope: inputs sent too rarely
        self._lock = threading.Lock()

    # ---- predict ------------------------------------------------------------------------
    def observe_predict(
        self, predict: Callable[..., pd.DataFrame], context: Any, model_input: Any, params: Any
    ) -> pd.DataFrame:
        """Run ``predict`` and count the request, its latency, rows by route and rerouted rows."""
        m = self.metrics
        if m is None:
            return predict(context, model_input, params)
        start = time.perf_counter()
        try:
            out = predict(context, model_input, params)
        except MlflowException as exc:
            status = exc.get_http_status_code()
            m.request("refused" if 400 <= status < 500 else "error", time.perf_counter() - start, _rows(model_input))
            raise
        except Exception:
            m.request("error", time.perf_counter() - start, _rows(model_input))
            raise
        m.request("answered", time.perf_counter() - start, len(out))
        if len(out):
            routes = Counter(out[labels.MODEL_USED_COLUMN].tolist())
            reasons = Counter(r for r in out[labels.FALLBACK_REASON_COLUMN].tolist() if r)
            m.rows_scored(routes, reasons)
        return out

    def drift_checked(self, verdict: Any) -> None:
        """Log verdict changes (off -> on, on -> off) once per change; update the drift gauges."""
        drifted = bool(verdict.drifted)
        with self._lock:
            changed = drifted != self._drifted.get(verdict.scope, False)
            self._drifted[verdict.scope] = drifted
        details = getattr(verdict, "details", None) or {}
        if changed:
            log_event(
                logging.WARNING if drifted else logging.INFO,
                "drift_verdict_changed",
                f"drift verdict {'off -> on' if drifted else 'on -> off'} ({verdict.scope})"
                + (f": drifted inputs {', '.join(verdict.drifted_features)}" if verdict.drifted_features else ""),
                previous="off" if drifted else "on",
                current="on" if drifted else "off",
                scope=verdict.scope,
                score=round(float(verdict.score), 4),
                drifted_inputs=list(verdict.drifted_features),
                concept_drift=bool(verdict.concept_drift),
                flagged_tests=list(details.get("flagged_tests", [])),
                rows_tested=details.get("n_rows"),
                estimated_accuracy=round(float(verdict.estimated_accuracy), 4),
            )
        self._completeness_checked(verdict.scope, details)
        if self.metrics is not None:
            self.metrics.drift_checked(
                verdict.scope,
                drifted,
                float(verdict.score),
                verdict.drifted_features,
                bool(verdict.concept_drift),
                float(verdict.estimated_accuracy),
                float(details.get("mean_confidence", np.nan)),
                details.get("sent_share"),
                details.get("completeness_flagged", ()),
            )

    def _completeness_checked(self, scope: str, details: Mapping[str, Any]) -> None:
        """Log once when the inputs sent less often than the reference allows change (per scope)."""
        if "completeness_flagged" not in details:
            return
        low = tuple(sorted(details["completeness_flagged"]))
        with self._lock:
            changed = low != self._completeness.get(scope, ())
            self._completeness[scope] = low
        if changed:
            shares = details.get("sent_share") or {}
            log_event(
                logging.WARNING if low else logging.INFO,
                "input_completeness_changed",
                f"inputs sent less often than in training ({scope}): {', '.join(low) or 'none'}",
                scope=scope,
                inputs=list(low),
                sent_share={k: round(float(v), 4) for k, v in shares.items()},
                rows_tested=details.get("n_rows"),
            )

    def failed(self, component: str, exc: BaseException) -> None:
        """A component raised and the chain moved on: count it, log it with its traceback (rate-limited)."""
        if self.metrics is not None:
            self.metrics.component_failed(component)
        self.failures.report(component, exc)

    def watch_scorers(self, scorers: Mapping[str, Callable[[np.ndarray], np.ndarray]]) -> dict[str, Callable]:
        """The fallback scorers, reporting an exception before the chain catches it."""

        def watched(name: str, scorer: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
            def call(rows: np.ndarray) -> np.ndarray:
                try:
                    return scorer(rows)
                except Exception as exc:
                    self.failed(name, exc)
                    raise

            return call

        return {name: watched(name, scorer) for name, scorer in scorers.items()}


def _rows(model_input: Any) -> int:
    try:
        return len(model_input)
    except TypeError:
        return 0


def _model_dir(artifacts: Mapping[str, str]) -> Path | None:
    """The folder holding MLmodel, found from any artifact path MLflow handed to load_context."""
    for path in artifacts.values():
        for parent in Path(path).resolve().parents:
            if (parent / "MLmodel").is_file():
                return parent
    return None


def model_identity(artifacts: Mapping[str, str]) -> dict[str, str]:
    """Registered name and version (when loaded through ``models:/``), run id and logged-model id."""
    import yaml

    out: dict[str, str] = {}
    directory = _model_dir(artifacts)
    if directory is None:
        return out
    try:
        mlmodel = yaml.safe_load((directory / "MLmodel").read_text()) or {}
        out.update({k: str(mlmodel[k]) for k in ("run_id", "model_id") if mlmodel.get(k)})
        meta_file = directory / REGISTERED_MODEL_META
        if meta_file.is_file():
            meta = yaml.safe_load(meta_file.read_text()) or {}
            if meta.get("model_name"):
                out["registered_model_name"] = str(meta["model_name"])
            if meta.get("model_version") is not None:
                out["version"] = str(meta["model_version"])
    except (OSError, yaml.YAMLError):
        pass  # identity is informative only; an unreadable file must not stop the model
    return out


def observe_loaded_model(model: Any, artifacts: Mapping[str, str]) -> Observer:
    """Start metrics if configured, publish the model's identity and log that it is ready."""
    configure_from_env()
    metrics = serving_metrics()
    identity = model_identity(artifacts)
    if metrics is not None:
        metrics.model_info(identity)
    parts = {key: os.path.getsize(path) for key, path in artifacts.items() if os.path.isfile(path)}
    log_event(
        logging.INFO,
        "model_loaded",
        f"model {identity.get('registered_model_name', '?')} v{identity.get('version', '?')} loaded",
        **identity,
        artifact_bytes=parts,
        classes=len(model.classes),
        primary="ok" if not model.primary_problem else model.primary_problem,
        drift_settings=dict(model.drift_reference.settings),
        drift_deployment=model.drift_settings.as_dict(),
        drift_window=model.monitor.window_size,
        drift_min_batch=model.monitor.min_batch,
        metrics_port=metrics.port if metrics is not None else None,
        metrics_multiprocess_dir=str(metrics.directory) if metrics is not None else None,
    )
    return Observer(metrics)
