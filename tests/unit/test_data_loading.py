"""Data loading maps the real files' quirks and any canonical CSV/Parquet; splits never leak titles."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.text import normalize_title
from training.data import DataFormatError, load_products, title_group_split, title_only
from training.synthetic import generate_synthetic_products

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
AMAZON = SHARED / "amazon_in_products.csv"
PRICERUNNER = SHARED / "pricerunner_products.csv"


def test_canonical_csv_and_parquet_round_trip(tmp_path):
    frame = generate_synthetic_products(50, seed=3)
    frame.to_csv(tmp_path / "p.csv", index=False)
    frame.to_parquet(tmp_path / "p.parquet")
    a, fp = load_products(tmp_path / "p.csv")
    b, _ = load_products(tmp_path / "p.parquet")
    assert len(a) == len(b) == 50 and fp.rows == 50 and len(fp.sha256) == 64
    pd.testing.assert_series_equal(a["price"], b["price"])


def test_unknown_layout_is_a_clear_error(tmp_path):
    pd.DataFrame({"foo": [1], "bar": [2]}).to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(DataFormatError, match="title"):
        load_products(tmp_path / "x.csv")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        load_products(tmp_path / "nope.csv")


@pytest.mark.skipif(not AMAZON.exists(), reason="shared real data not present on this machine")
def test_amazon_file_is_mapped():
    frame, fp = load_products(AMAZON)
    assert fp.sha256 == "e78e3fe18e9d678c517f7c55ea7d5cc578f057e82c90d28cb5a7209054aa66e3"
    assert frame["category"].nunique() == 20
    assert frame["subcategory"].nunique() == 112
    assert frame["price"].dtype == "float64" and frame["price"].max() > 10_000
    assert frame["rating"].dropna().between(0, 5).all()  # "Get" and "FREE Delivery" became NaN
    assert frame["reviews_count"].max() > 1000  # "2,255" parsed


@pytest.mark.skipif(not PRICERUNNER.exists(), reason="shared real data not present on this machine")
def test_pricerunner_headerless_file_is_mapped():
    frame, _ = load_products(PRICERUNNER)
    assert len(frame) == 35311
    assert frame["seller_id"].notna().all() and frame["brand"].notna().all()
    assert frame["category"].nunique() == 10


def test_split_keeps_repeated_titles_together():
    frame = generate_synthetic_products(600, seed=5)
    frame = pd.concat([frame, frame.iloc[:100]], ignore_index=True)  # repeated listings
    train, test = title_group_split(frame, 0.25, seed=1)
    assert len(train) + len(test) == len(frame)
    assert not set(normalize_title(train["title"])) & set(normalize_title(test["title"]))


def test_title_only_removes_the_other_categoricals():
    frame = generate_synthetic_products(10)
    out = title_only(frame)
    assert out[["subcategory", "brand", "seller_id"]].isna().all().all()
    assert out["title"].equals(frame["title"]) and out["price"].equals(frame["price"])
