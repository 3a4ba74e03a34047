"""Drift detection run by the pyfunc artifact (serving side: reads the reference, never builds it).

``training.drift_reference.build_reference`` (training) -> ``DriftReference.to_dict()`` (JSON in
the artifact) -> ``DriftMonitor.check`` and ``ood_flags`` (serving). Signals are declared in
``specs``; deployment settings (window, false-alarm budget) in ``settings``.
"""

from pyfunc_model.drift.monitor import DriftMonitor, DriftVerdict
from pyfunc_model.drift.ood import ood_flags, row_ood_reasons
from pyfunc_model.drift.reference import DEFAULT_SETTINGS, DriftReference
from pyfunc_model.drift.settings import DriftSettings
from pyfunc_model.drift.specs import SIGNALS, RowSummary, Signal, summarize

__all__ = [
    "DEFAULT_SETTINGS",
    "SIGNALS",
    "DriftMonitor",
    "DriftReference",
    "DriftSettings",
    "DriftVerdict",
    "RowSummary",
    "Signal",
    "ood_flags",
    "row_ood_reasons",
    "summarize",
]
