"""The input contract: coercion, per-row issues and the one hard error (no title column)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.schema import MAX_TITLE_CHARS, InputSchemaError, RowFlags, _clean_chars, clean_input, parse_number
from features.text import derive_brand, is_missing, normalize_title


def test_parse_number_handles_real_listing_formats():
    raw = pd.Series(["₹32,999", "2,255", " 4.2 ", "Get", "FREE Delivery by Amazon", None, ""], dtype=object)
    out = parse_number(raw)
    assert out.iloc[:3].tolist() == [32999.0, 2255.0, 4.2]
    assert out.iloc[3:].isna().all()


def test_missing_title_column_is_a_clear_error():
    with pytest.raises(InputSchemaError, match="'title'"):
        clean_input(pd.DataFrame({"name": ["x"]}))


def test_bad_values_become_missing_with_reasons():
    raw = pd.DataFrame(
        {
            "title": ["ok", None, "", "x" * (MAX_TITLE_CHARS + 10), "tab\there\x00"],
            "price": ["abc", -5, np.inf, 10, "₹1,299"],
            "rating": [4.0, 9.0, None, 3, "Get"],
        }
    )
    clean = clean_input(raw)
    f = clean.frame
    assert len(f) == 5
    assert f["price"].isna().tolist() == [True, True, True, False, False]
    assert f.loc[4, "price"] == 1299.0
    assert "price_unparseable" in clean.issues[0]
    assert "price_out_of_range" in clean.issues[1] and "rating_out_of_range" in clean.issues[1]
    assert "price_not_finite" in clean.issues[2]
    assert "title_empty" in clean.issues[1] and "title_empty" in clean.issues[2]
    assert "title_truncated" in clean.issues[3] and len(f.loc[3, "title"]) == MAX_TITLE_CHARS
    assert "\x00" not in f.loc[4, "title"]
    assert "rating_unparseable" in clean.issues[4]


def test_integer_and_missing_optional_columns():
    clean = clean_input(pd.DataFrame({"title": ["a", "b"], "price": np.array([10, 20], dtype="int64")}))
    assert clean.frame["price"].dtype == np.float64
    assert clean.frame["brand"].tolist() == [None, None]
    assert clean.issues == [[], []]


def test_row_order_and_index_do_not_matter():
    raw = pd.DataFrame({"title": ["a", "b", "c"]}, index=[10, 3, 7])
    assert clean_input(raw).frame["title"].tolist() == ["a", "b", "c"]


def test_brand_derived_from_title_when_absent():
    titles = pd.Series(["(Renewed) USHA fan", "LG TV", "", None])
    brands = pd.Series(["Bosch", None, None, None])
    assert derive_brand(titles, brands).tolist() == ["bosch", "lg", None, None]
    assert derive_brand(titles).tolist()[:2] == ["usha", "lg"]
    assert derive_brand(pd.Series(["(Renewed)"])).tolist() == ["renewed"]


def test_normalize_title():
    assert normalize_title(pd.Series(["LG 1.5-Ton  AC!!", None])).tolist() == ["lg 1 5 ton ac", ""]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=4, max_size=4), max_size=30))
def test_row_flags_keep_each_rows_reasons_in_order(rows: list[list[bool]]) -> None:
    """Mask storage is an implementation detail: per row, the reasons are the ones raised, in order."""
    names = ["title_empty", "price_unparseable", "unseen_brand", "missing_price"]
    flags = RowFlags(len(rows))
    for j, name in enumerate(names):
        flags.add(name, [r[j] for r in rows])
    expected = [[name for j, name in enumerate(names) if r[j]] for r in rows]
    assert flags.lists() == expected
    assert flags.joined(";").tolist() == [";".join(e) for e in expected]
    merged = flags.merged({"title_empty_or_garbled": np.ones(len(rows), dtype=bool)})
    assert merged.lists() == [[*e, "title_empty_or_garbled"] for e in expected]


@pytest.mark.parametrize("extra", ["", "\uffff in a title"])  # the second forces the per-value path
def test_text_cleaning_same_on_both_paths(extra: str) -> None:
    titles = ["tab\there", "  padded  ", "nul\x00byte", "\x85next line", "   ", "plain", extra]
    got = clean_input(pd.DataFrame({"title": titles})).frame["title"].tolist()
    assert got[:6] == ["tab here", "padded", "nul byte", "next line", "", "plain"]
    assert got[6] == extra.strip()


@pytest.mark.parametrize("extra", ["", "\uffff in a title"])  # both paths, as above
def test_lone_surrogates_become_replacement_characters(extra: str) -> None:
    """A JSON body can carry lone surrogates; they are not text (UTF-8, Arrow and hashing refuse
    them), so every text field gets U+FFFD in their place and the row is scored."""
    raw = pd.DataFrame(
        {
            "title": pd.Series(["lone \ud800 title", "\udfff", extra], dtype=object),
            "brand": pd.Series(["a\udc80b", None, "ok"], dtype=object),
        }
    )
    frame = clean_input(raw).frame
    assert frame["title"].tolist()[:2] == ["lone \ufffd title", "\ufffd"]
    assert frame["brand"].tolist()[:2] == ["a\ufffdb", None]
    for value in frame["title"].tolist() + frame["brand"].dropna().tolist():
        value.encode("utf-8")  # encodable: no surrogate left


_VALUES = st.one_of(
    st.text(alphabet=st.sampled_from(["a", " ", "\t", "\x00", "\x85", "\ud800", "\uffff", "é", "\u0915"]), max_size=6),
    st.none(),
    st.just(float("nan")),
    st.integers(-5, 5),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_VALUES, max_size=40))
def test_a_column_is_cleaned_as_each_value_alone(values: list[object]) -> None:
    """The column is cleaned in one pass, only the values with a control character or a lone
    surrogate one by one: the answer is each value's, whatever the mix (missing values, numbers,
    the join's separator inside a value)."""
    column = clean_input(pd.DataFrame({"title": ["t"] * len(values), "brand": pd.Series(values, dtype=object)}))
    alone = [None if is_missing(v) else (_clean_chars(str(v)).strip() or None) for v in values]
    assert column.frame["brand"].tolist() == alone


def test_all_nan_optional_columns_are_missing() -> None:
    frame = clean_input(pd.DataFrame({"title": ["a", "b"], "brand": [np.nan, np.nan], "seller_id": [None, None]})).frame
    assert frame["brand"].tolist() == [None, None] and frame["seller_id"].tolist() == [None, None]
