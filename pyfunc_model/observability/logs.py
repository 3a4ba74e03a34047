"""JSON-lines records through the ``product_classifier`` logger, never one per row or per input value.

The model only creates records; where they go is the host's choice. A served model has no host
configuration, so ``PRODUCT_CLASSIFIER_LOG_JSON=1`` attaches a JSON-lines handler on stderr
when (and only when) neither this logger nor the root logger has a handler yet.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from typing import Any

LOGGER_NAME = "product_classifier"
LOG_JSON_ENV = "PRODUCT_CLASSIFIER_LOG_JSON"
#: The most a failure of one kind is logged with its traceback (seconds between two records).
FAILURE_LOG_INTERVAL_S = 60.0
_TRUE = frozenset({"1", "true", "yes", "on"})

logger = logging.getLogger(LOGGER_NAME)


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, event, message, pid, the event's fields,
    and the traceback when there is one. Usable by a host's own handlers too."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": getattr(record, "event", None),
            "message": record.getMessage(),
            "pid": record.process,
        }
        out.update(getattr(record, "fields", None) or {})
        if record.exc_info and record.exc_info[1] is not None:
            out["traceback"] = frames_only(record.exc_info[1])
        return json.dumps(out, default=str, allow_nan=False, separators=(",", ":"))


def frames_only(exc: BaseException) -> str:
    """The traceback's frames and the exception type, WITHOUT its message: a message may quote an
    input value (a title, a price string), and input values never go into the logs."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    return f"Traceback (most recent call last):\n{frames}{type(exc).__module__}.{type(exc).__qualname__}"


def configure_from_env() -> bool:
    """Attach the JSON-lines stderr handler if asked and the host has configured no handler.

    Returns True when a handler was attached (idempotent: a second call attaches nothing).
    """
    if os.environ.get(LOG_JSON_ENV, "").strip().lower() not in _TRUE:
        return False
    if logger.handlers or logging.getLogger().handlers:
        return False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLinesFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return True


def _finite(value: Any) -> Any:
    """JSON has no NaN: a missing figure is null."""
    return None if isinstance(value, float) and value != value else value


def log_event(level: int, event: str, message: str, exc_info: BaseException | None = None, **fields: Any) -> None:
    """One structured record (``fields`` become top-level JSON keys)."""
    if logger.isEnabledFor(level):
        clean = {k: _finite(v) for k, v in fields.items()}
        logger.log(level, message, exc_info=exc_info, extra={"event": event, "fields": clean})


class FailureReporter:
    """Logs a failing component with its traceback at most once per interval per (component, error type),
    saying how many failures of that kind were not logged in between."""

    def __init__(self, interval_s: float = FAILURE_LOG_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}

    def report(self, component: str, exc: BaseException) -> bool:
        """Returns True when this failure was logged (False: rate-limited, counted)."""
        key = (component, type(exc).__name__)
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        log_event(
            logging.ERROR,
            "component_failed",
            f"{component} failed with {type(exc).__name__}; its rows moved down the fallback chain",
            exc_info=exc,
            component=component,
            error_type=type(exc).__name__,
            suppressed_since_last=suppressed,
            rate_limit_seconds=self.interval_s,
        )
        return True
