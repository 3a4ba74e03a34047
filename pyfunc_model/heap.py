"""Keep Python's cyclic garbage collector off the loaded model in long-running scorers.

A loaded model is ~350,000 tracked Python objects (vocabularies, the neighbour index's keys, the
fallbacks). Every request allocates containers (a 10,000-row batch: one dict of class
probabilities per row), and now and then that triggers a full collection, which walks every
tracked object in the process: ~0.3 s on the amazon_in model, landed on whichever request was
unlucky (10,000-row predict: 785 ms once in eight calls against ~410 ms otherwise). ``gc.freeze``
moves the objects alive when the model has loaded into a permanent generation the collector never
walks; what requests allocate is collected as before.

Frozen objects are never collected as cyclic garbage, so a notebook that loads many models in
one process would keep their cycles: the freeze is on where a process loads a model to serve it
(MLflow's scoring server, MLServer, a Spark Python worker) and off elsewhere, unless
``PRODUCT_CLASSIFIER_GC_FREEZE`` says otherwise (``1``/``0``).
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Mapping

ENV_GC_FREEZE = "PRODUCT_CLASSIFIER_GC_FREEZE"
#: Modules whose presence says this process scores requests for a long time.
SERVING_MODULES = ("mlflow.pyfunc.scoring_server", "mlserver", "pyspark.worker", "pyspark.daemon")


def freeze_wanted(environ: Mapping[str, str] | None = None, modules: Mapping[str, object] | None = None) -> bool:
    """Should the objects alive now be frozen: the variable if set (a bad value raises, naming
    it), else whether a serving module is loaded."""
    env = os.environ if environ is None else environ
    text = env.get(ENV_GC_FREEZE, "").strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    if text:
        raise ValueError(f"{ENV_GC_FREEZE} must be 1 or 0 (freeze the loaded model's objects or not), got {text!r}")
    loaded = sys.modules if modules is None else modules
    return any(name in loaded for name in SERVING_MODULES)


def freeze_loaded_objects(environ: Mapping[str, str] | None = None) -> bool:
    """Collect once, then freeze every object alive (:func:`freeze_wanted`); True when frozen."""
    if not freeze_wanted(environ):
        return False
    gc.collect()
    gc.freeze()
    return True


__all__ = ["ENV_GC_FREEZE", "SERVING_MODULES", "freeze_loaded_objects", "freeze_wanted"]
