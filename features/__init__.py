"""Feature code shared by training and serving: one source of truth for every model input.

Training fits these transformers; the fitted objects travel inside the MLflow artifact and the
serving model calls the very same ``transform`` methods, so train/serve skew cannot creep in.
"""

from features.hashing import BrandPriceCross, HashingEncoder, hash_buckets
from features.numeric import NumericFeatures
from features.pipeline import ProductFeatures
from features.schema import (
    CATEGORICAL_FIELDS,
    INPUT_COLUMNS,
    LABEL,
    NUMERIC_FIELDS,
    OPTIONAL_FIELDS,
    TITLE,
    CleanInput,
    clean_input,
    parse_number,
)
from features.text import derive_brand, normalize_title
from features.title import TitleStats, TitleTextScorer

__all__ = [
    "CATEGORICAL_FIELDS",
    "INPUT_COLUMNS",
    "LABEL",
    "NUMERIC_FIELDS",
    "OPTIONAL_FIELDS",
    "TITLE",
    "BrandPriceCross",
    "CleanInput",
    "HashingEncoder",
    "NumericFeatures",
    "ProductFeatures",
    "TitleStats",
    "TitleTextScorer",
    "clean_input",
    "derive_brand",
    "hash_buckets",
    "normalize_title",
    "parse_number",
]
