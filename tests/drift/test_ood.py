"""Per-row OOD reasons on hand-built rows: each reason names something the caller can act on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pyfunc_model.drift import DriftReference, row_ood_reasons

GOOD = {"title": "brand3 wireless earbuds bass 4", "subcategory": "Headphones", "price": 700.0, "rating": 4.1}


def _reasons(reference: DriftReference, *rows: dict) -> list[list[str]]:
    return row_ood_reasons(pd.DataFrame([{**GOOD, **row} for row in rows]), reference)


def test_unseen_values_and_absurd_prices(reference: DriftReference) -> None:
    ok, sub, price = _reasons(reference, {}, {"subcategory": "Garden Hoses"}, {"price": 5e8})
    assert ok == []
    assert sub == ["unseen_subcategory"]
    assert price == ["price_far_outside_training_range"]


def test_unseen_brand_only_when_the_caller_sent_it(reference: DriftReference) -> None:
    derived, sent = _reasons(
        reference,
        {"title": "acmezzz wireless earbuds bass 4"},
        {"title": "acmezzz wireless earbuds", "brand": "Acmezzz"},
    )
    assert derived == []  # the brand came from the title's first word: nothing the caller can fix
    assert sent == ["unseen_brand"]


def test_title_problems_are_named_precisely(reference: DriftReference) -> None:
    empty, blank, symbols, unknown, foreign = _reasons(
        reference,
        {"title": ""},
        {"title": "   "},
        {"title": "#### 1234 5678 !!!! ????"},
        {"title": "brand3 qzxv plokm wertyu"},
        {"title": "वायरलेस ईयरबड्स बास"},
    )
    assert "title_empty" in empty and "title_empty" in blank
    assert symbols == ["title_garbled"]
    assert unknown == ["title_no_known_words"]
    assert foreign == ["title_foreign_script"]


def test_missing_optional_inputs_are_not_reasons(reference: DriftReference) -> None:
    (title_only,) = row_ood_reasons(pd.DataFrame({"title": [GOOD["title"]]}), reference)
    (holes,) = _reasons(reference, {"subcategory": None, "price": np.nan, "rating": None})
    assert title_only == [] and holes == []


def test_fields_absent_in_training_are_not_reasons(reference: DriftReference) -> None:
    # The synthetic training rows have no seller_id: a seller can be neither unseen nor missing.
    assert _reasons(reference, {"seller_id": "S999"}) == [[]]
