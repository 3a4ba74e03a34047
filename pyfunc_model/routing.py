"""Where each row starts in the fallback chain and why: one table, one precedence rule.

Triggers: the primary could not answer (all rows or some), the batch drifted on named inputs
(``on_drift=fallback``), or a row is out of distribution (``ood_reasons``). Precedence: a row
starts at the LATEST route any of its triggers names; its ``fallback_reason`` is the trigger
that moved it there first (primary problems, then drift, then row reasons in their order).
Reasons are built here only: ``<primary problem>``, ``primary_nan``, ``drift:<fields>``,
``ood:<reason>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from pyfunc_model.chain import ROUTES

#: Row reason -> the first route that can answer such a row.
ROW_ROUTES: dict[str, str] = {
    "title_empty": "rules",
    # the title's words are unusable: the tabular random forest does not read them
    "title_foreign_script": "random_forest",
    "title_garbled": "random_forest",
    "title_no_known_words": "random_forest",
    "price_far_outside_training_range": "naive_bayes",
}
#: The primary failed: the next model that can answer.
PRIMARY_PROBLEM_ROUTE = "naive_bayes"
#: Inputs the title-only naive Bayes does not read: drift confined to them routes there; drift
#: that touches the title routes to the tabular random forest.
TABULAR_INPUTS = frozenset({"seller_id", "brand", "subcategory", "price", "rating", "reviews_count"})


def drift_route(drifted_fields: Iterable[str]) -> str:
    return "naive_bayes" if set(drifted_fields) <= TABULAR_INPUTS else "random_forest"


def first_routes(
    n: int,
    primary_problem: str,
    primary_failed: np.ndarray,
    drifted_fields: list[str],
    reroute_on_drift: bool,
    row_masks: Mapping[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """(index into ``ROUTES`` where each row starts, reason it skipped the primary or "")."""
    start = np.zeros(n, dtype=int)
    reasons = np.full(n, "", dtype=object)
    if primary_problem:
        start[:] = ROUTES.index(PRIMARY_PROBLEM_ROUTE)
        reasons[:] = primary_problem
    failed = primary_failed & (reasons == "")
    start[failed] = ROUTES.index(PRIMARY_PROBLEM_ROUTE)
    reasons[failed] = "primary_nan"
    if reroute_on_drift and drifted_fields and not primary_problem:
        start[:] = np.maximum(start, ROUTES.index(drift_route(drifted_fields)))
        reasons[reasons == ""] = "drift:" + ",".join(sorted(drifted_fields))
    for reason, mask in row_masks.items():  # in each row's reason order
        route = ROW_ROUTES.get(reason)
        if route is not None:
            later = mask & (ROUTES.index(route) > start)
            start[later] = ROUTES.index(route)
            reasons[later] = f"ood:{reason}"
    return start, reasons


__all__ = ["PRIMARY_PROBLEM_ROUTE", "ROW_ROUTES", "TABULAR_INPUTS", "drift_route", "first_routes"]
