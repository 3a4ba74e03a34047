"""Drift detection stored in and run by the pyfunc artifact (issue 3).

``build_reference`` (training time) -> ``DriftReference.to_dict()`` (JSON in the artifact)
-> ``DriftMonitor.check`` and ``row_ood_reasons`` (serving time). No ``training`` imports.
"""

from pyfunc_model.drift.monitor import DriftMonitor, DriftVerdict
from pyfunc_model.drift.ood import ood_flags, row_ood_reasons
from pyfunc_model.drift.reference import DEFAULT_SETTINGS, DriftReference, build_reference
from pyfunc_model.drift.summary import RowSummary, summarize

__all__ = [
    "DEFAULT_SETTINGS",
    "DriftMonitor",
    "DriftReference",
    "DriftVerdict",
    "RowSummary",
    "build_reference",
    "ood_flags",
    "row_ood_reasons",
    "summarize",
]
