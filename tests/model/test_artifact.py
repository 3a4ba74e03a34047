"""The logged artifact equals the in-memory pipeline, in this process and in a fresh one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pyfunc_model.bundle import ARTIFACT_FILES
from pyfunc_model.output import OUTPUT_COLUMNS

pytestmark = pytest.mark.slow


def _probabilities(out: pd.DataFrame, classes: list[str]) -> np.ndarray:
    return np.array([[row[c] for c in classes] for row in out["probabilities"]])


def test_fresh_process_predicts_like_the_in_memory_pipeline(logged_model, tmp_path):
    """Save -> load in a new interpreter (project NOT on sys.path) -> same predictions and features."""
    frame = logged_model.test_frame.head(300)
    frame.to_parquet(tmp_path / "in.parquet")
    script = textwrap.dedent(
        f"""
        import mlflow, numpy as np, pandas as pd
        mlflow.set_tracking_uri({logged_model.tracking_uri!r})
        model = mlflow.pyfunc.load_model({logged_model.model_uri!r})
        frame = pd.read_parquet({str(tmp_path / "in.parquet")!r})
        out = model.predict(frame)
        out["probabilities"] = out["probabilities"].map(lambda d: __import__("json").dumps(d))
        out.to_parquet({str(tmp_path / "out.parquet")!r})
        feats = model.unwrap_python_model().features.transform(frame)
        np.save({str(tmp_path / "features.npy")!r}, feats)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, env=env, capture_output=True)
    fresh = pd.read_parquet(tmp_path / "out.parquet")
    fresh["probabilities"] = fresh["probabilities"].map(json.loads)
    here = logged_model.in_memory.predict(None, frame)

    assert fresh["category"].tolist() == here["category"].tolist()
    classes = [str(c) for c in logged_model.bundle.classes]
    np.testing.assert_allclose(_probabilities(fresh, classes), _probabilities(here, classes), rtol=0, atol=1e-12)
    assert fresh["model_used"].tolist() == here["model_used"].tolist()

    # train/serve skew: the features the training code computes == those inside the loaded model
    in_training = logged_model.bundle.features.transform(frame)
    np.testing.assert_array_equal(np.load(tmp_path / "features.npy"), in_training)


def test_artifact_holds_every_part(logged_model):
    import mlflow
    from mlflow.artifacts import download_artifacts

    mlflow.set_tracking_uri(logged_model.tracking_uri)
    local = download_artifacts(artifact_uri=logged_model.model_uri)
    files = {p.name for p in Path(local).rglob("*") if p.is_file()}
    assert set(ARTIFACT_FILES.values()) <= files
    assert {"MLmodel", "input_example.json", "model_code.py"} <= files
    assert {"pipeline.py", "model.py"} <= files  # code_paths: features/ and pyfunc_model/


@pytest.mark.parametrize("n", [0, 1, 10_000])
def test_n_rows_in_n_rows_out_in_order(loaded, logged_model, n):
    base = logged_model.test_frame
    frame = base.sample(n, replace=True, random_state=n).reset_index(drop=True) if n else base.head(0)
    if n:
        frame["title"] = [f"{t} #{i}" for i, t in enumerate(frame["title"])]
    out = loaded.predict(frame)
    assert len(out) == n
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    if n:
        one_by_one = [loaded.predict(frame.iloc[[i]])["category"].iat[0] for i in (0, n // 2, n - 1)]
        assert out["category"].iloc[[0, n // 2, n - 1]].tolist() == one_by_one
        sums = np.array([sum(p.values()) for p in out["probabilities"]])
        np.testing.assert_allclose(sums, 1.0, atol=1e-9)


def test_integer_prices_and_counts_work_in_process(loaded):
    frame = pd.DataFrame(
        {
            "title": ["Samsung smart television 55 inch", "Nivia football"],
            "price": np.array([45000, 899], dtype="int64"),
            "reviews_count": np.array([10, 0], dtype="int64"),
            "rating": np.array([4, 5], dtype="int64"),
        }
    )
    out = loaded.predict(frame)
    assert len(out) == 2 and out["category"].notna().all()
    assert out["ood_reasons"].str.contains("unparseable").sum() == 0


def test_missing_title_column_is_a_clear_error(loaded):
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match="title"):
        loaded.predict(pd.DataFrame({"name": ["a phone"], "price": [1.0]}))


def test_bad_rows_get_documented_answers(loaded):
    """Bad values never crash: each row is answered, with the reason in ood_reasons / fallback_reason."""
    frame = pd.DataFrame(
        {
            "title": ["Sony headphones", None, "", "x" * 10_000, "Ünïcödé 电视 📺", "LG TV"],
            "price": ["abc", "-5", None, "12", "₹1,299", "nan"],
            "rating": [None, None, None, None, None, None],
        }
    )
    out = loaded.predict(frame)
    assert len(out) == 6
    reasons = out["ood_reasons"].tolist()
    assert "price_unparseable" in reasons[0]
    assert "price_out_of_range" in reasons[1] and "title_empty" in reasons[1]
    assert "title_empty" in reasons[2]
    assert "title_truncated" in reasons[3]
    assert out["model_used"].iat[1] != "primary" and out["fallback_reason"].iat[1] != ""
    assert out["category"].notna().all()
    np.testing.assert_allclose([sum(p.values()) for p in out["probabilities"]], 1.0, atol=1e-9)


def test_all_missing_optional_values(loaded):
    frame = pd.DataFrame(
        {
            "title": ["Bosch washing machine"],
            "seller_id": [None],
            "brand": [None],
            "subcategory": [None],
            "price": [np.nan],
            "rating": [np.nan],
            "reviews_count": [np.nan],
        }
    )
    out = loaded.predict(frame)
    assert out["category"].iat[0] and 0 < out["confidence"].iat[0] <= 1


@pytest.mark.parametrize(
    "params,name",
    [
        ({"on_drift": "explode"}, "on_drift"),
        ({"confidence_threshold": 1.5}, "confidence_threshold"),
    ],
)
def test_bad_params_are_rejected_by_name(loaded, params, name):
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match=name):
        loaded.predict(pd.DataFrame({"title": ["a"]}), params=params)


def test_confidence_threshold_routes_to_fallbacks(loaded, logged_model):
    frame = logged_model.test_frame.head(200)
    default = loaded.predict(frame)
    threshold = float(np.quantile(default["confidence"], 0.5))
    out = loaded.predict(frame, params={"confidence_threshold": threshold})
    fell_back = out["model_used"] != "primary"
    was_primary = default["model_used"] == "primary"
    expected = was_primary & (default["confidence"] < threshold)
    assert expected.sum() > 0
    assert (fell_back & was_primary).tolist() == expected.tolist()  # exactly the low-confidence rows moved
    assert ((out["confidence"] >= threshold) | (out["model_used"] == "prior")).all()
    assert out.loc[fell_back, "fallback_reason"].str.contains("low_confidence").all()
