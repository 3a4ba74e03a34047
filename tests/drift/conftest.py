"""Hand-built product rows for the drift tests: small, deterministic, no files, no models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.pipeline import ProductFeatures
from pyfunc_model.drift import DriftReference
from training.drift_reference import build_reference

SUBCATEGORIES = {
    "Headphones": (["wireless", "earbuds", "bass", "bluetooth", "headphones"], 6.5),
    "Televisions": (["smart", "led", "tv", "inch", "ultra", "hd"], 10.0),
    "Running Shoes": (["running", "shoes", "men", "sports", "mesh"], 7.5),
    "Face Wash": (["face", "wash", "oil", "control", "skin", "ml"], 5.5),
    "Backpacks": (["backpack", "laptop", "bag", "litre", "travel"], 7.0),
    "Mixers": (["mixer", "grinder", "watt", "jars", "kitchen"], 8.0),
}
BRANDS = [f"brand{i}" for i in range(40)]


def make_products(n: int, seed: int, brands: list[str] | None = None, price_factor: float = 1.0) -> pd.DataFrame:
    """Raw listings: a brand, 3-6 words of the sub-category's vocabulary and a model number."""
    rng = np.random.default_rng(seed)
    subs = list(SUBCATEGORIES)
    brands = brands or BRANDS
    rows = []
    for _ in range(n):
        sub = subs[rng.integers(len(subs))]
        words, log_price = SUBCATEGORIES[sub]
        picked = rng.choice(words, size=rng.integers(3, 6), replace=False)
        rows.append(
            {
                "title": f"{brands[rng.integers(len(brands))]} {' '.join(picked)} {rng.integers(1, 9)}",
                "subcategory": sub,
                "price": float(np.round(np.exp(rng.normal(log_price, 0.4)))) * price_factor,
                "rating": float(np.round(rng.uniform(3.0, 5.0), 1)),
                "reviews_count": float(rng.integers(0, 5000)),
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def train_frame() -> pd.DataFrame:
    return ProductFeatures.prepare(make_products(3000, seed=0))


@pytest.fixture(scope="session")
def reference(train_frame: pd.DataFrame) -> DriftReference:
    rng = np.random.default_rng(1)
    conf = rng.beta(8, 2, size=600)
    return build_reference(train_frame, conf, rng.random(600) < conf, calibration_chunks=20)


@pytest.fixture
def fresh() -> pd.DataFrame:
    """New rows from the training distribution (different seed)."""
    return ProductFeatures.prepare(make_products(300, seed=5))


@pytest.fixture
def fresh_conf() -> np.ndarray:
    return np.random.default_rng(6).beta(8, 2, size=300)
