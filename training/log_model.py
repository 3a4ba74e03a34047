"""Log the bundle as ONE MLflow pyfunc model (models-from-code) and optionally register it."""

from __future__ import annotations

import importlib.metadata
import tempfile
import tomllib
from pathlib import Path

import mlflow
import pandas as pd

import features
import pyfunc_model
from pyfunc_model.bundle import ModelBundle, write_bundle
from pyfunc_model.model_config import DEFAULT_MODEL_CONFIG
from pyfunc_model.signature import input_example, model_signature

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MODEL_NAME = "model"


def pinned_requirements() -> list[str]:
    """Runtime requirements exactly as pinned in pyproject.toml (the one place that states them)."""
    pyproject = PROJECT_ROOT / "pyproject.toml"
    if pyproject.exists():
        return list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])
    reqs = importlib.metadata.requires("product-classifier") or []
    return [r for r in reqs if "extra ==" not in r]


def log_bundle(bundle: ModelBundle, example_source: pd.DataFrame) -> mlflow.models.model.ModelInfo:
    """Write the artifact files and log the pyfunc with code, signature and input example (registering
    it is the caller's step: ``training.train`` registers once the run's metrics are in)."""
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = write_bundle(bundle, tmp)
        return mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=str(Path(pyfunc_model.__file__).parent / "model_code.py"),
            artifacts=artifacts,
            code_paths=[str(Path(features.__file__).parent), str(Path(pyfunc_model.__file__).parent)],
            signature=model_signature(),
            input_example=input_example(example_source),
            pip_requirements=pinned_requirements(),
            model_config=DEFAULT_MODEL_CONFIG,
        )
