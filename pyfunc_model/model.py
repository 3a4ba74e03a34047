"""``ProductClassifierModel``: the one pyfunc that serves, scores in Spark and loads in notebooks.

``predict`` = clean input -> features -> primary booster -> drift verdict -> fallback chain.
Everything it needs was fitted in training and is read from the artifact in ``load_context``;
nothing is fitted or re-loaded per request.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from features.prepared import PreparedInput, prepare_input
from features.schema import InputSchemaError, RowFlags
from pyfunc_model import MAX_BATCH_ROWS
from pyfunc_model.bundle import ModelBundle, read_bundle
from pyfunc_model.capture import NO_CAPTURE, open_capture
from pyfunc_model.chain import nonempty_title_rows, run_chain, softmax
from pyfunc_model.drift.monitor import DriftMonitor, DriftVerdict
from pyfunc_model.drift.ood import ood_flags, sent_mask
from pyfunc_model.drift.profiles import drift_view
from pyfunc_model.drift.reference import DriftReference
from pyfunc_model.drift.settings import DriftSettings
from pyfunc_model.drift.signals.price_given_title import title_cache_size
from pyfunc_model.explain import EXPLANATION_COLUMN, ClassContributions, explanations, readable_names
from pyfunc_model.fallbacks import forest_input
from pyfunc_model.heap import freeze_loaded_objects, freeze_wanted
from pyfunc_model.model_config import FULL_OUTPUT, parse_output_mode, select_output
from pyfunc_model.observability import Observer, observe_loaded_model
from pyfunc_model.output import empty_prediction_frame, prediction_frame
from pyfunc_model.parallel import beside, by_row_chunks, thread_count
from pyfunc_model.params import PredictParams
from pyfunc_model.review import USE_MODEL_THRESHOLD, model_threshold, needs_review
from pyfunc_model.routing import first_routes
from pyfunc_model.temperature import known_subcategory, row_temperatures, share_column
from pyfunc_model.title_decision import TitleDecision

#: Below this many rows LightGBM predicts on one thread (thread start-up costs more than it saves).
SINGLE_THREAD_ROWS = 512


def _load_booster(model_str: str | None) -> tuple[lgb.Booster | None, str]:
    if not model_str:
        return None, "primary_unavailable"
    try:
        return lgb.Booster(model_str=model_str), ""
    except Exception as exc:  # a corrupt booster file: serve from the fallbacks, say why
        return None, f"primary_unavailable:{type(exc).__name__}"


class ProductClassifierModel(mlflow.pyfunc.PythonModel):
    """Product category classifier with drift checks and a fallback chain."""

    #: ``model_config["output"]`` at load time (see pyfunc_model/model_config.py).
    output_mode = FULL_OUTPUT

    def load_context(self, context: Any) -> None:
        self.output_mode = parse_output_mode(context.model_config)
        self.setup(read_bundle(context.artifacts))
        self.observer = observe_loaded_model(self, context.artifacts)  # metrics/logs: docs/MONITORING.md
        self.capture = open_capture(context.artifacts)  # off unless configured: docs/CAPTURE.md
        freeze_loaded_objects()  # a serving process: the collector never walks the model (pyfunc_model.heap)

    def setup(self, bundle: ModelBundle) -> None:
        """Make the model ready from a bundle (used by ``load_context`` and by training)."""
        self.features = bundle.features
        self.classes = bundle.classes
        self.metadata = bundle.metadata
        self.feature_names = list(self.features.get_feature_names_out())
        self.share_column = share_column(self.feature_names)
        self.explained_names = readable_names(self.feature_names, [str(c) for c in self.classes])
        self.review_threshold = model_threshold(bundle.metadata)
        self.title_decision = TitleDecision.from_metadata(bundle.metadata)
        self.booster, self.primary_problem = _load_booster(bundle.primary)
        self.contributions = ClassContributions(self.booster)  # split per class on the first explain
        self.fallbacks = bundle.fallbacks
        self.drift_reference = DriftReference.from_dict(bundle.drift_reference)
        # deployment settings: as logged, overridden by environment variables; never per request
        self.drift_settings = DriftSettings.resolve(self.drift_reference.deployment)
        title_cache_size()  # a bad PRODUCT_CLASSIFIER_TITLE_CACHE fails the load, not the first request
        thread_count()  # the same for PRODUCT_CLASSIFIER_THREADS / OMP_NUM_THREADS
        freeze_wanted()  # and PRODUCT_CLASSIFIER_GC_FREEZE
        self.monitor = DriftMonitor(
            self.drift_reference,
            window_size=self.drift_settings.window_rows,
            false_alarm_budget=self.drift_settings.false_alarm_budget,
        )
        self.n_tabular = self.features.n_tabular
        self.observer = Observer()
        self.capture = NO_CAPTURE

    # ---- predict -------------------------------------------------------------------------
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.observer.observe_predict(self._predict, context, model_input, params)

    def _predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None) -> pd.DataFrame:
        opts = PredictParams.from_request(params)
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        if len(model_input) > MAX_BATCH_ROWS:
            raise MlflowException(
                f"batch of {len(model_input)} rows is over the limit of {MAX_BATCH_ROWS} rows per request; "
                "split it or use batch scoring (python -m pyfunc_model.batch_score)",
                error_code=INVALID_PARAMETER_VALUE,
            )
        try:
            prepared = prepare_input(model_input)
        except InputSchemaError as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc
        if len(model_input) == 0:
            return select_output(empty_prediction_frame(), self.output_mode)
        out = self._score(prepared, opts, {"brand": sent_mask(model_input, "brand")})
        self.capture.record(model_input, out)
        return select_output(out, self.output_mode)

    def _score(
        self, prepared: PreparedInput, opts: PredictParams, sent: dict[str, np.ndarray] | None = None
    ) -> pd.DataFrame:
        n, k = len(prepared), len(self.classes)
        columns, flags = prepared.columns, prepared.flags  # features and drift read numpy columns
        brand_sent = sent.get("brand") if sent else None
        # computed once, read by both checks; brands the client did not send as the reference sees
        # them. It depends on the input alone, so it runs beside the features and the booster.
        # A request too small for its own tests is summarised in part now, in full with the next
        # window test (DriftMonitor.summarize_request).
        view = drift_view(columns, self.drift_reference, brand_sent)
        summary_of = beside(n, self.monitor.summarize_request, view, n)
        X, feature_problem = self._features(columns)
        primary_proba, primary_problem = (
            self._primary(X, n, k) if not feature_problem else (np.full((n, k), np.nan), feature_problem)
        )
        summary = summary_of()
        row_reasons = flags.merged(ood_flags(columns, self.drift_reference, summary, sent))
        confidence = primary_proba.max(axis=1)  # NaN where the primary gave nothing: not a "collapse"
        answered = np.isfinite(confidence)
        predicted = np.where(answered, np.nan_to_num(primary_proba, nan=-1.0).argmax(axis=1), -1)
        verdict = self.monitor.check(view, confidence, summary=summary, predicted=predicted)
        self.observer.drift_checked(verdict)

        start, reasons = self._routes(n, primary_proba, primary_problem, row_reasons, verdict, opts)
        scorers = self.observer.watch_scorers(self._scorers(prepared, X))
        result = run_chain(primary_proba, start, reasons, scorers, opts.confidence_threshold)
        review = opts.review_threshold if opts.review_threshold != USE_MODEL_THRESHOLD else self.review_threshold
        out = self._output(result.proba, result.model_used, result.fallback_reason, verdict, row_reasons, review)
        if opts.explain:
            out[EXPLANATION_COLUMN] = explanations(
                titles=columns["title"],
                categories=out["category"].tolist(),
                model_used=out["model_used"].tolist(),
                class_index=np.nan_to_num(result.proba, nan=-1.0).argmax(axis=1),
                scorer=self.features.text_ if X is not None else None,
                contributions=self.contributions,
                X=X,
                feature_names=self.explained_names,
            )
        return out

    def _features(self, columns: dict[str, np.ndarray]) -> tuple[np.ndarray | None, str]:
        try:
            return by_row_chunks(self.features.transform_prepared, columns), ""
        except Exception as exc:
            self.observer.failed("features", exc)
            return None, f"features_error:{type(exc).__name__}"

    def _primary(self, X: np.ndarray, n: int, k: int) -> tuple[np.ndarray, str]:
        if self.booster is None:
            return np.full((n, k), np.nan), self.primary_problem
        try:
            raw = self.booster.predict(
                X, raw_score=True, num_threads=1 if n < SINGLE_THREAD_ROWS else 0, validate_features=False
            )
            temperatures = row_temperatures(X, self.share_column, self.metadata)
            proba = softmax(np.asarray(raw, dtype="float64").reshape(n, k), temperatures)
            margins = X[:, self.n_tabular : self.n_tabular + k]  # the title scorer's LinearSVC block
            return self.title_decision.apply(proba, margins, ~known_subcategory(X, self.share_column)), ""
        except Exception as exc:
            self.observer.failed("primary", exc)
            return np.full((n, k), np.nan), f"primary_error:{type(exc).__name__}"

    def _routes(
        self,
        n: int,
        primary_proba: np.ndarray,
        primary_problem: str,
        row_reasons: RowFlags,
        verdict: DriftVerdict,
        opts: PredictParams,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each row's first route and the reason it skipped the primary (table: ``pyfunc_model.routing``)."""
        # concept drift alone names no input to avoid: it is flagged, not rerouted
        may_reroute = verdict.scope == "batch" or self.drift_settings.window_reroutes
        return first_routes(
            n,
            primary_problem,
            ~np.isfinite(primary_proba).all(axis=1),
            list(verdict.drifted_features),
            opts.on_drift == "fallback" and may_reroute,
            row_reasons.masks,
        )

    def _scorers(self, prepared: PreparedInput, X: np.ndarray | None) -> dict[str, Any]:
        """The fallbacks, each scoring a subset of rows; pandas is built only if a fallback that reads it runs."""
        fb = self.fallbacks
        k = len(self.classes)

        def naive_bayes(rows: np.ndarray) -> np.ndarray:
            out = np.full((rows.size, k), np.nan)
            has_title = nonempty_title_rows(prepared.columns["title"], rows)
            if has_title.any():
                sub = rows[has_title]
                text = (
                    X[sub, self.n_tabular :]
                    if X is not None
                    else self.features.text_.transform(prepared.frame.iloc[sub])
                )
                proba = self.features.text_.naive_bayes_proba(text)
                if proba is not None:
                    out[has_title] = proba
            return out

        def random_forest(rows: np.ndarray) -> np.ndarray:
            tab = X[rows, : self.n_tabular] if X is not None else self.features.tabular(prepared.frame.iloc[rows])
            return fb.random_forest.predict_proba(forest_input(tab))

        return {
            "naive_bayes": naive_bayes,
            "random_forest": random_forest,
            "rules": lambda rows: fb.rules.predict_proba(prepared.frame.iloc[rows]),
            "prior": lambda rows: fb.prior.predict_proba(rows.size),
        }

    def _output(
        self,
        proba: np.ndarray,
        model_used: np.ndarray,
        fallback_reason: np.ndarray,
        verdict: DriftVerdict,
        row_reasons: RowFlags,
        review_threshold: float,
    ) -> pd.DataFrame:
        return prediction_frame(
            [str(c) for c in self.classes],
            proba,
            model_used=model_used,
            fallback_reason=fallback_reason,
            drift_detected=bool(verdict.drifted),
            drift_score=float(verdict.score),
            drift_scope=verdict.scope,
            ood_reasons=row_reasons.joined(";"),
            needs_review=needs_review(proba.max(axis=1), np.asarray(model_used, dtype=object), review_threshold),
        )
