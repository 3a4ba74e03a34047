"""A catalogue's own column names reach training through --columns; every mistake names the column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from training.columns import ColumnMappingError, parse_columns
from training.data import load_products
from training.synthetic import generate_synthetic_products
from training.train import main

MAPPING = "product_name=title,cat=category,maker=brand,cost=price"


def _own_layout(tmp_path: Path, rows: int = 60) -> Path:
    frame = generate_synthetic_products(rows, seed=3)
    own = frame.rename(columns={"title": "product_name", "category": "cat", "brand": "maker", "price": "cost"})
    path = tmp_path / "catalogue.csv"
    own.to_csv(path, index=False)
    return path


def test_a_mapped_file_loads_as_the_canonical_columns(tmp_path: Path) -> None:
    path = _own_layout(tmp_path)
    frame, _ = load_products(path, parse_columns(MAPPING))
    source = pd.read_csv(path)
    assert len(frame) == len(source)
    assert frame["title"].tolist() == source["product_name"].tolist()
    assert frame["category"].tolist() == source["cat"].tolist()
    pd.testing.assert_series_equal(frame["price"], source["cost"].astype(float), check_names=False)
    # unmapped optional columns with canonical names are read as they are
    pd.testing.assert_series_equal(frame["rating"], source["rating"].astype(float), check_names=False)


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("product_name", "product_name"),
        ("product_name=headline", "headline"),
        ("product_name=title,name=title", "title"),
    ],
)
def test_malformed_mappings_name_the_culprit(spec: str, named: str) -> None:
    with pytest.raises(ColumnMappingError, match=named):
        parse_columns(spec)


def test_a_mapping_naming_an_absent_column_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ColumnMappingError, match="productname"):
        load_products(_own_layout(tmp_path), parse_columns("productname=title,cat=category"))


def test_a_required_column_left_unmapped_is_named(tmp_path: Path) -> None:
    with pytest.raises(ColumnMappingError, match=r"'category'.*unmapped"):
        load_products(_own_layout(tmp_path), parse_columns("product_name=title"))


def test_the_training_cli_refuses_a_bad_mapping_before_any_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(_own_layout(tmp_path)), "--columns", "product_name=headline"])
    assert exit_info.value.code == 2
    assert "headline" in capsys.readouterr().err
