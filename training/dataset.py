"""Training data past one machine's memory: a Parquet folder scanned in batches, a per-class sample kept.

A catalogue of 10^8 listings does not fit in memory, and the model does not need it: the learning
curve (``python -m training.learning_curve``) shows where macro-F1 stops rising with rows per
class. So training keeps, per category, the ``rows_per_class`` listings with the smallest
*sample key* and never holds more than that (plus one batch) in memory:

* the Parquet folder (any number of files, any size) is opened with ``pyarrow.dataset``; every
  file's footer is checked first (cheap), so a malformed file or a missing column fails before
  an hour of scanning, with the file named;
* only the canonical columns are read, ``batch_rows`` rows at a time;
* the sample key is a keyed hash of the normalised title: deterministic for a seed, independent
  of file order and batch size, and the same for duplicate titles (colour/size variants), so
  duplicates are kept or dropped together, as the title-grouped split expects.

Classes with fewer than ``min_rows_per_class`` rows in the WHOLE dataset are an error naming
them (a one-row class cannot be both trained on and evaluated; merge or drop it).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.schema import INPUT_COLUMNS, LABEL, TITLE
from features.text import normalize_title
from training.data import DataFormatError, Fingerprint, load_products, to_canonical

log = logging.getLogger("training.dataset")

#: Rows kept per category when sampling a large dataset (decided by the learning curve, docs/SCALE.md).
DEFAULT_ROWS_PER_CLASS = 5000
#: A class needs this many rows to reach both the training and the held-out split.
MIN_ROWS_PER_CLASS = 5
#: Rows per Arrow batch while scanning (memory per batch, not a quality setting).
DEFAULT_BATCH_ROWS = 65_536
#: Columns training reads; anything else in the files is never loaded.
CANONICAL_COLUMNS = (*INPUT_COLUMNS, LABEL)
REQUIRED_COLUMNS = (TITLE, LABEL)
_KEY = "_sample_key"


def sample_key(titles: pd.Series, seed: int) -> np.ndarray:
    """A uint64 per row from the normalised title and ``seed``: equal titles get equal keys."""
    hash_key = hashlib.sha256(str(seed).encode()).hexdigest()[:16]  # pandas wants 16 characters
    return pd.util.hash_pandas_object(normalize_title(titles), index=False, hash_key=hash_key).to_numpy()


def _keep_smallest(frame: pd.DataFrame, per_class: int) -> pd.DataFrame:
    """Per class, the rows of the title groups whose key ranks below ``per_class`` (whole groups kept)."""
    frame = frame.sort_values([LABEL, _KEY], kind="stable")
    rank = frame.groupby(LABEL, sort=False).cumcount()
    first_rank = rank.groupby([frame[LABEL], frame[_KEY]], sort=False).transform("min")
    return frame[first_rank.to_numpy() < per_class]


def stratified_sample(frame: pd.DataFrame, per_class: int, seed: int = 0) -> pd.DataFrame:
    """At most ``per_class`` rows of each category (more only to keep a duplicate-title group whole)."""
    keyed = frame.assign(**{_KEY: sample_key(frame[TITLE], seed)})
    return _keep_smallest(keyed, per_class).drop(columns=_KEY).reset_index(drop=True)


@dataclass(frozen=True)
class SampledDataset:
    """The per-class sample, where it came from, and the whole dataset's class counts."""

    frame: pd.DataFrame
    fingerprint: Fingerprint
    class_counts: pd.Series  # rows per category in the whole dataset
    files: int


def parquet_files(path: Path) -> list[Path]:
    """The Parquet files of a folder (recursively, sorted) or the one file given."""
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in {".parquet", ".pq"})
    if not files:
        raise DataFormatError(f"{path} holds no .parquet files")
    return files


def _check_files(files: list[Path]) -> list[str]:
    """Open every footer; name each unreadable file and each missing required column. Returns the
    canonical columns present in every file (absent optional columns are read as missing)."""
    import pyarrow.parquet as pq

    problems: list[str] = []
    present: set[str] | None = None
    for file in files:
        try:
            names = set(pq.read_schema(file).names)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            problems.append(f"{file}: not a readable Parquet file ({type(exc).__name__}: {exc})")
            continue
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            problems.append(f"{file}: missing required column(s) {missing} (has {sorted(names)})")
        present = names if present is None else present & names
    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise DataFormatError(f"{len(problems)} of {len(files)} Parquet files are unusable:\n  " + "\n  ".join(shown))
    return [c for c in CANONICAL_COLUMNS if c in (present or set())]


def _batches(files: list[Path], columns: list[str], batch_rows: int) -> Iterator[tuple[Path, pd.DataFrame]]:
    import pyarrow.parquet as pq

    for file in files:
        try:
            for batch in pq.ParquetFile(file).iter_batches(batch_size=batch_rows, columns=columns):
                yield file, batch.to_pandas()
        except Exception as exc:  # damaged data pages show up only while reading
            raise DataFormatError(f"{file}: failed while reading ({type(exc).__name__}: {exc})") from exc


def check_class_sizes(counts: pd.Series, minimum: int = MIN_ROWS_PER_CLASS) -> None:
    """Refuse classes too small to train and evaluate on, by name."""
    small = counts[counts < minimum].sort_values()
    if len(small):
        listed = ", ".join(f"{name!r} ({n} row{'s' if n != 1 else ''})" for name, n in small.items())
        raise DataFormatError(
            f"{len(small)} {LABEL}(s) have fewer than {minimum} rows: {listed}; merge or drop them before training"
        )


def _listing_sha256(files: list[Path]) -> str:
    """Fingerprint of the folder listing (name, size, mtime): hashing 10^8 rows' bytes would cost a full read."""
    digest = hashlib.sha256()
    for file in files:
        stat = file.stat()
        digest.update(f"{file.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def read_sample(
    path: str | Path,
    rows_per_class: int = DEFAULT_ROWS_PER_CLASS,
    seed: int = 0,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    min_rows_per_class: int = MIN_ROWS_PER_CLASS,
    columns: Mapping[str, str] | None = None,
) -> SampledDataset:
    """Scan a Parquet file or folder in batches and keep a title-keyed sample of ``rows_per_class`` per class.

    Memory: the sample (about ``classes x rows_per_class`` rows) plus one batch, whatever the dataset size.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data not found: {path}")
    if columns:
        raise DataFormatError(
            f"{path}: --columns applies to files read whole; a scanned Parquet dataset must use the canonical "
            "column names (rename them when writing it, or train on one file without --rows-per-class)"
        )
    files = parquet_files(path)
    columns = _check_files(files)
    counts: pd.Series = pd.Series(dtype="int64")
    kept = pd.DataFrame()
    rows = 0
    started = time.perf_counter()
    for file, raw in _batches(files, columns, batch_rows):
        batch = to_canonical(raw)
        rows += len(batch)
        counts = counts.add(batch[LABEL].value_counts(), fill_value=0)
        batch[_KEY] = sample_key(batch[TITLE], seed)
        kept = _keep_smallest(pd.concat([kept, batch], ignore_index=True) if len(kept) else batch, rows_per_class)
        if rows and rows % (batch_rows * 16) < len(batch):
            log.info("scanned %d rows (%s, %.0fs), kept %d", rows, file.name, time.perf_counter() - started, len(kept))
    if rows == 0:
        raise DataFormatError(f"{path} has no rows with both a {TITLE} and a {LABEL}")
    counts = counts.astype("int64")
    check_class_sizes(counts, min_rows_per_class)
    frame = kept.drop(columns=_KEY).reset_index(drop=True)
    log.info(
        "scanned %d rows in %d files (%.0fs): kept %d rows, at most %d per %s, %d classes",
        rows,
        len(files),
        time.perf_counter() - started,
        len(frame),
        rows_per_class,
        LABEL,
        len(counts),
    )
    fingerprint = Fingerprint(str(path.resolve()), _listing_sha256(files), rows)
    return SampledDataset(frame, fingerprint, counts, len(files))


def load_training_data(
    data: str | Path, rows_per_class: int | None = None, seed: int = 0, columns: Mapping[str, str] | None = None
) -> tuple[pd.DataFrame, Fingerprint]:
    """What ``training.train`` trains on: a Parquet folder is always scanned and sampled
    (``rows_per_class`` or :data:`DEFAULT_ROWS_PER_CLASS`); a single file is read whole and
    sampled only when ``rows_per_class`` is given. Class sizes are checked either way."""
    path = Path(data)
    if path.is_dir() or (rows_per_class and path.suffix.lower() in {".parquet", ".pq"}):
        sampled = read_sample(path, rows_per_class or DEFAULT_ROWS_PER_CLASS, seed, columns=columns)
        return sampled.frame, sampled.fingerprint
    frame, fingerprint = load_products(path, columns)
    check_class_sizes(frame[LABEL].value_counts())
    if rows_per_class:
        frame = stratified_sample(frame, rows_per_class, seed)
    return frame, fingerprint


def load_several(
    paths: list[str], rows_per_class: int | None = None, seed: int = 0, columns: Mapping[str, str] | None = None
) -> tuple[pd.DataFrame, Fingerprint]:
    """Several data files as one training set (the catalogue plus labelled review exports).

    Each file is read as :func:`load_training_data` reads it; class sizes are checked on the
    union, so a review file holding a handful of rows of a class is fine on its own.
    """
    frames, prints = [], []
    for data in paths:
        path = Path(data)
        if path.is_dir() or (rows_per_class and path.suffix.lower() in {".parquet", ".pq"}):
            sampled = read_sample(path, rows_per_class or DEFAULT_ROWS_PER_CLASS, seed, columns=columns)
            frame, fingerprint = sampled.frame, sampled.fingerprint
        else:
            frame, fingerprint = load_products(path, columns)
        frames.append(frame)
        prints.append(fingerprint)
    frame = pd.concat(frames, ignore_index=True)
    check_class_sizes(frame[LABEL].value_counts())
    digest = hashlib.sha256(" ".join(p.sha256 for p in prints).encode()).hexdigest()
    return frame, Fingerprint(" + ".join(p.path for p in prints), digest, len(frame))
