"""The learning curve's table: one line per cap, mean and spread over seeds, the whole split last."""

from __future__ import annotations

import pandas as pd
import pytest

from training.learning_curve import plot, summarize


def test_summary_averages_seeds_per_cap_and_orders_by_rows(tmp_path):
    points = pd.DataFrame(
        {
            "seed": [0, 1, 0, 1],
            "rows_per_class_cap": [100, 100, None, None],
            "train_rows": [1000, 1002, 8700, 8740],
            "min_class_rows": [20, 22, 20, 22],
            "fit_seconds": [5.0, 7.0, 50.0, 70.0],
            "macro_f1_all_fields": [0.90, 0.94, 0.99, 0.99],
            "macro_f1_title_only": [0.70, 0.74, 0.84, 0.86],
        }
    )
    summary = summarize(points)
    assert summary["cap"].tolist() == ["100", "all"]
    assert summary["train_rows"].tolist() == [1001, 8720]
    assert summary["title_only_mean"].tolist() == pytest.approx([0.72, 0.85])
    assert summary["all_fields_std"].iloc[1] == pytest.approx(0.0)
    assert summary["title_only_std"].iloc[0] == pytest.approx(pd.Series([0.70, 0.74]).std(), abs=1e-4)
    assert plot(summary, tmp_path / "curve.png", "test").stat().st_size > 1000
