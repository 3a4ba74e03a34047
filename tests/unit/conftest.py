"""Shared unit-test data: one small synthetic catalogue, features and labels apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.schema import LABEL
from training.synthetic import generate_synthetic_products


@pytest.fixture(scope="session")
def small_products_xy() -> tuple[pd.DataFrame, np.ndarray]:
    """400 generated listings (seed 1): the inputs and their categories."""
    products = generate_synthetic_products(400, seed=1)
    return products.drop(columns=LABEL), products[LABEL].to_numpy()
