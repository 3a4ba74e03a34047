"""`python -m pyfunc_model.batch_score --master spark://...` on a standalone cluster: a master and two workers.

Why: on a cluster the executors are separate JVMs with their own Python workers and their own
working folders; the model must reach them through MLflow's spark_udf (resolved from the registry
on the driver, shipped by Spark as an archive into each executor's folder), not through a path
on the driver, and every row must equal in-process predict.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tests.serving.model_fixtures import TrainedModel, sample_products
from tests.spark.standalone import standalone_cluster
from tests.spark.test_batch_score import predictions_frame, run_batch_score

pytestmark = [pytest.mark.slow, pytest.mark.spark]

N_ROWS = 4_000
PARTITIONS = 4


def test_batch_score_on_a_standalone_cluster_matches_in_process(
    trained_model: TrainedModel, tmp_path: Path, in_process: Callable[..., pd.DataFrame]
) -> None:
    source = sample_products(N_ROWS, seed=12, source="synthetic")
    source["price"] = [None if pd.isna(p) else str(p) for p in source["price"]]  # "₹1,299" and "349.0"
    source.to_parquet(tmp_path / "input.parquet", index=False)
    out = tmp_path / "scored"
    # The cluster does not see the project folder: executors run the artifact's own code.
    env = trained_model.env(with_project_on_path=False)
    with standalone_cluster(tmp_path / "cluster", env) as cluster:
        result = run_batch_score(
            trained_model,
            tmp_path,
            "--input", str(tmp_path / "input.parquet"),
            "--output", str(out),
            "--partitions", str(PARTITIONS),
            master=cluster.master_url,
        )  # fmt: skip
        state = cluster.state()
        apps = state["completedapps"] + state["activeapps"]
        assert len(apps) == 1 and apps[0]["name"] == "product-classifier-batch-score"
        # Each worker ran an executor of the app, in its own folder, which received the model archive.
        for workdir in cluster.workdirs:
            executor_dirs = [d for d in workdir.glob("app-*/*") if d.is_dir()]
            assert executor_dirs, f"no executor ran on {workdir}"
            assert any(f.suffix == ".zip" for d in executor_dirs for f in d.iterdir()), list(executor_dirs[0].iterdir())
        groups = cluster
    assert not groups.process_groups(), "cluster processes left running"
    assert result["rows"] == N_ROWS

    scored = pd.read_parquet(out)
    assert len(scored) == N_ROWS and set(scored["title"]) == set(source["title"])
    scored = scored.set_index("title").loc[source["title"]].reset_index()
    got = predictions_frame(scored)
    expected = in_process(source)
    assert got["category"].tolist() == expected["category"].tolist()
    assert got["model_used"].tolist() == expected["model_used"].tolist()
    assert got["confidence"].to_numpy() == pytest.approx(expected["confidence"].to_numpy(), abs=1e-9)
    for g, e in zip(got["probabilities"], expected["probabilities"], strict=True):
        assert g == pytest.approx(e, abs=1e-9)
