"""``DriftReference``: training-time statistics stored in the artifact as plain JSON (read only here).

No pickled objects: the reference is lists, floats and base64 arrays, so it can be read by any
process (serving, Spark, the drift report) and diffed between model versions. It is BUILT in
training (``training.drift_reference``); serving only reads it, and refuses a schema version it
does not know rather than misreading it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pyfunc_model.drift.signals.price_given_title import PriceLookup
from pyfunc_model.drift.sketch import NumericSketch, decode_bitmap
from pyfunc_model.drift.specs import CATEGORICAL
from pyfunc_model.drift.summary import Lookups

SCHEMA_VERSION = 2
CATEGORICAL_LEVELS = (2, 4, 8, 16, 32, 64)
TEXT_LEVELS = (16, 64, 256)
#: Fields whose training coverage is below this are not monitored (the model cannot rely on them).
MIN_PRESENT_SHARE = 0.01

#: Statistical settings stored with the reference (the false-alarm budget is a deployment
#: setting: see :mod:`pyfunc_model.drift.settings`).
DEFAULT_SETTINGS: dict[str, float] = {
    "large_n": 1000,  # above this many rows: the calibrated tests on a sample of this many rows
    "numeric_distance": 0.1,  # normalised Wasserstein threshold (large samples)
    "categorical_distance": 0.1,  # Jensen-Shannon distance threshold (large samples)
    "share_margin": 0.05,  # large samples: a share may exceed its expectation by this much
    "small_share_floor": 0.005,  # small samples: expected shares below this count as this
    "confidence_margin": 0.05,  # tolerated drop of the mean max-probability
    "low_confidence_quantile": 0.2,  # validation quantile defining "low confidence"
    "price_far_factor": 5.0,  # OOD when price > factor x p99.9 or < p0.1 / factor
    "garbled_letter_share": 0.3,  # garbled title when fewer letters than this among visible chars
    "no_known_words_oov_rate": 0.75,  # title with no known words when at least this share is unseen
    "foreign_script_share": 0.5,  # foreign-script title when this share of letters is non-Latin
    "brand_as_sent": 0.0,  # 1.0: the reference's brands are the training data's own (drift.profiles)
    "bucket_rows_per_cell": 3.0,  # small samples: a categorical chi-square gets >= this many rows per bucket
}
#: What a reference built before a setting existed was calibrated with (read when it lacks the key).
LEGACY_SETTINGS: dict[str, float] = {"bucket_rows_per_cell": 6.0}


@dataclass
class CategoricalRef:
    """Seen-set bitmap, coverage, out-of-fold unseen share and coarse bucket shares."""

    n_bits: int
    seen: str
    present_share: float
    expected_unseen_share: float
    coarse: dict[str, list[float]]


@dataclass
class TextRef:
    """Token vocabulary bitmap and the row-level token-bucket statistics per histogram width."""

    n_features: int
    seen: str
    expected_oov_rate: float
    pooled: list[float]
    levels: dict[str, dict[str, Any]]


@dataclass
class ConfidenceRef:
    """Validation max-probabilities and, if labels were given, a reliability curve for CBPE."""

    sketch: NumericSketch
    low_threshold: float
    low_share: float
    calib_conf: list[float] = field(default_factory=list)
    calib_acc: list[float] = field(default_factory=list)
    val_accuracy: float | None = None
    #: validation rows per predicted class, in the model's class order (None: not stored, as in
    #: artifacts built before the predicted category mix was tested)
    predicted_counts: list[float] | None = None


@dataclass
class DriftReference:
    """Everything the monitor and the OOD rules need, built once from training data.

    ``calibration``: per sample-size class, the null distribution of every test's normal score
    on held-out reference chunks (location ``a`` and scale ``b``) and the upper tail of the
    per-chunk maximum, from which the decision threshold for any false-alarm budget is read
    (see ``checks.Calibration``). ``deployment``: window size, false-alarm budget and window
    rerouting as fixed when the model was logged (overridable by environment variables).
    """

    n_rows: int
    numeric: dict[str, NumericSketch]
    shares: dict[str, float]
    categorical: dict[str, CategoricalRef]
    text: TextRef
    confidence: ConfidenceRef
    #: the price-given-title model's state (``drift.signals.price_given_title``)
    price_model: dict[str, Any]
    price_range: list[float]
    settings: dict[str, float]
    calibration: dict[str, Any]
    deployment: dict[str, Any]
    class_prior: dict[str, float] | None = None
    #: confidence references of the input profiles other than full rows (``drift.profiles``);
    #: absent in artifacts built before profiles existed, which still load
    confidence_profiles: dict[str, ConfidenceRef] = field(default_factory=dict)
    #: state of each fitted signal (``drift.signals``), by name; absent in older artifacts
    fitted: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: int = SCHEMA_VERSION
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the decoded cache is left out)."""
        out = dataclasses.asdict(self)
        out.pop("_cache")
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DriftReference:
        if int(d.get("version", 0)) != SCHEMA_VERSION:
            raise ValueError(
                f"unsupported DriftReference version {d.get('version')!r}, expected {SCHEMA_VERSION}: "
                "re-train the model with this code version"
            )

        def confidence_ref(c: dict[str, Any]) -> ConfidenceRef:
            return ConfidenceRef(**{**c, "sketch": NumericSketch(**c["sketch"])})

        return cls(
            n_rows=int(d["n_rows"]),
            numeric={k: NumericSketch(**v) for k, v in d["numeric"].items()},
            shares={k: float(v) for k, v in d["shares"].items()},
            categorical={k: CategoricalRef(**v) for k, v in d["categorical"].items()},
            text=TextRef(**d["text"]),
            confidence=confidence_ref(d["confidence"]),
            price_model=dict(d["price_model"]),
            price_range=list(d["price_range"]),
            settings={**DEFAULT_SETTINGS, **LEGACY_SETTINGS, **d.get("settings", {})},
            calibration=dict(d["calibration"]),
            deployment=dict(d["deployment"]),
            class_prior=d.get("class_prior"),
            confidence_profiles={k: confidence_ref(v) for k, v in (d.get("confidence_profiles") or {}).items()},
            fitted=dict(d.get("fitted") or {}),
        )

    def monitored(self, field_name: str) -> bool:
        """True when training data had this categorical field often enough to judge it."""
        return self.categorical[field_name].present_share >= MIN_PRESENT_SHARE

    def seen_mask(self, field_name: str) -> np.ndarray | None:
        if not self.monitored(field_name):
            return None
        key = f"seen:{field_name}"
        if key not in self._cache:
            ref = self.categorical[field_name]
            self._cache[key] = decode_bitmap(ref.seen, ref.n_bits)
        return self._cache[key]

    def token_seen_mask(self) -> np.ndarray:
        if "tokens" not in self._cache:
            self._cache["tokens"] = decode_bitmap(self.text.seen, self.text.n_features)
        return self._cache["tokens"]

    def lookups(self) -> Lookups:
        """Seen sets and price model decoded once per process."""
        if "lookups" not in self._cache:
            self._cache["lookups"] = Lookups(
                n_bits={f: self.categorical[f].n_bits for f in CATEGORICAL},
                seen={f: self.seen_mask(f) for f in CATEGORICAL},
                token_seen=self.token_seen_mask(),
                price=PriceLookup.from_state(self.price_model),
                fitted=self.fitted,
            )
        return self._cache["lookups"]

    def text_level(self, k: int) -> dict[str, np.ndarray | float]:
        key = f"text:{k}"
        if key not in self._cache:
            lv = self.text.levels[str(k)]
            self._cache[key] = {
                "mean": np.asarray(lv["mean"]),
                "var": np.asarray(lv["var"]),
                "scale": float(lv["scale"]),
                "dof": float(lv["dof"]),
            }
        return self._cache[key]
