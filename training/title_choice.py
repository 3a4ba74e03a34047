"""Out-of-fold choice of what the artifact serves where the title decides.

Every candidate the serving path can execute (``pyfunc_model.title_decision``) is scored on the
same out-of-fold rows the auto-accept threshold is chosen on (every training row scored by a
booster that did not see its title group, and by title scorer margins that are cross-fitted):

- the stacked booster alone;
- the title scorer (LinearSVC margins, temperature-scaled) alone;
- blends of the two, :data:`BLEND_WEIGHTS`;
- each of those with the class prior divided out to a power of :data:`PRIOR_POWERS` (large
  classes swallow small ones less);
- each blend with per-class offsets fitted for macro-F1 (:func:`fit_class_offsets`), scored
  cross-fitted: fitted on one title-grouped half of the rows, scored on the other.

The criterion is title-only macro-F1. A candidate may be served only if its title-only ECE is at
most :data:`MAX_ECE_TITLE_ONLY` and the auto-accept rule still holds: the threshold chosen on its
own out-of-fold confidences accepts at least the booster's share of title-only rows minus
:data:`MAX_COVERAGE_LOSS`. The booster alone is the default. Every candidate's figures are
returned for the run's log. Out of fold, the served decision is never below the booster alone;
whether that holds on held-out rows is what ``--cv`` and tests/quality/test_generalisation.py measure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import mlflow
import numpy as np
import pandas as pd

from pyfunc_model.title_decision import TitleDecision
from training.calibration import fit_temperature
from training.evaluate import expected_calibration_error, macro_f1
from training.review_threshold import ReviewStats, choose_threshold

#: Weight of the title scorer in the blend (0: the booster alone; 1: the title scorer alone).
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: Powers of the class prior divided out of the probabilities (0: none).
PRIOR_POWERS = (0.0, 0.5, 1.0)
#: Log-offset values tried per class when offsets are fitted for macro-F1.
OFFSET_STEPS = np.linspace(-1.0, 1.0, 9)
#: Calibration a served candidate must keep (top-label ECE, title-only out-of-fold rows).
MAX_ECE_TITLE_ONLY = 0.03
#: Auto-accepted share of title-only rows a candidate may give up against the booster alone.
MAX_COVERAGE_LOSS = 0.05
#: Search range of the title scorer's temperature: LinearSVC margins are small, so the fitted T
#: is below the booster's lower bound of 0.25 (0.22 on amazon_in, 0.17 on PriceRunner; seed 42).
SCORER_TEMPERATURE_BOUNDS = (0.01, 8.0)
#: Artifact file (run artifact) holding every candidate's figures and the choice.
CANDIDATES_ARTIFACT = "quality/title_candidates.json"


@dataclass(frozen=True)
class Candidate:
    """One candidate's out-of-fold figures (title-only rows)."""

    name: str
    blend_weight: float
    prior_power: float
    macro_f1_title_only: float
    ece_title_only: float
    review_threshold: float
    review_coverage_title_only: float
    #: Per-class offsets fitted for macro-F1 (scored cross-fitted: fitted on the other half of the rows).
    fitted_offsets: bool = False
    eligible: bool = False


@dataclass
class TitleChoice:
    """The served decision and every candidate it was chosen among."""

    decision: TitleDecision
    chosen: str
    candidates: list[Candidate]

    def metrics(self) -> dict[str, float]:
        """Run metrics: ``oof_<figure>_<candidate>`` for every candidate, ``title_choice_oof_*`` for the served one."""
        figures = ("macro_f1_title_only", "ece_title_only", "review_coverage_title_only")
        out = {f"oof_{f}_{c.name}": float(getattr(c, f)) for c in self.candidates for f in figures}
        chosen = next(c for c in self.candidates if c.name == self.chosen)
        out |= {f"title_choice_oof_{f}": float(getattr(chosen, f)) for f in figures}
        out["title_choice_oof_margin_over_booster"] = (
            chosen.macro_f1_title_only - self.candidates[0].macro_f1_title_only
        )
        out["title_choice_blend_weight"] = self.decision.blend_weight
        return out

    def params(self) -> dict[str, object]:
        chosen = next(c for c in self.candidates if c.name == self.chosen)
        return {"title_choice": self.chosen, "title_choice.prior_power": chosen.prior_power}

    def to_dict(self) -> dict[str, object]:
        return {
            "chosen": self.chosen,
            "criterion": "out-of-fold title-only macro-F1",
            "max_ece_title_only": MAX_ECE_TITLE_ONLY,
            "max_coverage_loss": MAX_COVERAGE_LOSS,
            "scorer_temperature": self.decision.scorer_temperature,
            "candidates": [asdict(c) for c in self.candidates],
        }

    def log(self) -> None:
        """Log to the active MLflow run: metrics, params and :data:`CANDIDATES_ARTIFACT`."""
        mlflow.log_metrics(self.metrics())
        mlflow.log_params(self.params())
        mlflow.log_dict(self.to_dict(), CANDIDATES_ARTIFACT)


def _name(weight: float, power: float) -> str:
    base = "booster" if weight == 0 else "title_scorer" if weight == 1 else f"blend_{weight:g}"
    return base if power == 0 else f"{base}_prior_{power:g}"


def _candidate(name: str, weight: float, power: float, fitted: bool, proba: np.ndarray, y: np.ndarray) -> Candidate:
    confidence, correct = proba.max(axis=1), proba.argmax(axis=1) == y
    threshold = choose_threshold(confidence, correct)
    coverage = ReviewStats.at(threshold, confidence, correct).coverage
    f1 = macro_f1(y, proba.argmax(axis=1))
    return Candidate(name, weight, power, f1, expected_calibration_error(proba, y), threshold, coverage, fitted)


def _title_halves(groups: np.ndarray) -> np.ndarray:
    """A title-grouped half of the rows (a listing and its twins on the same side)."""
    codes = pd.factorize(groups)[0]
    return np.random.default_rng(0).permutation(codes.max() + 1)[codes] % 2 == 0


def _with_offsets(proba: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    p = proba * np.exp(offsets)
    return p / p.sum(axis=1, keepdims=True)


def fast_macro_f1(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Macro-F1 over the classes present in ``y`` or ``pred`` (as scikit-learn's), from bincounts."""
    tp = np.bincount(y[pred == y], minlength=k).astype(float)
    true, predicted = np.bincount(y, minlength=k), np.bincount(pred, minlength=k)
    present = (true + predicted) > 0
    return float((2 * tp[present] / (true + predicted)[present]).mean())


def fit_class_offsets(proba: np.ndarray, y: np.ndarray, passes: int = 2) -> np.ndarray:
    """Per-class log offsets maximising the macro-F1 of ``argmax(proba * exp(offsets))``.

    Coordinate ascent over :data:`OFFSET_STEPS`, class by class; a step is kept only if it
    raises macro-F1. Centred, so the offsets change decisions, not the overall scale.
    """
    k = proba.shape[1]
    log_p = np.log(np.clip(proba, 1e-12, None))
    offsets = np.zeros(k)
    best = fast_macro_f1(y, log_p.argmax(axis=1), k)
    for _ in range(passes):
        for c in range(k):
            for step in OFFSET_STEPS:
                trial = offsets.copy()
                trial[c] = step
                score = fast_macro_f1(y, (log_p + trial).argmax(axis=1), k)
                if score > best + 1e-12:
                    best, offsets = score, trial
    return offsets - offsets.mean()


def choose_title_decision(
    held_proba: np.ndarray,
    held_margins: np.ndarray,
    held_y: np.ndarray,
    held_title_only: np.ndarray,
    held_unknown: np.ndarray,
    valid_margins: np.ndarray,
    valid_y: np.ndarray,
    class_prior: np.ndarray,
    held_groups: np.ndarray | None = None,
) -> TitleChoice:
    """Score every candidate on the held (out-of-fold) rows; return the best eligible one.

    ``held_*``: the booster's calibrated out-of-fold probabilities, the title scorer's
    cross-fitted margins, label indices, the title-only copies, the rows without a known
    sub-category (where the decision applies). ``valid_*``: the title scorer's margins and labels
    of the validation rows without a known sub-category, where its temperature is fitted, as the
    booster's is. ``class_prior``: class shares of the training rows. ``held_groups``: the held
    rows' title groups; with them, per-class offsets are fitted on one title-grouped half of the
    title-only rows and scored on the other (both ways), then refitted on all of them to serve.
    """
    temperature = fit_temperature(valid_margins, valid_y, SCORER_TEMPERATURE_BOUNDS) if len(valid_y) else 1.0
    log_prior = np.log(np.clip(class_prior, 1e-6, None))
    t = np.asarray(held_title_only, dtype=bool)
    y_t = held_y[t]
    decisions, candidates = {}, []
    for power in PRIOR_POWERS:
        for weight in BLEND_WEIGHTS:
            offsets = tuple(float(v) for v in -power * (log_prior - log_prior.mean())) if power else ()
            decision = TitleDecision(weight, temperature, offsets)
            name = _name(weight, power)
            decisions[name] = decision
            proba = decision.apply(held_proba, held_margins, held_unknown)[t]
            candidates.append(_candidate(name, weight, power, False, proba, y_t))
    if held_groups is not None:  # per-class offsets fitted out of fold (small classes)
        halves = _title_halves(np.asarray(held_groups)[t])
        for weight in BLEND_WEIGHTS if 0 < halves.sum() < halves.size else ():
            proba = TitleDecision(weight, temperature).apply(held_proba, held_margins, held_unknown)[t]
            crossed = np.empty_like(proba)
            for fit_half, score_half in ((halves, ~halves), (~halves, halves)):
                offsets = fit_class_offsets(proba[fit_half], y_t[fit_half])
                crossed[score_half] = _with_offsets(proba[score_half], offsets)
            name = f"{_name(weight, 0.0)}_class_offsets"
            decisions[name] = TitleDecision(weight, temperature, tuple(float(v) for v in fit_class_offsets(proba, y_t)))
            candidates.append(_candidate(name, weight, 0.0, True, crossed, y_t))
    booster = candidates[0]
    candidates = [
        Candidate(
            **{
                **asdict(c),
                "eligible": c.ece_title_only <= MAX_ECE_TITLE_ONLY
                and c.review_coverage_title_only >= booster.review_coverage_title_only - MAX_COVERAGE_LOSS,
            }
        )
        for c in candidates
    ]
    eligible = [c for c in candidates if c.eligible]
    chosen = max(eligible, key=lambda c: c.macro_f1_title_only).name if eligible else booster.name
    decision = decisions[chosen] if chosen != booster.name else TitleDecision(0.0, temperature)
    return TitleChoice(decision, chosen, candidates)
