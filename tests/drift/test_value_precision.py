"""The precision signal: decimals read through float noise, the training grid, NaN where not sent."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pyfunc_model.drift.signals.value_precision import MAX_DECIMALS, ValuePrecision, decimals
from pyfunc_model.drift.summary import Lookups, RowContext


def _ctx(price: list[float]) -> RowContext:
    frame = pd.DataFrame({"title": ["x"] * len(price), "price": np.asarray(price, dtype="float64")})
    return RowContext(frame, Lookups(n_bits={}, seen={}, token_seen=np.zeros(1, dtype=bool), price=None))  # type: ignore[arg-type]


def test_decimals_ignore_float_noise_but_not_a_real_decimal() -> None:
    values = np.asarray([499.0, 499.99, 4.2, 0.1 + 0.2, 523.95, 524.9895, 0.123456, 1234567.5])
    assert decimals(values).tolist() == [0, 2, 1, 1, 2, 4, MAX_DECIMALS + 1, 1]
    single = np.asarray([499.99, 4.2, 12345.67], dtype=np.float32).astype("float64")  # a float32 round trip
    assert decimals(single).tolist() == [2, 1, 2]


def test_the_grid_is_what_covers_training_values_and_off_grid_rows_are_one() -> None:
    signal = ValuePrecision("price")
    rng = np.random.default_rng(0)
    whole = np.round(np.exp(rng.normal(7, 1, 500)))
    state = signal.fit(_ctx([*whole, 19.99, 5.5]))  # a few odd values do not widen the grid
    assert state == {"decimals": 0}
    values = signal.values(_ctx([499.0, 523.95, float("nan"), 1050.0]), state)
    assert values[[0, 1, 3]].tolist() == [0.0, 1.0, 0.0] and np.isnan(values[2])


def test_a_field_without_a_grid_gets_no_state_and_no_values() -> None:
    signal = ValuePrecision("price")
    state = signal.fit(_ctx(list(np.random.default_rng(1).uniform(1, 100, 300))))
    assert state == {}
    assert np.isnan(signal.values(_ctx([1.0, 2.5]), state)).all()
    assert signal.fit(_ctx([float("nan")] * 3)) == {}
