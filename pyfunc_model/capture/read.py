"""Read a capture (folder or ``s3://``) back as one frame: the input of drift reports, shadow
replay and review export. Files written by different workers, days and model versions are
concatenated; a column one file lacks is null there."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pyarrow as pa

from features.schema import INPUT_COLUMNS
from pyfunc_model.capture.rows import CAPTURED_AT, PROBABILITIES, REQUEST_ID, ROW, from_parquet
from pyfunc_model.capture.settings import ENV_S3_ENDPOINT, MLFLOW_S3_ENDPOINT
from pyfunc_model.capture.store import open_store


def is_capture(path: str) -> bool:
    """A capture is a folder or an ``s3://`` prefix (a data file has a suffix)."""
    from pathlib import Path

    return path.startswith("s3://") or Path(path.removeprefix("file://")).is_dir()


def read_capture_table(uri: str, s3_endpoint: str | None = None) -> pa.Table:
    import os

    endpoint = s3_endpoint or os.environ.get(ENV_S3_ENDPOINT) or os.environ.get(MLFLOW_S3_ENDPOINT) or None
    store = open_store(uri, endpoint)
    keys = store.keys()
    if not keys:
        raise FileNotFoundError(f"no capture files (*.parquet) under {uri}")
    with ThreadPoolExecutor(max_workers=8) as pool:
        tables = list(pool.map(lambda k: from_parquet(store.get(k)), keys))
    return pa.concat_tables(tables, promote_options="permissive")


def read_capture(uri: str, s3_endpoint: str | None = None) -> pd.DataFrame:
    """Every captured row, ordered by time, request and row; ``probabilities`` as dicts."""
    frame = read_capture_table(uri, s3_endpoint).to_pandas()
    if PROBABILITIES in frame.columns:
        frame[PROBABILITIES] = [None if v is None else dict(v) for v in frame[PROBABILITIES].tolist()]
    return frame.sort_values([CAPTURED_AT, REQUEST_ID, ROW], kind="stable").reset_index(drop=True)


def request_frame(captured: pd.DataFrame) -> pd.DataFrame:
    """Captured rows as the request that sent them: the input columns the capture holds, nulls as
    None (what a client's JSON gives), index 0..n-1; for scoring captured rows again."""
    inputs = captured[[c for c in INPUT_COLUMNS if c in captured.columns]]
    return inputs.astype(object).where(inputs.notna(), None).reset_index(drop=True)
