"""Arrays as JSON strings (base64, optionally zlib-compressed): how the reference stores them."""

from __future__ import annotations

import base64
import zlib

import numpy as np


def encode_array(values: np.ndarray, dtype: str, compress: bool = False) -> str:
    raw = np.ascontiguousarray(values, dtype=dtype).tobytes()
    return base64.b64encode(zlib.compress(raw, 6) if compress else raw).decode("ascii")


def decode_array(text: str, dtype: str, compressed: bool = False) -> np.ndarray:
    raw = base64.b64decode(text.encode("ascii"))
    return np.frombuffer(zlib.decompress(raw) if compressed else raw, dtype=dtype)
