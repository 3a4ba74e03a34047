"""Load product listings from CSV or Parquet into the canonical columns, and split them.

Knows the two real files in ``../shared/data`` (see PROVENANCE.md there) and any file that
already has the canonical columns ``title, seller_id, brand, subcategory, price, rating,
reviews_count, category``. Number parsing is the serving code's own (:func:`parse_number`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from features.schema import INPUT_COLUMNS, LABEL, NUMERIC_FIELDS, parse_number
from features.subsample import capped_groups
from features.text import normalize_title
from pyfunc_model.capture.rows import REVIEW_LABEL
from training.columns import apply_columns

PRICERUNNER_COLUMNS = [
    "product_id",
    "product_title",
    "merchant_id",
    "cluster_id",
    "cluster_label",
    "category_id",
    "category_label",
]
AMAZON_MAP = {
    "name": "title",
    "sub_category": "subcategory",
    "main_category": LABEL,
    "ratings": "rating",
    "no_of_ratings": "reviews_count",
}


class DataFormatError(ValueError):
    """The file's columns match neither a known source nor the canonical layout."""


@dataclass(frozen=True)
class Fingerprint:
    """Where training data came from: enough to find and verify it again."""

    path: str
    sha256: str
    rows: int


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_raw(path: Path) -> pd.DataFrame:
    if path.suffix.lower() in {".parquet", ".pq"}:
        return pd.read_parquet(path)
    head = pd.read_csv(path, nrows=1, header=None, dtype=str)
    first = [str(v) for v in head.iloc[0].tolist()]
    if len(first) == len(PRICERUNNER_COLUMNS) and first[0].strip().isdigit():
        return pd.read_csv(path, header=None, names=PRICERUNNER_COLUMNS, dtype=str, keep_default_na=True)
    return pd.read_csv(path, dtype=str)


def to_canonical(raw: pd.DataFrame, columns: Mapping[str, str] | None = None, source: str = "the data") -> pd.DataFrame:
    """Map a known raw layout, or the user's ``columns`` mapping, to the canonical columns (label included)."""
    raw = apply_columns(raw, columns or {}, source)
    cols = set(raw.columns)
    if {"name", "main_category", "sub_category"} <= cols:
        frame = raw.rename(columns=AMAZON_MAP)
        # actual_price is the list price; discount_price fills the gaps.
        frame["price"] = parse_number(frame["actual_price"]).fillna(parse_number(frame["discount_price"]))
    elif {"product_title", "merchant_id", "category_label"} <= cols:
        frame = pd.DataFrame(
            {
                "title": raw["product_title"],
                "seller_id": raw["merchant_id"],
                "brand": raw["cluster_label"].astype(str).str.split(n=1).str[0],
                LABEL: raw["category_label"],
            }
        )
    elif {"title", LABEL} <= cols:
        frame = raw.copy()
    elif {"title", REVIEW_LABEL} <= cols:  # a labelled review export: the reviewers' label is the category
        frame = raw.rename(columns={REVIEW_LABEL: LABEL})
    else:
        raise DataFormatError(
            "unrecognised columns "
            f"{sorted(cols)}: expected the canonical columns {list(INPUT_COLUMNS) + [LABEL]} "
            "(title and category required) or a known source layout"
        )
    for col in INPUT_COLUMNS:
        if col not in frame.columns:
            frame[col] = np.nan
    for col in NUMERIC_FIELDS:
        frame[col] = parse_number(frame[col])
    frame = frame[list(INPUT_COLUMNS) + [LABEL]]
    frame = frame[frame["title"].notna() & frame[LABEL].notna()]
    frame[LABEL] = frame[LABEL].astype(str).str.strip()
    frame = frame[frame[LABEL] != ""]
    return frame.reset_index(drop=True)


def load_products(path: str | Path, columns: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, Fingerprint]:
    """Read a CSV/Parquet file of product listings as canonical columns plus its fingerprint."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data file not found: {path}")
    frame = to_canonical(_read_raw(path), columns, str(path))
    if frame.empty:
        raise DataFormatError(f"{path} has no rows with both a title and a category")
    return frame, Fingerprint(str(path.resolve()), file_sha256(path), len(frame))


def title_group_split(frame: pd.DataFrame, test_size: float = 0.2, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split so that all listings sharing a normalised title land on the same side."""
    groups = normalize_title(frame["title"]).to_numpy()
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    train_idx, test_idx = next(splitter.split(frame, groups=groups))
    return frame.iloc[train_idx].reset_index(drop=True), frame.iloc[test_idx].reset_index(drop=True)


def title_only(frame: pd.DataFrame) -> pd.DataFrame:
    """The same rows with subcategory, brand and seller removed (the title-only task)."""
    out = frame.copy()
    out[["subcategory", "brand", "seller_id"]] = None
    return out


def title_grouped_subset(frame: pd.DataFrame, max_rows: int | None, seed: int = 0) -> pd.DataFrame:
    """At most ``max_rows`` rows, whole title groups drawn at random; the frame itself when it fits.

    For training stages that need no more rows than that (see :mod:`features.subsample`).
    """
    keep = capped_groups(normalize_title(frame["title"]).to_numpy(), max_rows, seed)
    return frame if keep is None else frame[keep].reset_index(drop=True)
