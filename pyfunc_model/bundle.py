"""The artifact files of one model and how they are written and read back.

The booster is stored in LightGBM's own text format (readable by any LightGBM 4.x, no pickle);
the fitted feature pipeline and fallbacks are cloudpickled; the drift reference is JSON so a
person or another tool can read it. A missing file is a clear load error naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np

from features.pipeline import ProductFeatures
from pyfunc_model.fallbacks import PriorClassifier, RuleClassifier

#: Artifact keys (as passed to ``mlflow.pyfunc.log_model(artifacts=...)``) -> file names.
ARTIFACT_FILES = {
    "features": "features.pkl",
    "primary": "primary_booster.txt",
    "fallbacks": "fallbacks.pkl",
    "drift_reference": "drift_reference.json",
    "metadata": "metadata.json",
}


class ArtifactError(RuntimeError):
    """The model artifact is incomplete or unreadable."""


@dataclass
class Fallbacks:
    """The chain's own models. (The naive Bayes route reuses the title scorer's naive Bayes,
    which lives in the feature pipeline: one model, not two copies.)"""

    random_forest: Any
    rules: RuleClassifier
    prior: PriorClassifier


@dataclass
class ModelBundle:
    """In-memory form of the artifact; ``primary`` is a LightGBM model string (or None if unreadable)."""

    features: ProductFeatures
    primary: str | None
    fallbacks: Fallbacks
    drift_reference: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> np.ndarray:
        return np.asarray(self.metadata["classes"], dtype=object)


def write_bundle(bundle: ModelBundle, directory: str | Path) -> dict[str, str]:
    """Write the bundle's files into ``directory``; returns the ``artifacts`` mapping for MLflow."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {key: str(directory / name) for key, name in ARTIFACT_FILES.items()}
    Path(paths["features"]).write_bytes(cloudpickle.dumps(bundle.features))
    Path(paths["primary"]).write_text(bundle.primary or "")
    Path(paths["fallbacks"]).write_bytes(cloudpickle.dumps(bundle.fallbacks))
    Path(paths["drift_reference"]).write_text(json.dumps(bundle.drift_reference))
    Path(paths["metadata"]).write_text(json.dumps(bundle.metadata, indent=2))
    return paths


def read_bundle(artifacts: dict[str, str]) -> ModelBundle:
    """Read the files MLflow hands to ``load_context``; raise :class:`ArtifactError` naming what is missing.

    An unreadable primary booster is NOT an error here: the chain answers with fallbacks.
    """
    missing = [key for key in ARTIFACT_FILES if key not in artifacts or not Path(artifacts[key]).exists()]
    if missing:
        raise ArtifactError(
            f"model artifact is missing {', '.join(missing)} "
            f"(expected files: {', '.join(ARTIFACT_FILES[k] for k in missing)})"
        )
    try:
        drift_reference = json.loads(Path(artifacts["drift_reference"]).read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"model artifact has an unreadable drift_reference: {exc}") from exc
    try:
        features = cloudpickle.loads(Path(artifacts["features"]).read_bytes())
        fallbacks = cloudpickle.loads(Path(artifacts["fallbacks"]).read_bytes())
        metadata = json.loads(Path(artifacts["metadata"]).read_text())
    except Exception as exc:
        raise ArtifactError(f"model artifact has an unreadable file: {exc}") from exc
    # undecodable bytes are the booster's problem, not the load's: the chain falls back
    primary = Path(artifacts["primary"]).read_bytes().decode("utf-8", errors="replace") or None
    return ModelBundle(features, primary, fallbacks, drift_reference, metadata)
