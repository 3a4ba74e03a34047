"""Out-of-fold choice of what the artifact serves where the title decides.

Every candidate the serving path can execute (``pyfunc_model.title_decision``) is scored on the
same out-of-fold rows the auto-accept threshold is chosen on (every training row scored by a
booster that did not see its title group, and by title scorer margins that are cross-fitted):

- the stacked booster alone;
- the title scorer (LinearSVC margins, temperature-scaled) alone;
- blends of the two, :data:`BLEND_WEIGHTS`;
- each of those with the class prior divided out to a power of :data:`PRIOR_POWERS` (large
  classes swallow small ones less).

The criterion is title-only macro-F1. A candidate may be served only if its title-only ECE is at
most :data:`MAX_ECE_TITLE_ONLY` and the auto-accept rule still holds: the threshold chosen on its
own out-of-fold confidences accepts at least the booster's share of title-only rows minus
:data:`MAX_COVERAGE_LOSS`. The booster alone is the default. Every candidate's figures are
returned for the run's log. By construction the served decision is at least the best single
scorer it was chosen among, out of fold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import mlflow
import numpy as np

from pyfunc_model.title_decision import TitleDecision
from training.calibration import fit_temperature
from training.evaluate import expected_calibration_error, macro_f1
from training.review_threshold import ReviewStats, choose_threshold

#: Weight of the title scorer in the blend (0: the booster alone; 1: the title scorer alone).
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: Powers of the class prior divided out of the probabilities (0: none).
PRIOR_POWERS = (0.0, 0.5, 1.0)
#: Calibration a served candidate must keep (top-label ECE, title-only out-of-fold rows).
MAX_ECE_TITLE_ONLY = 0.03
#: Auto-accepted share of title-only rows a candidate may give up against the booster alone.
MAX_COVERAGE_LOSS = 0.05
#: Search range of the title scorer's temperature: LinearSVC margins span about -1.5..1.5, so
#: the fitted T is far below the booster's (about 0.1 on amazon_in, against a lower bound of 0.25 there).
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


def choose_title_decision(
    held_proba: np.ndarray,
    held_margins: np.ndarray,
    held_y: np.ndarray,
    held_title_only: np.ndarray,
    held_unknown: np.ndarray,
    valid_margins: np.ndarray,
    valid_y: np.ndarray,
    class_prior: np.ndarray,
) -> TitleChoice:
    """Score every candidate on the held (out-of-fold) rows; return the best eligible one.

    ``held_*``: the booster's calibrated out-of-fold probabilities, the title scorer's
    cross-fitted margins, label indices, the title-only copies, the rows without a known
    sub-category (where the decision applies). ``valid_*``: the title scorer's margins and labels
    of the validation rows without a known sub-category, where its temperature is fitted, as the
    booster's is. ``class_prior``: class shares of the training rows.
    """
    temperature = fit_temperature(valid_margins, valid_y, SCORER_TEMPERATURE_BOUNDS) if len(valid_y) else 1.0
    log_prior = np.log(np.clip(class_prior, 1e-6, None))
    t = np.asarray(held_title_only, dtype=bool)
    decisions, candidates = {}, []
    for power in PRIOR_POWERS:
        for weight in BLEND_WEIGHTS:
            offsets = tuple(float(v) for v in -power * (log_prior - log_prior.mean())) if power else ()
            decision = TitleDecision(weight, temperature, offsets)
            proba = decision.apply(held_proba, held_margins, held_unknown)[t]
            confidence, correct = proba.max(axis=1), proba.argmax(axis=1) == held_y[t]
            threshold = choose_threshold(confidence, correct)
            name = _name(weight, power)
            decisions[name] = decision
            candidates.append(
                Candidate(
                    name,
                    weight,
                    power,
                    macro_f1(held_y[t], proba.argmax(axis=1)),
                    expected_calibration_error(proba, held_y[t]),
                    threshold,
                    ReviewStats.at(threshold, confidence, correct).coverage,
                )
            )
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
