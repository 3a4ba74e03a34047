"""Deployment settings of inference capture, read from environment variables when the model loads.

Capture is off unless ``PRODUCT_CLASSIFIER_CAPTURE_URI`` is set: a folder or ``s3://bucket/prefix``.
Like the drift settings they belong to a deployment, never to a request, and a bad value fails the
model load with a message naming the variable (a server that silently captures nothing, or
captures a column it was told to drop, is worse than one that does not start).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from features.schema import INPUT_COLUMNS

ENV_URI = "PRODUCT_CLASSIFIER_CAPTURE_URI"
ENV_SAMPLE = "PRODUCT_CLASSIFIER_CAPTURE_SAMPLE"
ENV_DROP = "PRODUCT_CLASSIFIER_CAPTURE_DROP_COLUMNS"
ENV_HASH = "PRODUCT_CLASSIFIER_CAPTURE_HASH_COLUMNS"
ENV_HASH_SALT = "PRODUCT_CLASSIFIER_CAPTURE_HASH_SALT"
ENV_BUFFER_ROWS = "PRODUCT_CLASSIFIER_CAPTURE_BUFFER_ROWS"
ENV_FLUSH_SECONDS = "PRODUCT_CLASSIFIER_CAPTURE_FLUSH_SECONDS"
#: S3 endpoint for the capture; unset, the one MLflow's own S3 artifacts use, then boto3's default.
ENV_S3_ENDPOINT = "PRODUCT_CLASSIFIER_CAPTURE_S3_ENDPOINT_URL"
MLFLOW_S3_ENDPOINT = "MLFLOW_S3_ENDPOINT_URL"
BUFFER_ROWS_RANGE = (100, 10_000_000)
FLUSH_SECONDS_RANGE = (0.05, 3600.0)


@dataclass(frozen=True)
class CaptureSettings:
    """``uri``: where Parquet files go. ``sample``: share of requests captured (whole requests).
    ``drop`` / ``hash``: input columns left out / replaced by a salted SHA-256.
    ``buffer_rows``: rows held in memory at most; beyond, rows are dropped and counted.
    ``flush_seconds``: how often the background writer writes what the buffer holds.
    """

    uri: str
    sample: float = 1.0
    drop: tuple[str, ...] = ()
    hash: tuple[str, ...] = ()
    hash_salt: str = ""
    buffer_rows: int = 50_000
    flush_seconds: float = 10.0
    s3_endpoint: str | None = None

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CaptureSettings | None:
        """The settings, or None when capture is off (no URI). ValueError names the bad variable."""
        env = os.environ if environ is None else environ
        uri = env.get(ENV_URI, "").strip()
        if not uri:
            return None
        drop, hashed = _columns(env, ENV_DROP), _columns(env, ENV_HASH)
        both = sorted(set(drop) & set(hashed))
        if both:
            raise ValueError(f"{ENV_HASH} and {ENV_DROP} both name {both}: a column is either dropped or hashed")
        return cls(
            uri=_check_uri(uri),
            sample=_number(env, ENV_SAMPLE, float, 1.0, (1e-6, 1.0)),
            drop=drop,
            hash=hashed,
            hash_salt=env.get(ENV_HASH_SALT, ""),
            buffer_rows=_number(env, ENV_BUFFER_ROWS, int, cls.buffer_rows, BUFFER_ROWS_RANGE),
            flush_seconds=_number(env, ENV_FLUSH_SECONDS, float, cls.flush_seconds, FLUSH_SECONDS_RANGE),
            s3_endpoint=(env.get(ENV_S3_ENDPOINT) or env.get(MLFLOW_S3_ENDPOINT) or "").strip() or None,
        )


def _check_uri(uri: str) -> str:
    if uri.startswith("s3://"):
        bucket = uri.removeprefix("s3://").split("/", 1)[0]
        if not bucket:
            raise ValueError(f"{ENV_URI} must be a folder or s3://bucket/prefix, got {uri!r} (no bucket)")
        return uri.rstrip("/")
    if "://" in uri and not uri.startswith("file://"):
        raise ValueError(f"{ENV_URI} must be a folder or s3://bucket/prefix, got {uri!r}")
    folder = Path(uri.removeprefix("file://")).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{ENV_URI}: cannot create the capture folder {str(folder)!r}: {exc.strerror}") from exc
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{ENV_URI}: the capture folder {str(folder)!r} is not writable")
    return str(folder.resolve())


def _columns(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    names = tuple(c.strip() for c in env.get(name, "").split(",") if c.strip())
    unknown = sorted(set(names) - set(INPUT_COLUMNS))
    if unknown:
        raise ValueError(f"{name} names unknown input columns {unknown}; input columns are {list(INPUT_COLUMNS)}")
    return names


def _number(env: Mapping[str, str], name: str, kind: type, default: float, bounds: tuple[float, float]) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError as exc:
        raise ValueError(f"{name} must be a{'n integer' if kind is int else ' number'}, got {text!r}") from exc
    lo, hi = bounds
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {text!r}")
    return value
