"""Fit everything the artifact holds on a training frame: ``fit_model`` and the fallback models.

``fit_model`` is the one recipe used by the final model, every ``--cv`` fold and the learning
curve: features (title-only copies of every row are added so the booster learns to answer
without sub-category, brand and seller), the booster with early stopping, temperatures, the
auto-accept threshold on out-of-fold scores, the fallbacks and the drift reference.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GroupShuffleSplit

from features.pipeline import ProductFeatures
from features.schema import LABEL
from features.subsample import capped_groups
from features.text import normalize_title, title_groups
from pyfunc_model.bundle import Fallbacks, ModelBundle
from pyfunc_model.chain import softmax
from pyfunc_model.drift.ood import sent_mask
from pyfunc_model.drift.profiles import TITLE_ONLY
from pyfunc_model.fallbacks import PriorClassifier, RuleClassifier, forest_input
from pyfunc_model.temperature import TEMPERATURE_KEY, known_subcategory, row_temperatures, share_column
from training.booster import fit_primary
from training.calibration import fit_group_temperatures
from training.data import title_only
from training.drift_reference import CALIBRATION_CHUNKS, build_reference
from training.held_back import ENOUGH_VALIDATION_ROWS, out_of_fold_proba
from training.review_threshold import validation_thresholds
from training.title_choice import TitleChoice, choose_title_decision

log = logging.getLogger("training")
#: Share of the training rows (grouped by title) held back for early stopping and calibration.
VALIDATION_SHARE = 0.15


def with_title_only_copies(frame: pd.DataFrame) -> pd.DataFrame:
    """Every row twice: as given, and with subcategory/brand/seller removed."""
    return pd.concat([frame, title_only(frame)], ignore_index=True)


@dataclass
class FittedModel:
    """What training produces before anything is logged: the bundle plus validation facts."""

    bundle: ModelBundle
    best_iteration: int
    temperature: float
    #: Every title decision scored out of fold and the one served (logged by the run).
    title_choice: TitleChoice | None = None


def fit_model(
    train_df: pd.DataFrame, seed: int = 42, progress: logging.Logger = log, drift_thresholds: bool = True
) -> FittedModel:
    """Fit features, primary, calibration, the title decision (chosen out of fold), fallbacks and drift reference.

    Title text scores are out-of-fold over all of ``train_df`` (with its title-only copies), so
    the booster's early-stopping rows (15 %, grouped by title) are scored like unseen data.
    ``drift_thresholds=False`` leaves the drift tests' thresholds uncalibrated (Bonferroni), for
    models that are only scored for quality: drift verdicts change no prediction under the
    default ``on_drift="flag"``, and the calibration is a third of the fit on amazon_in.
    """
    t0 = time.perf_counter()
    train_aug = with_title_only_copies(train_df)
    progress.info(
        "fitting features on %d rows (%d with title-only copies): hashing, cross, subcategory shares, numeric, "
        "out-of-fold title scores...",
        len(train_df),
        len(train_aug),
    )
    features = ProductFeatures(random_state=seed)
    X = features.fit_transform(train_aug.drop(columns=LABEL), train_aug[LABEL].to_numpy())
    classes = features.classes_
    y = train_aug[LABEL].map({c: i for i, c in enumerate(classes)}).to_numpy()
    groups = title_groups(train_aug["title"])
    fit_rows, valid_rows = next(
        GroupShuffleSplit(1, test_size=VALIDATION_SHARE, random_state=seed + 1).split(X, groups=groups)
    )
    progress.info("features ready: %d columns (%.1fs)", X.shape[1], time.perf_counter() - t0)

    progress.info(
        "training LightGBM primary on %d rows, early stopping on %d validation rows...", len(fit_rows), len(valid_rows)
    )
    names = [str(n) for n in features.get_feature_names_out()]
    booster = fit_primary(
        X[fit_rows],
        y[fit_rows],
        X[valid_rows],
        y[valid_rows],
        len(classes),
        features.categorical_indices,
        names,
        progress=progress,
    )
    raw_valid = booster.predict(X[valid_rows], raw_score=True, num_iteration=booster.best_iteration)
    known = known_subcategory(X[valid_rows], share_column(names))
    temperatures = fit_group_temperatures(raw_valid, y[valid_rows], known)
    temperature = temperatures[TEMPERATURE_KEY]
    progress.info(
        "primary: %d rounds, temperatures %s (%.1fs)", booster.best_iteration, temperatures, time.perf_counter() - t0
    )
    valid_proba = softmax(raw_valid, row_temperatures(X[valid_rows], share_column(names), temperatures))
    valid_title_only = valid_rows >= len(train_df)
    if valid_title_only.sum() >= ENOUGH_VALIDATION_ROWS:  # large data: the validation rows are sample enough
        held_rows, held_proba = valid_rows, valid_proba
    else:
        progress.info("out-of-fold scores of every training row for the auto-accept threshold...")
        held_proba = out_of_fold_proba(
            X,
            y,
            groups,
            booster.best_iteration,
            temperatures,
            share_column(names),
            features.categorical_indices,
            names,
            len(classes),
            seed,
        )
        held_rows = np.arange(len(y))
    choice = title_choice(X, y, groups, features, names, held_rows, held_proba, valid_rows, len(train_df))
    progress.info("title decision chosen out of fold: %s", choice.chosen)
    margins, unknown = title_inputs(X, features, names)
    held_proba = choice.decision.apply(held_proba, margins[held_rows], unknown[held_rows])
    valid_proba = choice.decision.apply(valid_proba, margins[valid_rows], unknown[valid_rows])
    thresholds = validation_thresholds(held_proba, y[held_rows], held_rows >= len(train_df))

    progress.info("training fallbacks on %d rows (random forest, rules, prior)...", len(train_aug))
    prepared = ProductFeatures.prepare(train_aug.drop(columns=LABEL))
    fallbacks = fit_fallbacks(features, prepared, X, train_aug[LABEL].to_numpy(), classes)

    progress.info("computing drift reference...")
    plain_valid = valid_rows[valid_rows < len(train_df)]  # validation rows with all their fields
    val_proba = valid_proba[np.isin(valid_rows, plain_valid)]
    prior = train_df[LABEL].value_counts(normalize=True).reindex(classes, fill_value=0.0)
    copies = valid_rows >= len(train_df)  # the same rows without sub-category, brand and seller
    reference = build_reference(
        prepared.iloc[: len(train_df)],
        val_proba.max(axis=1),
        val_proba.argmax(axis=1) == y[plain_valid],
        class_prior={str(k): float(v) for k, v in prior.items()},
        profile_confidence={
            TITLE_ONLY: (
                valid_proba[copies].max(axis=1),
                valid_proba[copies].argmax(axis=1) == y[valid_rows[copies]],
                valid_proba[copies].argmax(axis=1),
            )
        },
        val_predicted=val_proba.argmax(axis=1),
        brand_sent=sent_mask(train_df, "brand"),
        calibration_chunks=CALIBRATION_CHUNKS if drift_thresholds else 0,
    )
    bundle = ModelBundle(
        features=features,
        primary=booster.model_to_string(num_iteration=booster.best_iteration),
        fallbacks=fallbacks,
        drift_reference=reference.to_dict(),
        metadata={
            "classes": [str(c) for c in classes],
            **temperatures,
            "best_iteration": booster.best_iteration,
            "feature_names": names,
            **thresholds,
            **choice.decision.to_metadata(),
        },
    )
    return FittedModel(bundle, booster.best_iteration, temperature, choice)


def title_inputs(X: np.ndarray, features: ProductFeatures, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The title scorer's LinearSVC margins and the rows without a known sub-category (where the title decides)."""
    k = len(features.classes_)
    return X[:, features.n_tabular : features.n_tabular + k], ~known_subcategory(X, share_column(names))


def title_choice(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    features: ProductFeatures,
    names: list[str],
    held_rows: np.ndarray,
    held_proba: np.ndarray,
    valid_rows: np.ndarray,
    n_plain: int,
) -> TitleChoice:
    """Score every servable title decision on the held (out-of-fold) rows; see ``training/title_choice.py``.

    ``n_plain``: the leading rows of ``X`` are the training rows as given, the rest their title-only copies.
    """
    margins, unknown = title_inputs(X, features, names)
    valid_unknown = valid_rows[unknown[valid_rows]]
    prior = np.bincount(y[:n_plain], minlength=len(features.classes_)) / n_plain
    return choose_title_decision(
        held_proba,
        margins[held_rows],
        y[held_rows],
        held_rows >= n_plain,
        unknown[held_rows],
        margins[valid_unknown],
        y[valid_unknown],
        prior,
        groups[held_rows],
    )


#: The tabular fallback: small (capped leaves) so the artifact and serving memory stay small.
FOREST_PARAMS: dict[str, object] = {
    "n_estimators": 60,
    "max_leaf_nodes": 512,
    "min_samples_leaf": 3,
    "n_jobs": 2,
    "random_state": 0,
}
#: Rows drawn per tree of the fallback forest; 512 leaves gain nothing from more (smaller fits unchanged).
MAX_FOREST_SAMPLES = 200_000
#: Rows the fallback rules are learned from (a title-grouped subset past it): a keyword rule needs
#: 5 rows at 90 % purity, which 200,000 rows settle; learning explodes every title into its words
#: (~15 rows each) in pandas, so memory and time would otherwise grow with the whole training set.
MAX_RULE_ROWS = 200_000


def fit_fallbacks(
    features: ProductFeatures, prepared: pd.DataFrame, X_fit: np.ndarray, y: np.ndarray, classes: np.ndarray
) -> Fallbacks:
    """Random forest on the tabular columns (no title text), rules and the class prior.

    Past their caps (:data:`MAX_FOREST_SAMPLES`, :data:`MAX_RULE_ROWS`) the forest's trees and
    the rules see a sample of the rows; the prior counts every row.

    The forest is kept small (capped leaves) so the artifact and serving memory stay small;
    it answers only when the title cannot be used.
    """
    rf = RandomForestClassifier(
        **FOREST_PARAMS, max_samples=MAX_FOREST_SAMPLES if len(y) > MAX_FOREST_SAMPLES else None
    )
    rf.fit(forest_input(X_fit[:, : features.n_tabular]), y)
    rf.n_jobs = 1  # serving: no thread pool per call
    rule_rows = capped_groups(normalize_title(prepared["title"]).to_numpy(), MAX_RULE_ROWS, seed=0)
    if rule_rows is not None:
        prepared, y_rules = prepared[rule_rows], y[rule_rows]
    else:
        y_rules = y
    return Fallbacks(
        random_forest=rf,
        rules=RuleClassifier().fit(prepared, y_rules, classes),
        prior=PriorClassifier().fit(y, classes),
    )
