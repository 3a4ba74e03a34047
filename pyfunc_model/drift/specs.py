"""One declaration per monitored signal: the single place to add, remove or change a signal.

A :class:`Signal` says what a per-row value is computed from (``compute`` over the shared,
vectorised :class:`~pyfunc_model.drift.summary.RowContext`), what kind of reference summary it
gets (``kind``), which tests run on it (``tests``; the sample-size regime is chosen in
``checks``), and which input field it belongs to (``field``: when it drifts, the fallback chain
avoids the models that read that field). The reference builder, the calibration, the tests, the
drift report and the OOD reasons all iterate over :data:`SIGNALS`.

Kinds and their tests (statistics in ``checks``):

- ``numeric``: ``rank`` (mean reference mid-rank, a Wilcoxon-type z-test: power for location
  shifts such as a price increase, immune to single absurd values) and ``ks``
  (Kolmogorov-Smirnov on the reference sketch: shape changes);
  without a calibration, above ``large_n`` rows both become one normalised Wasserstein distance.
- ``share`` (a 0/1 value per row): ``excess``, one-sided binomial test that the share rose.
- ``buckets`` (hashed categorical ids): ``chi2`` over as many coarse buckets (>= 3 rows each) as the sample
  supports; Jensen-Shannon distance above ``large_n`` without a calibration.
- ``tokens`` (the title's token-bucket histogram): ``chi2``, a scaled chi-square on bucket shares.
- ``row``: kept per row for the OOD reasons only, never tested.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pyfunc_model.drift.signals import FITTED_SIGNALS, FittedSignal, price_given_title
from pyfunc_model.drift.summary import TEXT_BUCKETS, Lookups, PreparedColumns, RowContext


class HasLookups(Protocol):
    """A built reference (``drift.reference.DriftReference``) as the summary sees it."""

    def lookups(self) -> Lookups: ...


@dataclass(frozen=True)
class Signal:
    name: str
    field: str
    compute: Callable[[RowContext], np.ndarray]
    kind: str
    tests: tuple[str, ...] = ()
    one_sided: bool = False  # numeric: only an increase matters
    #: share of the false-alarm budget its tests get relative to others (weighted Bonferroni),
    #: fixed a priori: the most informative test of a field gets more of the budget
    weight: float = 1.0
    #: ``data``: a drifted test turns the verdict on. ``completeness``: how often a field is sent,
    #: watched and reported (metrics, log) but never a drift verdict: a client that does not send
    #: a field is not a shifted distribution (``drift.profiles``)
    role: str = "data"


CATEGORICAL = ("subcategory", "brand", "seller_id")
RAW_NUMERIC = ("price", "rating", "reviews_count")


def _numeric(name: str, field: str, compute: Callable[[RowContext], np.ndarray], **kw: object) -> Signal:
    return Signal(name, field, compute, "numeric", kw.pop("tests", ("rank", "ks")), **kw)  # type: ignore[arg-type]


def _fitted(signal: FittedSignal) -> Signal:
    def compute(c: RowContext) -> np.ndarray:
        return c.fitted_value(signal)

    if signal.kind == "share":
        return Signal(signal.name, signal.field, compute, "share", ("excess",), weight=signal.weight)
    return _numeric(signal.name, signal.field, compute, weight=signal.weight)


def _missing(field: str) -> Signal:
    return Signal(f"{field}_missing", field, lambda c: c.missing(field), "share", ("excess",), role="completeness")


SIGNALS: tuple[Signal, ...] = (
    _numeric("price", "price", lambda c: c.log1p("price")),
    # price given title words and sub-category: half the spread of price alone, so twice the power
    _numeric("price_residual", "price", price_given_title.residual, weight=3.0),
    # the same for rows sent without a sub-category, against training's title-only residuals
    _numeric("price_residual_title", "price", price_given_title.residual_title, weight=3.0),
    _numeric("rating", "rating", lambda c: c.number("rating")),
    _numeric("reviews_count", "reviews_count", lambda c: c.log1p("reviews_count")),
    _numeric("title_chars", "title", lambda c: c.title_chars),
    _numeric("title_oov_rate", "title", lambda c: c.title_oov_rate, tests=("rank",), one_sided=True),
    Signal("title_tokens", "title", lambda c: c.n_tokens, "tokens", ("chi2",)),
    *(_missing(f) for f in RAW_NUMERIC),
    *(Signal(f, f, lambda c, f=f: c.bucket(f), "buckets", ("chi2",)) for f in CATEGORICAL),
    *(_missing(f) for f in CATEGORICAL),
    *(Signal(f"{f}_unseen", f, lambda c, f=f: c.unseen(f), "share", ("excess",)) for f in CATEGORICAL),
    Signal("title_letter_share", "title", lambda c: c.title_letter_share, "row"),
    Signal("title_foreign_share", "title", lambda c: c.title_foreign_share, "row"),
    *(_fitted(s) for s in FITTED_SIGNALS),
)
SIGNAL = {s.name: s for s in SIGNALS}
#: Columns of :attr:`RowSummary.table`, in order.
COLUMNS = tuple(s.name for s in SIGNALS)
COL = {name: i for i, name in enumerate(COLUMNS)}
NUMERIC = tuple(s.name for s in SIGNALS if s.kind == "numeric")
TESTED = tuple(s for s in SIGNALS if s.tests)


@dataclass
class RowSummary:
    """``table``: rows x monitored columns (:data:`COLUMNS`, NaN = missing); ``tokens``: rows x 256 counts.
    ``complete`` False: only some columns were computed (``build_summary``'s ``only``), the others
    and the token counts are left empty; such a summary is never tested."""

    table: np.ndarray
    tokens: np.ndarray
    complete: bool = True

    def __len__(self) -> int:
        return self.table.shape[0]

    def col(self, name: str) -> np.ndarray:
        return self.table[:, COL[name]]


def build_summary(
    prepared: PreparedColumns,
    lookups: Lookups,
    max_residual_titles: int | None = -1,
    every_profile: bool = False,
    only: Collection[str] | None = None,
) -> RowSummary:
    """Every declared per-row value of ``prepared`` (one column each) plus the token histogram.

    ``max_residual_titles``: cap on the titles given a price residual (-1: the serving default;
    None: every title, as training needs). ``every_profile``: see :class:`RowContext`.
    ``only``: compute just these signals (NaN in the other columns, no token histogram)."""
    ctx = (
        RowContext(prepared, lookups, every_profile=every_profile)
        if max_residual_titles == -1
        else RowContext(prepared, lookups, max_residual_titles, every_profile)
    )
    if only is not None:
        table = np.full((ctx.n, len(COLUMNS)), np.nan)
        for i, signal in enumerate(SIGNALS):
            if signal.name in only:
                table[:, i] = signal.compute(ctx)
        return RowSummary(table, np.zeros((ctx.n, TEXT_BUCKETS), dtype=np.uint8), complete=False)
    table = np.empty((ctx.n, len(COLUMNS)))
    for i, signal in enumerate(SIGNALS):
        table[:, i] = signal.compute(ctx)
    return RowSummary(table=table, tokens=ctx.token_histogram)


def summarize(
    prepared: PreparedColumns,
    reference: HasLookups,
    only: Collection[str] | None = None,
    max_residual_titles: int | None = -1,
) -> RowSummary:
    """:func:`build_summary` against a built reference's seen sets and price model."""
    return build_summary(prepared, reference.lookups(), max_residual_titles, only=only)


__all__ = [
    "CATEGORICAL",
    "COL",
    "COLUMNS",
    "NUMERIC",
    "SIGNAL",
    "SIGNALS",
    "TESTED",
    "RowSummary",
    "Signal",
    "build_summary",
    "summarize",
]
