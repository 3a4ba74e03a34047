"""Labelled review exports go back into training: ``--data catalogue.csv --data review.csv``."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest

from features.schema import LABEL
from training.dataset import load_several
from training.synthetic import generate_synthetic_products


def _files(tmp_path: Path) -> tuple[Path, Path]:
    catalogue = tmp_path / "catalogue.csv"
    generate_synthetic_products(600, seed=1).to_csv(catalogue, index=False)
    review = tmp_path / "review.csv"
    pd.DataFrame(
        {
            "title": ["Prestige mixer grinder 750W", "Nivea body lotion 400ml", "Yonex shuttlecock tube"],
            "price": ["₹3,199", "", "899"],
            "predicted_category": ["electronics", "beauty", "books"],
            "alternative_1": ["electronics", "beauty", "books"],
            "label": ["appliances", "", "sports"],  # the second row was not reviewed
        }
    ).to_csv(review, index=False)
    return catalogue, review


def test_labelled_rows_join_the_catalogue(tmp_path: Path) -> None:
    catalogue, review = _files(tmp_path)
    frame, fingerprint = load_several([str(catalogue), str(review)])
    assert len(frame) == 600 + 2
    added = frame.tail(2)
    assert added["title"].tolist() == ["Prestige mixer grinder 750W", "Yonex shuttlecock tube"]
    assert added[LABEL].tolist() == ["appliances", "sports"]  # the reviewers' label, not the model's answer
    assert added["price"].tolist() == [3199.0, 899.0]
    assert " + " in fingerprint.path and fingerprint.rows == 602


@pytest.mark.slow
def test_train_cli_accepts_several_data_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from training.train import main

    catalogue, review = _files(tmp_path)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert main(["--data", str(catalogue), "--data", str(review), "--experiment", "review-loop"]) == 0
    (run,) = mlflow.search_runs(experiment_names=["review-loop"], output_format="list")
    assert run.data.params["data_rows"] == "602" and str(review) in run.data.params["data_path"]
