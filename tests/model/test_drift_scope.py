"""Drift verdicts and shared state: no request can steer the window, and a window verdict built
from every client's traffic reroutes nobody unless the deployment says so."""

from __future__ import annotations

import gc

import mlflow
import pandas as pd
import pytest

from pyfunc_model.drift.settings import ENV_FALSE_ALARM_BUDGET, ENV_WINDOW_REROUTES, ENV_WINDOW_ROWS
from pyfunc_model.drift.signals.price_given_title import ENV_TITLE_CACHE
from pyfunc_model.heap import ENV_GC_FREEZE, freeze_wanted
from pyfunc_model.model import ProductClassifierModel
from tests.small_model import SmallModel

pytestmark = pytest.mark.slow


def _model(logged_model: SmallModel) -> ProductClassifierModel:
    model = ProductClassifierModel()
    model.setup(logged_model.bundle)
    return model


def _flood(model: ProductClassifierModel, rows: pd.DataFrame) -> pd.DataFrame:
    """One client's single-row requests of wildly over-priced listings until the window flags."""
    out = None
    for i in range(len(rows)):
        out = model.predict(None, rows.iloc[[i]].assign(price=rows["price"].iat[i] * 1000))
        if out["drift_detected"].iat[0]:
            break
    assert out is not None and out["drift_detected"].iat[0], "the flood never flagged the window"
    return out


def test_a_request_cannot_resize_the_window(logged_model: SmallModel) -> None:
    model = _model(logged_model)
    rows = logged_model.test_frame.head(40)
    for i in range(len(rows)):
        out = model.predict(None, rows.iloc[[i]], params={"drift_window": 5})  # not a param: ignored
    assert model.monitor.window_size == model.drift_settings.window_rows == 1000
    assert model.monitor.window_len == len(rows)
    assert out["drift_scope"].tolist() == ["window"]


def test_window_verdicts_flag_but_do_not_reroute_other_clients(logged_model: SmallModel) -> None:
    model = _model(logged_model)
    rows = logged_model.test_frame.reset_index(drop=True)
    _flood(model, rows.head(250))
    other = model.predict(None, rows.iloc[[260]], params={"on_drift": "fallback"})
    assert other["drift_detected"].iat[0] and other["drift_scope"].iat[0] == "window"
    assert not other["fallback_reason"].iat[0].startswith("drift:")


def test_window_rerouting_is_a_deployment_choice(logged_model: SmallModel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_WINDOW_REROUTES, "true")
    model = _model(logged_model)
    assert model.drift_settings.window_reroutes
    rows = logged_model.test_frame.reset_index(drop=True)
    _flood(model, rows.head(250))
    other = model.predict(None, rows.iloc[[260]], params={"on_drift": "fallback"})
    assert other["fallback_reason"].iat[0].startswith("drift:price")
    assert other["model_used"].iat[0] != "primary"


def test_batch_verdicts_reroute_their_own_rows(logged_model: SmallModel) -> None:
    model = _model(logged_model)
    batch = logged_model.test_frame.head(200)
    out = model.predict(None, batch.assign(price=batch["price"] * 1000), params={"on_drift": "fallback"})
    assert (out["drift_scope"] == "batch").all() and out["drift_detected"].all()
    assert out["fallback_reason"].str.startswith("drift:").any()
    assert model.monitor.window_len == 0  # a batch is judged on its own, never enters the window


def test_environment_overrides_and_rejects_bad_settings(
    logged_model: SmallModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_WINDOW_ROWS, "200")
    monkeypatch.setenv(ENV_FALSE_ALARM_BUDGET, "0.005")
    model = _model(logged_model)
    assert model.monitor.window_size == 200 and model.monitor.false_alarm_budget == 0.005
    monkeypatch.setenv(ENV_WINDOW_ROWS, "lots")
    with pytest.raises(ValueError, match=ENV_WINDOW_ROWS):
        _model(logged_model)
    monkeypatch.setenv(ENV_WINDOW_ROWS, "200")
    monkeypatch.setenv(ENV_TITLE_CACHE, "0")
    assert _model(logged_model).drift_reference.lookups().price.cache.size == 0
    monkeypatch.setenv(ENV_TITLE_CACHE, "-5")
    with pytest.raises(ValueError, match=ENV_TITLE_CACHE):
        _model(logged_model)


def test_a_serving_process_freezes_the_loaded_model_out_of_the_collectors_walks(
    logged_model: SmallModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def load() -> object:
        return mlflow.pyfunc.load_model(str(logged_model.local_dir))

    gc.unfreeze()
    monkeypatch.setenv(ENV_GC_FREEZE, "0")
    load()
    assert gc.get_freeze_count() == 0  # a notebook's objects stay collectable
    monkeypatch.setenv(ENV_GC_FREEZE, "1")
    try:
        model = load()
        assert gc.get_freeze_count() > 0
        assert len(model.predict(pd.DataFrame({"title": ["usb cable"]}))) == 1
    finally:
        gc.unfreeze()
    monkeypatch.setenv(ENV_GC_FREEZE, "sometimes")
    with pytest.raises(ValueError, match=ENV_GC_FREEZE):
        _model(logged_model)  # a bad value fails the load
    monkeypatch.delenv(ENV_GC_FREEZE)
    assert freeze_wanted({}, {"mlflow.pyfunc.scoring_server": object()})  # MLflow's server: on
    assert not freeze_wanted({}, {})
