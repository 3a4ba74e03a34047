"""What the served model tells its operator: Prometheus metrics, JSON-lines logs, batch summaries.

Everything here is opt-in and side-effect free on import: metrics start only when
``PRODUCT_CLASSIFIER_METRICS_PORT`` is set, the JSON log handler only when
``PRODUCT_CLASSIFIER_LOG_JSON`` asks for it and the host configured none (docs/MONITORING.md).
"""

from pyfunc_model.observability.observer import Observer, observe_loaded_model

__all__ = ["Observer", "observe_loaded_model"]
