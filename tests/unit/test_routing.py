"""The routing table: where a row starts in the chain and the reason it reports."""

from __future__ import annotations

import numpy as np

from pyfunc_model.chain import ROUTES
from pyfunc_model.routing import first_routes


def _routes(**kw: object) -> tuple[list[str], list[str]]:
    args = {
        "n": 4,
        "primary_problem": "",
        "primary_failed": np.zeros(4, dtype=bool),
        "drifted_fields": [],
        "reroute_on_drift": False,
        "row_masks": {},
        **kw,
    }
    start, reasons = first_routes(**args)  # type: ignore[arg-type]
    return [ROUTES[i] for i in start], list(reasons)


def test_untroubled_rows_start_at_the_primary() -> None:
    assert _routes() == (["primary"] * 4, [""] * 4)


def test_row_reasons_route_by_the_table_and_the_latest_route_wins() -> None:
    empty = np.array([True, False, False, False])
    garbled = np.array([False, True, False, False])
    price = np.array([False, True, True, False])
    routes, reasons = _routes(
        row_masks={"title_empty": empty, "price_far_outside_training_range": price, "title_garbled": garbled}
    )
    assert routes == ["rules", "random_forest", "naive_bayes", "primary"]
    assert reasons == ["ood:title_empty", "ood:title_garbled", "ood:price_far_outside_training_range", ""]


def test_drift_reroutes_only_when_allowed_and_names_the_fields() -> None:
    assert _routes(drifted_fields=["price"])[0] == ["primary"] * 4
    routes, reasons = _routes(drifted_fields=["price", "brand"], reroute_on_drift=True)
    assert routes == ["naive_bayes"] * 4 and reasons == ["drift:brand,price"] * 4
    assert _routes(drifted_fields=["title"], reroute_on_drift=True)[0] == ["random_forest"] * 4


def test_primary_problems_come_first() -> None:
    failed = np.array([False, True, False, False])
    routes, reasons = _routes(primary_failed=failed, drifted_fields=["price"], reroute_on_drift=True)
    assert routes == ["naive_bayes"] * 4
    assert reasons == ["drift:price", "primary_nan", "drift:price", "drift:price"]
    routes, reasons = _routes(primary_problem="primary_unavailable", drifted_fields=["price"], reroute_on_drift=True)
    assert reasons == ["primary_unavailable"] * 4
