"""Per-row OOD reasons on hand-built rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.pipeline import ProductFeatures
from pyfunc_model.drift import DriftReference, row_ood_reasons


def _rows(reference: DriftReference) -> list[list[str]]:
    raw = pd.DataFrame(
        [
            {
                "title": "brand3 wireless earbuds bass 4",
                "subcategory": "Headphones",
                "price": 700.0,
                "rating": 4.1,
                "reviews_count": 10.0,
            },
            {
                "title": "brand3 wireless earbuds bass 4",
                "subcategory": "Garden Hoses",
                "price": 700.0,
                "rating": 4.1,
                "reviews_count": 10.0,
            },
            {
                "title": "acmezzz wireless earbuds bass 4",
                "subcategory": "Headphones",
                "price": 700.0,
                "rating": 4.1,
                "reviews_count": 10.0,
            },
            {
                "title": "brand3 wireless earbuds bass 4",
                "subcategory": "Headphones",
                "price": 5e8,
                "rating": 4.1,
                "reviews_count": 10.0,
            },
            {"title": "", "subcategory": "Headphones", "price": 700.0, "rating": 4.1, "reviews_count": 10.0},
            {
                "title": "#### 1234 5678 !!!! ????",
                "subcategory": "Headphones",
                "price": 700.0,
                "rating": 4.1,
                "reviews_count": 10.0,
            },
            {
                "title": "brand3 qzxv plokm wertyu",
                "subcategory": "Headphones",
                "price": 700.0,
                "rating": 4.1,
                "reviews_count": 10.0,
            },
            {
                "title": "brand3 wireless earbuds bass 4",
                "subcategory": None,
                "price": np.nan,
                "rating": 4.1,
                "reviews_count": None,
            },
        ]
    )
    return row_ood_reasons(ProductFeatures.prepare(raw), reference)


def test_reasons_per_row(reference: DriftReference) -> None:
    ok, sub, brand, price, empty, symbols, gibberish, missing = _rows(reference)
    assert ok == []
    assert sub == ["unseen_subcategory"]
    assert brand == ["unseen_brand"]
    assert price == ["price_far_outside_training_range"]
    assert "title_empty_or_garbled" in empty
    assert "title_empty_or_garbled" in symbols
    assert gibberish == ["title_empty_or_garbled"]
    assert set(missing) == {"missing_subcategory", "missing_price", "missing_reviews_count"}


def test_fields_absent_in_training_are_not_reasons(reference: DriftReference) -> None:
    # The synthetic training rows have no seller_id: a seller can be neither unseen nor missing.
    raw = pd.DataFrame(
        {
            "title": ["brand1 smart led tv 3"],
            "seller_id": ["S999"],
            "subcategory": ["Televisions"],
            "price": [22000.0],
            "rating": [4.0],
            "reviews_count": [5.0],
        }
    )
    assert row_ood_reasons(ProductFeatures.prepare(raw), reference) == [[]]
