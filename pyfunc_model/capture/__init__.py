"""Inference capture: the rows production saw and what the model answered, kept as Parquet.

Off unless ``PRODUCT_CLASSIFIER_CAPTURE_URI`` is set (docs/CAPTURE.md). ``open_capture`` runs once
in ``load_context``; ``predict`` then makes one ``record`` call, a no-op when capture is off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from pyfunc_model.capture.settings import CaptureSettings


class NoCapture:
    """Capture switched off: ``record`` does nothing."""

    def record(self, model_input: pd.DataFrame, output: pd.DataFrame) -> None:
        return None


NO_CAPTURE = NoCapture()


def open_capture(artifacts: Mapping[str, str], environ: Mapping[str, str] | None = None) -> Any:
    """The capture configured by the environment, or ``NO_CAPTURE``; ValueError names a bad variable."""
    settings = CaptureSettings.from_env(environ)
    if settings is None:
        return NO_CAPTURE
    from pyfunc_model.capture import exit as exit_hooks
    from pyfunc_model.capture.store import open_store
    from pyfunc_model.capture.writer import InferenceCapture
    from pyfunc_model.observability.metrics import serving_metrics
    from pyfunc_model.observability.observer import model_identity

    capture = InferenceCapture(
        settings, open_store(settings.uri, settings.s3_endpoint), model_identity(artifacts), serving_metrics()
    )
    exit_hooks.watch(capture)
    return capture


__all__ = ["NO_CAPTURE", "CaptureSettings", "NoCapture", "open_capture"]
