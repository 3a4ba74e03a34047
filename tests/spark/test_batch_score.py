"""`python -m pyfunc_model.batch_score` on local[2]: >= 100,000 rows, and the answers equal in-process predict.

Why: batch scoring must use the very artifact that serves REST, through mlflow's spark_udf, and
return the same answer per row; the CLI is run as a subprocess exactly as a user (or MLproject) would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from pyfunc_model.output import OUTPUT_COLUMNS
from tests.serving.model_fixtures import CHAMPION_URI, TrainedModel, sample_products

pytestmark = [pytest.mark.slow, pytest.mark.spark]

N_ROWS = 102_400
SAMPLE = 300


def run_batch_score(model: TrainedModel, cwd: Path, *args: str, master: str = "local[2]") -> dict[str, object]:
    """Run the CLI the way a user does; the project is on PYTHONPATH because it is not pip-installed here."""
    cmd = [sys.executable, "-m", "pyfunc_model.batch_score", "--model-uri", CHAMPION_URI, "--master", master, *args]
    proc = subprocess.run(
        cmd, cwd=cwd, env=model.env(with_project_on_path=True), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def predictions_frame(scored: pd.DataFrame) -> pd.DataFrame:
    """Flatten the `prediction` struct; Arrow hands maps back as lists of (key, value) pairs."""
    flat = pd.DataFrame(scored["prediction"].tolist(), index=scored.index)
    flat["probabilities"] = [dict(p) for p in flat["probabilities"]]
    return flat


def test_csv_100k_rows_match_in_process(
    trained_model: TrainedModel, tmp_path: Path, in_process: Callable[..., pd.DataFrame]
) -> None:
    """Synthetic rows (in distribution, so the primary answers) with "₹1,299" price strings, from CSV."""
    source = sample_products(N_ROWS, seed=11, source="synthetic")
    source.to_csv(tmp_path / "input.csv", index=False)
    out = tmp_path / "scored.parquet"
    result = run_batch_score(trained_model, tmp_path, "--input", str(tmp_path / "input.csv"), "--output", str(out))
    assert result["rows"] == N_ROWS

    scored = pd.read_parquet(out)
    assert len(scored) == N_ROWS
    assert list(scored.columns) == [*source.columns, "prediction"]
    assert scored["title"].is_unique and set(scored["title"]) == set(source["title"])

    flat = predictions_frame(scored)
    assert list(flat.columns) == list(OUTPUT_COLUMNS)
    assert flat["category"].notna().all()

    sample = scored.sample(SAMPLE, random_state=0).set_index("title")
    raw = pd.read_csv(tmp_path / "input.csv", dtype=str).set_index("title").loc[sample.index].reset_index()
    expected = in_process(raw)
    got = predictions_frame(sample.reset_index())
    assert got["category"].tolist() == expected["category"].tolist()
    assert got["confidence"].to_numpy() == pytest.approx(expected["confidence"].to_numpy(), abs=1e-9)
    assert got["model_used"].tolist() == expected["model_used"].tolist()
    assert got["ood_reasons"].tolist() == expected["ood_reasons"].tolist()
    for g, e in zip(got["probabilities"], expected["probabilities"], strict=True):
        assert g == pytest.approx(e, abs=1e-9)


def test_parquet_with_integer_prices_and_absent_columns(
    trained_model: TrainedModel, tmp_path: Path, in_process: Callable[..., pd.DataFrame]
) -> None:
    """Parquet with int64 prices, an extra column and most optional inputs absent: all input columns kept."""
    source = pd.DataFrame(
        {
            "sku": [f"SKU-{i}" for i in range(500)],
            "title": [
                f"Samsung smart television {i} inch" if i % 2 else f"Puma running t-shirt size {i}" for i in range(500)
            ],
            "price": pd.Series(range(500), dtype="int64") * 100 + 199,
        }
    )
    source.to_parquet(tmp_path / "input.parquet", index=False)
    out = tmp_path / "scored"
    params = {"confidence_threshold": 0.5}
    # One worker is enough for 500 rows and loads the (large) model once instead of twice.
    run_batch_score(
        trained_model,
        tmp_path,
        "--input",
        str(tmp_path / "input.parquet"),
        "--output",
        str(out),
        "--params",
        json.dumps(params),
        master="local[1]",
    )
    scored = pd.read_parquet(out).sort_values("sku").reset_index(drop=True)
    assert list(scored.columns) == ["sku", "title", "price", "prediction"]
    assert scored["price"].dtype == "int64"
    flat = predictions_frame(scored)
    expected = in_process(source.drop(columns="sku"), params).set_axis(source["sku"])
    expected = expected.loc[scored["sku"]].reset_index(drop=True)
    assert flat["category"].tolist() == expected["category"].tolist()
    assert not flat["ood_reasons"].str.contains("price_unparseable").any()
