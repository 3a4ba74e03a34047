"""Spark test fixtures: reuse the session's ONE trained champion (see tests/serving/model_fixtures.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.serving.model_fixtures import TrainedModel, train_champion  # noqa: E402


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """Same cache as tests/serving: whichever folder asks first trains, the others reuse it."""
    return train_champion(tmp_path_factory.getbasetemp() / "trained-model")
