"""Worker-side speed-ups for ``mlflow.pyfunc.spark_udf`` (mlflow 3.17), used by ``batch_score``.

Measured on local[2] (100k real rows, see bench/spark_throughput.py), two costs inside the UDF
that the model itself does not cause:

1. **A model load per task.** On a ``local[*]`` master spark_udf skips its per-worker
   ``SparkModelCache`` and calls ``mlflow.pyfunc.load_model(local_model_path)`` at the start of
   EVERY task (~0.7-1.3 s warm, ~6 s cold, per task and core). Python workers ARE reused between
   tasks (``spark.python.worker.reuse``), so a per-process cache gives what spark_udf already does
   on a cluster. The cache is keyed by the local copy that this ``spark_udf`` call downloaded on
   the driver (a fresh temp folder per call), so a new call can never see an old model.
2. **The struct/map result conversion.** spark_udf's ``_convert_struct_values`` converts each
   map value with ``_convert_value_based_on_spark_type``, which rebuilds a type table per value:
   20 probabilities x 10,000 rows = 200,000 calls per Arrow batch, ~40% of the UDF's time
   (8.3 s of 20.7 s per 100k rows in one process). The replacement below does the same
   conversion (NaN/None -> null, else ``float``) with one dict comprehension per row and leaves
   every other field to mlflow's own code.

Both are installed only while this UDF's iterator runs in the worker and restored afterwards.
The module is pickled BY VALUE, so a worker never imports ``pyfunc_model`` from the project
folder: the model's own ``pyfunc_model``/``features`` code must come from the artifact
(mlflow prepends the artifact's ``code/`` to ``sys.path`` but keeps modules already imported).
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

#: Loaded models kept per worker process (one per spark_udf call still in use; LRU beyond that).
MAX_CACHED_MODELS = 2
#: Name of the per-process cache module (survives across tasks; this module is unpickled anew per task).
_STATE_MODULE = "_product_classifier_spark_udf_state"


def _state() -> Any:
    """A per-process namespace that outlives each task's freshly unpickled copy of this module."""
    import types

    state = sys.modules.get(_STATE_MODULE)
    if state is None:
        state = types.ModuleType(_STATE_MODULE)
        state.models = {}  # local model path -> loaded PyFuncModel, in use order
        state.loads = 0
        state.hits = 0
        state.fast_converts = 0  # globals dicts patched (diagnostics)
        sys.modules[_STATE_MODULE] = state
    return state


def _cached_load_model(original: Callable[..., Any]) -> Callable[..., Any]:
    def load_model(model_uri: Any, suppress_warnings: bool = False, dst_path: Any = None, model_config: Any = None):
        import os

        # Only the local folder spark_udf downloaded is cached; anything else loads as usual.
        if dst_path is not None or model_config or not isinstance(model_uri, str) or not os.path.isdir(model_uri):
            return original(
                model_uri, suppress_warnings=suppress_warnings, dst_path=dst_path, model_config=model_config
            )
        state = _state()
        model = state.models.pop(model_uri, None)
        if model is None:
            model = original(model_uri, suppress_warnings=suppress_warnings)
            state.loads += 1
        else:
            state.hits += 1
        state.models[model_uri] = model
        while len(state.models) > MAX_CACHED_MODELS:
            state.models.pop(next(iter(state.models)))
        return model

    return load_model


def _fast_struct_values(original: Callable[..., Any]) -> Callable[..., Any]:
    """``_convert_struct_values`` with a one-pass converter for ``map<string, double|float>`` fields."""

    def convert(result: Any, result_type: Any) -> Any:
        import pandas as pd
        from pyspark.sql.types import DoubleType, FloatType, MapType, StringType, StructType

        if not isinstance(result, pd.DataFrame) or not isinstance(result_type, StructType):
            return original(result, result_type)
        fast = [
            f.name
            for f in result_type.fields
            if isinstance(f.dataType, MapType)
            and isinstance(f.dataType.keyType, StringType)
            and isinstance(f.dataType.valueType, DoubleType | FloatType)
            and f.name in result.columns
        ]
        if not fast:
            return original(result, result_type)
        rest = StructType([f for f in result_type.fields if f.name not in fast])
        converted = original(result.drop(columns=fast), rest)
        for name in fast:
            # same as mlflow: None or float NaN -> None, anything else -> float(value)
            values = [
                {k: None if v is None or (v.__class__ is float and v != v) else float(v) for k, v in d.items()}
                for d in result[name]
            ]
            converted[name] = pd.Series(values, index=converted.index, dtype=object)
        return converted[[f.name for f in result_type.fields]]

    return convert


def _globals_of(func: Callable[..., Any]) -> list[dict[str, Any]]:
    """The globals dicts the spark_udf closure resolves names in.

    cloudpickle rebuilds a by-value function with its OWN globals dict (not ``mlflow.pyfunc``'s),
    shared by the nested ``_predict_row_batch``; patching the module attribute alone is not seen.
    """
    found: dict[int, dict[str, Any]] = {}
    todo = [func]
    while todo:
        f = todo.pop()
        g = getattr(f, "__globals__", None)
        if g is None or id(g) in found:
            continue
        found[id(g)] = g
        for cell in getattr(f, "__closure__", None) or ():
            with contextlib.suppress(ValueError):  # empty cell
                if callable(cell.cell_contents) and hasattr(cell.cell_contents, "__globals__"):
                    todo.append(cell.cell_contents)
    return list(found.values())


@contextlib.contextmanager
def _patched_mlflow(func: Callable[..., Any], cache_model: bool, fast_struct: bool) -> Iterator[None]:
    import mlflow.pyfunc as pyfunc

    saved_load = pyfunc.load_model
    saved_convert: list[tuple[dict[str, Any], Any]] = []
    try:
        if cache_model:  # the closure calls ``mlflow.pyfunc.load_model``: an attribute lookup
            pyfunc.load_model = _cached_load_model(saved_load)
        if fast_struct:  # ``_convert_struct_values`` is a global name of the (unpickled) closure
            for g in {id(g): g for g in [*_globals_of(func), vars(pyfunc)]}.values():
                if "_convert_struct_values" in g:
                    saved_convert.append((g, g["_convert_struct_values"]))
                    g["_convert_struct_values"] = _fast_struct_values(g["_convert_struct_values"])
                    _state().fast_converts += 1
        yield
    finally:
        pyfunc.load_model = saved_load
        for g, value in reversed(saved_convert):
            g["_convert_struct_values"] = value


def accelerate(spark_udf: Callable[..., Any], *, cache_model: bool = True, fast_struct: bool = True) -> Any:
    """The pandas UDF behind ``mlflow.pyfunc.spark_udf(...)``, run with the worker-side speed-ups.

    Call the result with explicit columns, like the spark_udf it wraps (same return type, same
    per-batch predict; only the model load and the map conversion change as described above).
    """
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.pandas.functions import PandasUDFType

    inner = getattr(spark_udf, "__wrapped__", spark_udf)  # spark_udf returns a functools.wraps wrapper
    func, return_type = inner.func, inner.returnType
    if inner.evalType != PandasUDFType.SCALAR_ITER:
        raise TypeError(f"expected mlflow's SCALAR_ITER pandas UDF, got evalType {inner.evalType}")

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        with _patched_mlflow(func, cache_model, fast_struct):
            yield from func(batches)

    with warnings.catch_warnings():  # the explicit type is mlflow's own; pyspark only prefers type hints
        warnings.filterwarnings("ignore", message=".*preferred to specify type hints.*")
        return pandas_udf(run, return_type, PandasUDFType.SCALAR_ITER)


def _pickle_by_value() -> None:
    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


_pickle_by_value()
