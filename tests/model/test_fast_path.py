"""The serving fast path answers exactly what the plain pandas path answers, row for row.

Serving reads numpy columns (``features.prepared``) and builds its output with
``pyfunc_model.output``; training and ``ProductFeatures.transform`` go through pandas. Every
speed-up of the hot path must leave the answer bit-identical, on real-looking frames and on
whatever Hypothesis generates (mixed types, missing values, odd Unicode).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.prepared import prepare_input
from features.schema import INPUT_COLUMNS, TITLE, clean_input
from pyfunc_model.chain import softmax
from pyfunc_model.output import OUTPUT_COLUMNS, prediction_frame
from pyfunc_model.temperature import known_subcategory, row_temperatures
from pyfunc_model.title_decision import TitleDecision

TEXT = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
    st.sampled_from(["Samsung Galaxy M14 5G", "USHA fan 1200mm", "(Renewed) LG TV", "₹1,299", " 4.2 ", "", " "]),
)
VALUE = st.one_of(
    TEXT,
    st.none(),
    st.just(float("nan")),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**13),
    st.booleans(),
)


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 40))
    data = {TITLE: draw(st.lists(st.one_of(TEXT, st.none()), min_size=n, max_size=n))}
    for name in draw(st.lists(st.sampled_from(INPUT_COLUMNS[1:]), unique=True, max_size=6)):
        kind = draw(st.sampled_from(["mixed", "float", "int", "string"]))
        if kind == "float":
            data[name] = np.asarray(draw(st.lists(st.floats(allow_nan=True), min_size=n, max_size=n)), dtype="float64")
        elif kind == "int":
            data[name] = np.asarray(draw(st.lists(st.integers(0, 10**9), min_size=n, max_size=n)), dtype="int64")
        elif kind == "string":
            data[name] = pd.Series(draw(st.lists(TEXT, min_size=n, max_size=n)), dtype=object)
        else:
            data[name] = pd.Series(draw(st.lists(VALUE, min_size=n, max_size=n)), dtype=object)
    return pd.DataFrame(data)


def real_like(logged_model, n: int, seed: int) -> pd.DataFrame:
    """Test rows with titles made distinct and every other price written as a listing writes it."""
    frame = logged_model.test_frame.drop(columns="category", errors="ignore").sample(n, replace=True, random_state=seed)
    frame = frame.reset_index(drop=True)
    frame["title"] = [f"{t} v{i}" for i, t in enumerate(frame["title"])]
    prices = frame["price"].astype(object)
    prices[::2] = [f"₹{p:,.2f}" if p == p else "" for p in frame["price"].iloc[::2]]
    frame["price"] = prices
    return frame


def plain_output(classes: list[str], proba: np.ndarray, **columns: object) -> pd.DataFrame:
    """The output frame written the obvious pandas way (what ``prediction_frame`` must equal)."""
    n = len(proba)
    best = proba.argmax(axis=1)
    data = {
        "category": pd.Series([classes[i] for i in best], dtype=object),
        "confidence": pd.Series(proba[np.arange(n), best], dtype="float64"),
        "probabilities": pd.Series([dict(zip(classes, row, strict=True)) for row in proba.tolist()], dtype=object),
    }
    for name, value in columns.items():
        arr = np.asarray(value) if np.ndim(value) else np.full(n, value)
        data[name] = pd.Series(arr, dtype=object if arr.dtype.kind in "OU" else arr.dtype)
    return pd.DataFrame(data)[list(OUTPUT_COLUMNS)]


def assert_same_features(features, frame: pd.DataFrame) -> None:
    plain = features.transform(frame)  # pandas: clean_input's frame, every block on Series
    fast = features.transform_prepared(prepare_input(frame).columns)  # numpy columns, as predict does
    np.testing.assert_array_equal(fast, plain)


@pytest.mark.parametrize("n", [1, 7, 100, 3000])
def test_fast_features_equal_the_pandas_path_on_real_like_rows(logged_model, n):
    assert_same_features(logged_model.bundle.features, real_like(logged_model, n, seed=n))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames())
def test_fast_features_equal_the_pandas_path_on_generated_frames(logged_model, frame):
    assert_same_features(logged_model.bundle.features, frame)
    prepared = prepare_input(frame)
    clean = clean_input(frame)
    for name in prepared.columns:  # same cleaning (brand: derived from the title too)
        if name != "brand":
            pd.testing.assert_series_equal(prepared.frame[name], clean.frame[name], check_exact=True)
    assert prepared.flags.lists() == clean.issues


@settings(max_examples=40, deadline=None)
@given(
    proba=st.integers(0, 30).flatmap(
        lambda n: st.lists(st.lists(st.floats(0, 1, allow_nan=False), min_size=3, max_size=3), min_size=n, max_size=n)
    ),
    drifted=st.booleans(),
)
def test_prediction_frame_equals_the_plain_pandas_frame(proba, drifted):
    proba = np.asarray(proba, dtype="float64").reshape(-1, 3)
    n = len(proba)
    columns = {
        "model_used": np.asarray(["primary", "rules"] * n, dtype=object)[:n],
        "fallback_reason": np.full(n, "", dtype=object),
        "drift_detected": drifted,
        "drift_score": 0.25,
        "drift_scope": "batch",
        "ood_reasons": np.asarray(["", "title_garbled;price_far_outside_training_range"] * n, dtype=object)[:n],
        "needs_review": np.asarray([True, False] * n, dtype=bool)[:n],
    }
    got = prediction_frame(["a", "b", "c"], proba, **columns)
    pd.testing.assert_frame_equal(got, plain_output(["a", "b", "c"], proba, **columns), check_exact=True)


def test_prediction_frame_rejects_a_missing_or_unknown_column():
    with pytest.raises(ValueError, match=r"missing.*model_used"):
        prediction_frame(
            ["a"], np.ones((1, 1)), fallback_reason="", drift_detected=False, drift_score=0.0, ood_reasons=""
        )
    with pytest.raises(ValueError, match=r"unknown.*colour"):
        prediction_frame(
            ["a"],
            np.ones((1, 1)),
            model_used="primary",
            fallback_reason="",
            drift_detected=False,
            drift_score=0.0,
            ood_reasons="",
            colour="red",
        )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames())
def test_predict_rows_answered_by_the_primary_equal_the_plain_path(logged_model, frame):
    """Category, confidence and probabilities of every primary-answered row are the booster's softmax
    over ``ProductFeatures.transform`` (pandas) with the artifact's title decision applied, exactly;
    every row is answered, in order."""
    model = logged_model.in_memory
    out = model.predict(None, frame)
    assert len(out) == len(frame)
    X = model.features.transform(frame)
    raw = model.booster.predict(X, raw_score=True, validate_features=False)
    temperatures = row_temperatures(X, model.share_column, model.metadata)
    plain = softmax(np.asarray(raw, dtype="float64").reshape(len(frame), -1), temperatures)
    k = plain.shape[1]
    decision = TitleDecision.from_metadata(model.metadata)
    margins = X[:, model.n_tabular : model.n_tabular + k]
    plain = decision.apply(plain, margins, ~known_subcategory(X, model.share_column))
    classes = [str(c) for c in model.classes]
    primary = (out["model_used"] == "primary").to_numpy()
    got = np.asarray([[p[c] for c in classes] for p in out["probabilities"][primary]]).reshape(-1, len(classes))
    np.testing.assert_array_equal(got, plain[primary])
    best = plain[primary].argmax(axis=1) if primary.any() else np.zeros(0, dtype=int)
    assert out["category"][primary].tolist() == [classes[i] for i in best]
    np.testing.assert_array_equal(out["confidence"][primary].to_numpy(), plain[primary].max(axis=1))


def test_predict_on_real_like_rows_equals_the_plain_path(logged_model):
    """Many rows, the batched paths (distinct-title dedup, factorize above 2,048 rows) included."""
    test_predict_rows_answered_by_the_primary_equal_the_plain_path.hypothesis.inner_test(
        logged_model, real_like(logged_model, 5000, seed=1)
    )
