"""The Python-worker side of ``batch_score``: Arrow batches in, the same batches plus ``prediction`` out.

Runs inside Spark's Python workers through ``DataFrame.mapInArrow`` (a public Spark API), so no
MLflow internals are touched:

- **One model load per Python worker.** The model folder reaches every executor as an archive
  (``SparkContext.addArchive``) and is found with ``SparkFiles.get``. Python workers are reused
  between tasks (``spark.python.worker.reuse``), so the loaded model is kept per process, keyed
  by the unpacked folder (a fresh archive name per ``score`` call: a new call never sees an old model).
- **Columnar output.** ``predict``'s frame becomes one Arrow struct column; the probability maps
  are flattened into one offsets/keys/values triple per batch instead of a conversion per value.

The module is pickled BY VALUE (``register_pickle_by_value``): executors need not have the project
installed, and the model's own ``pyfunc_model``/``features`` code comes from the artifact
(``mlflow.pyfunc.load_model`` puts its ``code/`` folder on ``sys.path``). Nothing here may import
the project at module level for that reason; the plan carries plain values only.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

#: Loaded models kept per Python worker (one per ``score`` call still running; oldest dropped beyond).
MAX_CACHED_MODELS = 2
#: A per-process module holding the cache: this module is unpickled afresh for every task.
_CACHE_MODULE = "_product_classifier_spark_models"


@dataclass(frozen=True)
class ScoringPlan:
    """Everything a worker needs, as plain values (pickled with the function)."""

    archive: str  # file name given to SparkContext.addArchive; SparkFiles.get(archive) is the model folder
    passthrough: tuple[str, ...]  # batch columns copied unchanged to the output, in order
    inputs: tuple[tuple[str, str], ...]  # (model input name, batch column holding it)
    output_column: str
    output_fields: tuple[tuple[str, str], ...]  # (name, Spark type) of the prediction struct
    params: dict[str, Any] | None = None


def _cache() -> types.ModuleType:
    state = sys.modules.get(_CACHE_MODULE)
    if state is None:
        state = types.ModuleType(_CACHE_MODULE)
        state.models = {}  # model folder -> loaded PyFuncModel, oldest first
        state.loads = 0
        sys.modules[_CACHE_MODULE] = state
    return state


def cached_model(archive: str) -> Any:
    """The model unpacked from ``archive`` on this executor, loaded once per Python worker."""
    import mlflow.pyfunc
    from pyspark import SparkFiles

    path = SparkFiles.get(archive)
    state = _cache()
    model = state.models.pop(path, None)
    if model is None:
        model = mlflow.pyfunc.load_model(path)
        state.loads += 1
    state.models[path] = model
    while len(state.models) > MAX_CACHED_MODELS:
        state.models.pop(next(iter(state.models)))
    return model


def arrow_type(spark_type: str) -> Any:
    """Arrow type of an output field's Spark type (the few that ``pyfunc_model.output`` uses)."""
    import pyarrow as pa

    simple = {"string": pa.string(), "double": pa.float64(), "boolean": pa.bool_()}
    if spark_type in simple:
        return simple[spark_type]
    if spark_type == "map<string,double>":
        return pa.map_(pa.string(), pa.float64())
    raise ValueError(f"no Arrow type for output Spark type {spark_type!r}")


def _map_array(values: Any) -> Any:
    """``map<string,double>`` from dicts: None -> null map, NaN/None values -> null."""
    import numpy as np
    import pyarrow as pa

    dicts = list(values)
    lengths = np.fromiter((len(d) if d is not None else 0 for d in dicts), dtype=np.int32, count=len(dicts))
    offsets = np.zeros(len(dicts) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    keys = [k for d in dicts if d for k in d]
    items = np.array([v for d in dicts if d for v in d.values()], dtype=np.float64)
    mask = pa.array([d is None for d in dicts], type=pa.bool_())
    return pa.MapArray.from_arrays(
        pa.array(offsets),
        pa.array(keys, type=pa.string()),
        pa.array(items, type=pa.float64(), from_pandas=True),
        mask=mask if mask.true_count else None,
    )


def prediction_struct(frame: Any, fields: tuple[tuple[str, str], ...]) -> Any:
    """``predict``'s frame as one Arrow struct array (NaN -> null, like Spark's own conversion)."""
    import pyarrow as pa

    arrays = []
    for name, spark_type in fields:
        column = frame[name]
        if spark_type.startswith("map<"):
            arrays.append(_map_array(column))
        else:
            arrays.append(pa.array(column.to_numpy(), type=arrow_type(spark_type), from_pandas=True))
    return pa.StructArray.from_arrays(arrays, fields=[pa.field(n, arrow_type(t)) for n, t in fields])


def make_scorer(plan: ScoringPlan) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The function for ``DataFrame.mapInArrow``: each batch answered in full and in order."""

    def score_batches(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        model = None
        for batch in batches:
            if model is None:
                model = cached_model(plan.archive)
            inputs = pa.table([batch.column(source) for _, source in plan.inputs], names=[n for n, _ in plan.inputs])
            answers = model.predict(inputs.to_pandas(), params=plan.params)
            if len(answers) != batch.num_rows:
                raise RuntimeError(f"model answered {len(answers)} rows for {batch.num_rows}")
            columns = [batch.column(name) for name in plan.passthrough]
            columns.append(prediction_struct(answers, plan.output_fields))
            yield pa.RecordBatch.from_arrays(columns, names=[*plan.passthrough, plan.output_column])

    return score_batches


def _pickle_by_value() -> None:
    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


_pickle_by_value()
