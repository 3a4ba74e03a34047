"""Write captured rows before the process goes: on SIGTERM and at a normal exit.

One SIGTERM handler per process, installed when the first capture opens, chained to the handler
it replaces: under ``mlflow models serve`` that is uvicorn's, which then drains in-flight
requests (each waits until its rows are written, see :mod:`pyfunc_model.capture.writer`). With
no previous handler the default action (terminate) follows the flush. A model loaded outside the
main thread cannot install a handler: ``atexit`` still writes on a normal exit.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import weakref
from types import FrameType
from typing import Any

from pyfunc_model.observability.logs import log_event

_live: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()
_previous: Any = None
_hooked = False


def watch(capture: Any) -> None:
    """Flush ``capture`` on SIGTERM and at exit."""
    global _hooked, _previous
    with _lock:
        _live.add(capture)
        if _hooked:
            return
        _hooked = True
        atexit.register(_at_exit)
        try:
            _previous = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread
            log_event(
                logging.WARNING,
                "capture_no_sigterm_hook",
                "capture loaded outside the main thread: rows are written at exit, not on SIGTERM",
            )


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    for capture in list(_live):
        capture.drain()
    previous = _previous
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def _at_exit() -> None:
    for capture in list(_live):
        capture.close()
