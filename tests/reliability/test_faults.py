"""Broken artifacts and a failing primary: every row still answered (by a fallback, with the reason),
or a load error that names the missing file.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from pyfunc_model.bundle import ARTIFACT_FILES

pytestmark = pytest.mark.slow


def _booster_file(model_dir: Path) -> Path:
    path = model_dir / "artifacts" / ARTIFACT_FILES["primary"]
    assert path.exists(), f"logged model has no {path.name}: {sorted(p.name for p in path.parent.iterdir())}"
    return path


def _assert_all_fallback(out: pd.DataFrame, n: int, reason_prefix: str) -> None:
    assert len(out) == n
    assert (out["model_used"] != "primary").all(), out["model_used"].value_counts()
    reasons = out["fallback_reason"].tolist()
    # rows whose own input sends them elsewhere keep that (more specific) reason; all others say why
    assert all(r for r in reasons), reasons
    assert sum(r.startswith(reason_prefix) for r in reasons) >= 0.5 * n, reasons
    sums = np.array([sum(p.values()) for p in out["probabilities"]])
    np.testing.assert_allclose(sums, 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"tree\nnot a booster\x00\xff", id="non_utf8_garbage"),
        pytest.param(b"tree\nnot a booster at all\n", id="text_garbage"),
        pytest.param(b"", id="empty"),
        pytest.param(b"version=v4\nnum_class=3\n" + b"\x00" * 64, id="truncated"),
    ],
)
def test_corrupt_booster_file_is_answered_by_fallbacks(model_copy, reliability_model, garbage):
    _booster_file(model_copy).write_bytes(garbage)
    model = mlflow.pyfunc.load_model(str(model_copy))
    frame = reliability_model.test_frame.head(50)
    _assert_all_fallback(model.predict(frame), len(frame), "primary_unavailable")


class _RaisingBooster:
    """Stands in for a LightGBM booster that fails at predict time (OOM, corrupted trees...)."""

    def predict(self, *args: object, **kwargs: object) -> np.ndarray:
        raise RuntimeError("simulated LightGBM failure")


def test_booster_raising_at_predict_time_is_answered_by_fallbacks(model_copy, reliability_model):
    model = mlflow.pyfunc.load_model(str(model_copy))
    model.unwrap_python_model().booster = _RaisingBooster()
    frame = reliability_model.test_frame.head(50)
    _assert_all_fallback(model.predict(frame), len(frame), "primary_error:RuntimeError")
    one = model.predict(frame.head(1))
    assert one["model_used"].iat[0] != "primary" and one["fallback_reason"].iat[0]


def test_missing_drift_reference_is_a_load_error_naming_it(model_copy):
    (model_copy / "artifacts" / ARTIFACT_FILES["drift_reference"]).unlink()
    with pytest.raises(Exception, match="drift_reference") as info:
        mlflow.pyfunc.load_model(str(model_copy))
    assert ARTIFACT_FILES["drift_reference"] in str(info.value)


def test_unreadable_drift_reference_is_a_load_error_naming_it(model_copy):
    (model_copy / "artifacts" / ARTIFACT_FILES["drift_reference"]).write_text("{not json")
    with pytest.raises(Exception, match="drift_reference"):
        mlflow.pyfunc.load_model(str(model_copy))


def test_intact_copy_still_uses_the_primary(model_copy, reliability_model):
    """Control: the copies above break only what each test breaks."""
    out = mlflow.pyfunc.load_model(str(model_copy)).predict(reliability_model.test_frame.head(50))
    assert (out["model_used"] == "primary").mean() > 0.5, out["model_used"].value_counts()
