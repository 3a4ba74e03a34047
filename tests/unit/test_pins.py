"""One place states the dependencies (pyproject.toml); conda.yaml and the logged model agree with it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from training.log_model import pinned_requirements

ROOT = Path(__file__).resolve().parents[2]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_runtime_dependencies_are_pinned_exactly():
    deps = _pyproject()["project"]["dependencies"]
    assert deps and all("==" in d for d in deps)
    assert "mlflow==3.17.2" in deps


def test_conda_yaml_agrees_with_pyproject():
    conda = yaml.safe_load((ROOT / "conda.yaml").read_text())
    pip = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    project = _pyproject()["project"]
    expected = set(project["dependencies"]) | set(project["optional-dependencies"]["spark"])
    assert set(pip) == expected


def test_logged_model_requirements_come_from_pyproject():
    assert pinned_requirements() == _pyproject()["project"]["dependencies"]
