"""Training from a Parquet folder: batch scan, title-keyed per-class sample, clear errors, no half-logged model."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from features.schema import LABEL
from features.text import normalize_title
from training.data import DataFormatError, to_canonical
from training.dataset import read_sample, stratified_sample
from training.synthetic import generate_synthetic_products
from training.train import train

N_FILES = 24


def write_folder(folder: Path, frame: pd.DataFrame, n_files: int = N_FILES) -> list[Path]:
    """``frame`` split over ``n_files`` Parquet files, with a column training must not need."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = frame.assign(sku=[f"SKU-{i:06d}" for i in range(len(frame))])
    paths = []
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), n_files)):
        part = frame.iloc[rows]
        path = folder / f"part-{i:04d}.parquet"
        part.to_parquet(path, index=False)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def products() -> pd.DataFrame:
    frame = generate_synthetic_products(3000, seed=4)
    # duplicate titles (colour/size variants) must be kept or dropped together
    return pd.concat([frame, frame.iloc[::10]], ignore_index=True)


def key_set(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["title"], frame[LABEL], strict=True))


def test_folder_sample_equals_in_memory_sample_for_any_batch_size(tmp_path, products):
    write_folder(tmp_path / "data", products)
    expected = stratified_sample(to_canonical(products), per_class=120, seed=7)
    small_batches = read_sample(tmp_path / "data", rows_per_class=120, seed=7, batch_rows=97)
    big_batches = read_sample(tmp_path / "data", rows_per_class=120, seed=7, batch_rows=100_000)
    assert small_batches.files == N_FILES and small_batches.fingerprint.rows == len(products)
    assert key_set(small_batches.frame) == key_set(big_batches.frame) == key_set(expected)
    assert len(small_batches.frame) == len(expected)
    assert "sku" not in small_batches.frame.columns
    assert small_batches.class_counts.to_dict() == products[LABEL].value_counts().to_dict()

    counts = small_batches.frame[LABEL].value_counts()
    assert (counts >= 120).all() and (counts <= 140).all()  # whole duplicate groups can add a few
    # every sampled title brings all its duplicates of the same class
    sampled = small_batches.frame.assign(norm=normalize_title(small_batches.frame["title"]))
    full = products.assign(norm=normalize_title(products["title"]))
    for (norm, label), group in sampled.groupby(["norm", LABEL]):
        assert len(group) == ((full["norm"] == norm) & (full[LABEL] == label)).sum()
    # another seed gives another sample
    other = read_sample(tmp_path / "data", rows_per_class=120, seed=8)
    assert key_set(other.frame) != key_set(small_batches.frame)


def test_malformed_file_is_named(tmp_path, products):
    paths = write_folder(tmp_path / "data", products)
    paths[7].write_bytes(b"not parquet at all" * 10)
    with pytest.raises(DataFormatError, match=r"part-0007\.parquet: not a readable Parquet file"):
        read_sample(tmp_path / "data", rows_per_class=50)


def test_missing_column_is_named_with_its_file(tmp_path, products):
    paths = write_folder(tmp_path / "data", products)
    pd.read_parquet(paths[3]).drop(columns=LABEL).to_parquet(paths[3], index=False)
    with pytest.raises(DataFormatError, match=rf"part-0003\.parquet: missing required column\(s\) \['{LABEL}'\]"):
        read_sample(tmp_path / "data", rows_per_class=50)


def test_class_with_one_row_is_named(tmp_path, products):
    lonely = products.iloc[:1].assign(**{LABEL: "garden"})
    write_folder(tmp_path / "data", pd.concat([products, lonely], ignore_index=True))
    with pytest.raises(DataFormatError, match=r"'garden' \(1 row\)"):
        read_sample(tmp_path / "data", rows_per_class=50)


@pytest.mark.slow
def test_bad_folder_leaves_no_run_and_no_model(tmp_path, products, monkeypatch):
    paths = write_folder(tmp_path / "data", products)
    paths[-1].write_bytes(b"\x00" * 64)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    with pytest.raises(DataFormatError, match=paths[-1].name):
        train(str(tmp_path / "data"), "catalogue-model", experiment="scale", rows_per_class=100)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("scale")
    assert experiment is None or not client.search_runs([experiment.experiment_id])
    assert not client.search_registered_models()


@pytest.mark.slow
def test_training_from_a_parquet_folder(tmp_path, products, monkeypatch):
    write_folder(tmp_path / "data", products.iloc[:1500])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    run_id = train(str(tmp_path / "data"), None, experiment="scale", rows_per_class=100)
    params = MlflowClient(tracking_uri=uri).get_run(run_id).data.params
    assert params["data_rows"] == "1500"
    assert int(params["train_rows"]) <= 6 * 110 and params["data_sha256"]
