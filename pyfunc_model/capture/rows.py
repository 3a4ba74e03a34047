"""The layout of one captured row, said once: written by the capture, read by every consumer.

Meta columns (who answered, when, for which request), then the input columns as sent (text, so
one column keeps one type however clients send it: ``1299``, ``1299.5`` and ``"₹1,299"`` all fit),
then every output column of ``predict`` (``probabilities`` as a Parquet map).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

REQUEST_ID = "request_id"
ROW = "row"
CAPTURED_AT = "captured_at"
WORKER = "worker"
MODEL_NAME = "model_name"
MODEL_VERSION = "model_version"
RUN_ID = "run_id"
META_COLUMNS = (REQUEST_ID, ROW, CAPTURED_AT, WORKER, MODEL_NAME, MODEL_VERSION, RUN_ID)
#: Prefix of an input column whose name is taken by a meta or output column.
INPUT_PREFIX = "input_"
PROBABILITIES = "probabilities"
#: The column people fill in a review export; training reads it as the category.
REVIEW_LABEL = "label"
_MAP = pa.map_(pa.string(), pa.float64())


@dataclass(frozen=True)
class Request:
    """One captured ``predict`` call, kept by reference until the writer turns it into rows."""

    request_id: str
    time: float  # epoch seconds, UTC
    inputs: pd.DataFrame
    outputs: pd.DataFrame


def input_name(name: str, taken: Sequence[str]) -> str:
    return f"{INPUT_PREFIX}{name}" if name in taken or name in META_COLUMNS else name


def _as_text(values: pd.Series) -> pa.Array:
    out = [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in values.tolist()]
    return pa.array(out, type=pa.string())


def _hashed(values: pd.Series, salt: str) -> pa.Array:
    text = _as_text(values).to_pylist()
    return pa.array(
        [None if v is None else hashlib.sha256((salt + v).encode()).hexdigest() for v in text], type=pa.string()
    )


def _output_array(values: pd.Series) -> pa.Array:
    first = next((v for v in values.tolist() if v is not None), None)
    if isinstance(first, dict):
        return pa.array([None if v is None else list(v.items()) for v in values.tolist()], type=_MAP)
    return pa.array(values.to_numpy(), from_pandas=True)


def request_table(
    requests: Sequence[Request],
    meta: dict[str, str | None],
    drop: Sequence[str] = (),
    hashed: Sequence[str] = (),
    salt: str = "",
) -> pa.Table:
    """Rows of several requests as one Arrow table (columns missing from a request are null)."""
    inputs = pd.concat([r.inputs for r in requests], ignore_index=True, sort=False)
    outputs = pd.concat([r.outputs for r in requests], ignore_index=True, sort=False)
    sizes = [len(r.inputs) for r in requests]
    n = int(sum(sizes))
    columns: dict[str, pa.Array] = {
        REQUEST_ID: pa.array(np.repeat([r.request_id for r in requests], sizes).tolist(), type=pa.string()),
        ROW: pa.array(np.concatenate([np.arange(s, dtype=np.int32) for s in sizes]), type=pa.int32()),
        CAPTURED_AT: pa.array(
            np.repeat(np.array([r.time for r in requests]) * 1e6, sizes).astype("int64"), type=pa.timestamp("us", "UTC")
        ),
    }
    for key in (WORKER, MODEL_NAME, MODEL_VERSION, RUN_ID):
        columns[key] = pa.array([meta.get(key)] * n, type=pa.string())
    for name in inputs.columns:
        if name in drop:
            continue
        target = input_name(str(name), list(outputs.columns))
        columns[target] = _hashed(inputs[name], salt) if name in hashed else _as_text(inputs[name])
    for name in outputs.columns:
        columns[str(name)] = _output_array(outputs[name])
    return pa.table(columns)


def day_of(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%d")


def to_parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def from_parquet(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))
