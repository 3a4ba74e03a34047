"""The fixed label values of every metric: Prometheus series must never be keyed by free text.

A reason or route the model did not have when this list was written is counted as ``other``
rather than creating a new series, so cardinality is bounded by these tuples.
"""

from __future__ import annotations

from features.schema import INPUT_COLUMNS
from pyfunc_model.chain import FALLBACK_ORDER, ROUTES
from pyfunc_model.routing import ROW_ROUTES

OTHER = "other"
#: Output columns the metrics read (docs/ARCHITECTURE.md, "Output").
MODEL_USED_COLUMN = "model_used"
FALLBACK_REASON_COLUMN = "fallback_reason"
CONFIDENCE_COLUMN = "confidence"

MODEL_USED = (*ROUTES, OTHER)
#: Drift scopes of a verdict: a batch tested on its own, or the sliding window of small requests.
SCOPES = ("batch", "window")
#: One ``drift_input_drifted`` series per monitored input field.
MONITORED_INPUTS = tuple(INPUT_COLUMNS)
#: The inputs a client may leave out (everything but the title).
OPTIONAL_INPUTS = tuple(c for c in INPUT_COLUMNS if c != "title")
OUTCOMES = ("answered", "refused", "error")
#: Where a failure with a traceback can come from.
COMPONENTS = ("features", *ROUTES)
#: Per-row out-of-distribution reasons that reroute a row (``ood:<reason>``).
OOD_REASONS = tuple(ROW_ROUTES)
#: Reason prefixes (the part before ``:``) as the model writes them in ``fallback_reason``.
REASON_PREFIXES = (
    "primary_unavailable",
    "primary_error",
    "primary_nan",
    "features_error",
    "drift",
    *(f"{route}_low_confidence" for route in ROUTES[:-1]),
    *(f"{route}_error" for route in FALLBACK_ORDER),
)
REASONS = (*REASON_PREFIXES, *(f"ood_{r}" for r in OOD_REASONS), "ood", OTHER)

_REASON_SET = frozenset(REASON_PREFIXES)
_OOD_SET = frozenset(OOD_REASONS)
_ROUTE_SET = frozenset(ROUTES)


def reason_label(reason: str) -> str:
    """``"drift:price,title"`` -> ``"drift"``, ``"primary_error:ValueError"`` -> ``"primary_error"``,
    ``"ood:title_empty"`` -> ``"ood_title_empty"``; anything unknown -> ``"other"``."""
    head, _, tail = reason.partition(":")
    if head == "ood":
        return f"ood_{tail}" if tail in _OOD_SET else "ood"
    return head if head in _REASON_SET else OTHER


def route_label(model_used: str) -> str:
    return model_used if model_used in _ROUTE_SET else OTHER


def component_label(component: str) -> str:
    return component if component in COMPONENTS else OTHER
