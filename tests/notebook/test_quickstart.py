"""examples/quickstart.ipynb runs top to bottom (nbclient) against a freshly trained champion.

Why: a notebook that only worked when it was written rots silently; executing it in CI keeps the
documented notebook usage (integer prices, probabilities, routes, histogram) true.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.serving.model_fixtures import REAL_DATA, ROOT, TrainedModel

pytestmark = [pytest.mark.slow]

NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"


def test_quickstart_executes(trained_model: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel inherits this process's environment: tracking URI by env var, as a user would set it.
    for key, value in trained_model.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PYTHONPATH", raising=False)  # the artifact must bring its own code
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    if REAL_DATA.exists():
        monkeypatch.setenv("QUICKSTART_DATA", str(REAL_DATA))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # Run from a scratch folder so nothing (mlruns, mlflow.db) lands in the repository.
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    assert any("image/png" in out.get("data", {}) for out in outputs), "the confidence histogram was not drawn"
    text = "\n".join(str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", "")) for out in outputs)
    assert trained_model.tracking_uri in text
    for column in ("model_used", "fallback_reason", "drift_detected", "ood_reasons"):
        assert column in text
