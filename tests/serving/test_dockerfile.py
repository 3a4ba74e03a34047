"""The generated Docker build context is complete (no Docker engine here, so we check the files).

Why: an image that builds but cannot load its model fails only in production; every COPY source,
the model's code, artifacts, pinned requirements and the documented runtime variables are checked,
and the copied model directory is loaded and scored in a clean interpreter.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.serving.model_fixtures import CHAMPION_URI, ROOT, TrainedModel

pytestmark = [pytest.mark.slow]

RUNTIME_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


@pytest.fixture(scope="module")
def context(trained_model: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docker") / "build"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "docker" / "generate_dockerfile.py"),
            "--model-uri",
            CHAMPION_URI,
            "--output",
            str(out),
        ],
        env=trained_model.env(),
        cwd=trained_model.workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_every_copy_source_exists(context: Path) -> None:
    dockerfile = (context / "Dockerfile").read_text()
    sources = re.findall(r"^(?:COPY|ADD)\s+(?:--\S+\s+)*(\S+)\s+\S+", dockerfile, flags=re.MULTILINE)
    assert sources, dockerfile
    for source in sources:
        assert (context / source).exists(), f"COPY {source} but it is not in the context"
    assert re.search(r"^ENTRYPOINT .*_serve", dockerfile, flags=re.MULTILINE)


def test_model_dir_is_complete(context: Path) -> None:
    model_dir = context / "model_dir"
    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text())
    pyfunc = mlmodel["flavors"]["python_function"]
    for name, spec in pyfunc.get("artifacts", {}).items():
        assert (model_dir / spec["path"]).is_file(), f"artifact {name} missing"
    code = model_dir / pyfunc["code"]
    assert (code / "pyfunc_model").is_dir() and (code / "features").is_dir()
    assert not (code / "training").exists(), "serving artifact must not carry training code"
    requirements = (model_dir / "requirements.txt").read_text().split()
    for pin in ("mlflow==", "lightgbm==", "scikit-learn==", "pandas==", "numpy=="):
        assert any(r.startswith(pin) for r in requirements), (pin, requirements)
    python = yaml.safe_load((model_dir / "python_env.yaml").read_text())["python"]
    base = re.search(r"^FROM python:(\S+?)-slim", (context / "Dockerfile").read_text(), flags=re.MULTILINE)
    assert base and base.group(1) == str(python)


def test_runtime_variables_are_documented(context: Path) -> None:
    dockerfile = (context / "Dockerfile").read_text()
    example = (context / "runtime.env.example").read_text()
    for var in RUNTIME_VARS:
        assert var in dockerfile, var
        assert re.search(rf"^{var}=", example, flags=re.MULTILINE), var
    assert not re.search(r"^ENV .*AWS_SECRET_ACCESS_KEY", dockerfile, flags=re.MULTILINE), "secret baked into image"
    assert dockerfile.index("runtime configuration") < dockerfile.index("ENTRYPOINT")


def test_copied_model_loads_in_a_clean_interpreter(context: Path, trained_model: TrainedModel) -> None:
    """What the container will do: load /opt/ml/model with no project code on the path, and predict."""
    script = (
        "import sys, mlflow, pandas as pd\n"
        "m = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "out = m.predict(pd.DataFrame({'title': ['Samsung smart television'], 'price': [45999]}))\n"
        "assert len(out) == 1 and out['category'].notna().all(), out\n"
        "print(out['category'].iloc[0])\n"
    )
    env = trained_model.env()
    env.pop("MLFLOW_TRACKING_URI")
    proc = subprocess.run(
        [sys.executable, "-c", script, str(context / "model_dir")],
        env=env,
        cwd=context.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
