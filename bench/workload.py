"""What the benches score and what they compare against, said once for all three benches.

- :func:`distinct_title_batch`: ``n`` rows whose titles are ALL different, as a catalogue sends
  them. The real data has ~9,700 distinct titles; beyond that, row ``i`` takes distinct title
  ``i % P`` and, from the second lap on, the suffix ``" v<lap>"`` (``"... Smart TV v2"``): a model
  variant token, so every row is a new title for the n-gram and drift code while the rest of the
  row stays real. Deterministic (a fixed shuffle of the distinct rows).
- :func:`repeated_title_batch`: ``n`` rows drawn with replacement (titles repeat, as when many
  sellers list one product); the old bench's only workload, kept to show the difference.
- :func:`save_constant_model`: the in-process / REST floor. ``shape="same"`` returns our eight
  output columns with every class in ``probabilities`` (MLflow's input enforcement and output
  conversion cost the same as for the champion); ``shape="minimal"`` returns one string column
  (what MLflow itself costs for the smallest answer). Both are logged with the champion's
  signature inputs, so input parsing and schema enforcement are the same as the champion's.

Importing this module turns off the model's per-title cache (``PRODUCT_CLASSIFIER_TITLE_CACHE=0``)
for every model a bench loads or serves, unless the caller set it: timing loops send the same
payloads again, which the cache would answer from memory, and the benches measure titles the
model has not seen. ``bench/drift_cost.py`` measures the cache itself.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from pyfunc_model.drift.signals.price_given_title import ENV_TITLE_CACHE

os.environ.setdefault(ENV_TITLE_CACHE, "0")  # see the module docstring

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "amazon_in_products.csv"
DEFAULT_MODEL_URI = "models:/product-classifier@champion"

CONSTANT_MODEL = textwrap.dedent('''
    """Constant-output pyfunc: MLflow's own cost for an answer of our shape (or the smallest one)."""
    import mlflow
    import numpy as np
    import pandas as pd

    CLASSES = __CLASSES__
    MINIMAL = __MINIMAL__


    class Constant(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            n = len(model_input)
            if MINIMAL:
                return pd.DataFrame({"category": np.full(n, CLASSES[0], dtype=object)})
            share = 1.0 / len(CLASSES)
            probabilities = np.empty(n, dtype=object)
            probabilities[:] = [{c: share for c in CLASSES} for _ in range(n)]
            return pd.DataFrame({
                "category": np.full(n, CLASSES[0], dtype=object), "confidence": np.full(n, share),
                "probabilities": probabilities, "model_used": np.full(n, "primary", dtype=object),
                "fallback_reason": np.full(n, "", dtype=object), "drift_detected": np.zeros(n, dtype=bool),
                "drift_score": np.zeros(n), "ood_reasons": np.full(n, "", dtype=object),
            })


    mlflow.models.set_model(Constant())
''')


def distinct_pool(frame: pd.DataFrame) -> pd.DataFrame:
    """One real row per distinct title, in a fixed shuffled order."""
    return frame.drop_duplicates("title").sample(frac=1.0, random_state=0).reset_index(drop=True)


def distinct_title_batch(pool: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` rows with ``n`` distinct titles (variant suffix " v<lap>" beyond the pool, see module doc)."""
    idx = np.arange(n) % len(pool)
    batch = pool.iloc[idx].reset_index(drop=True)
    lap = np.arange(n) // len(pool)
    if lap.max(initial=0) > 0:
        titles = batch["title"].to_numpy(dtype=object).copy()
        titles[lap > 0] = [f"{t} v{k + 1}" for t, k in zip(titles[lap > 0], lap[lap > 0], strict=True)]
        batch["title"] = pd.Series(titles, dtype=object)
    return batch


def repeated_title_batch(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` rows drawn with replacement (titles repeat)."""
    return frame.sample(n, replace=True, random_state=n).reset_index(drop=True)


def save_constant_model(model_uri: str, workdir: Path, shape: str = "same") -> Path:
    """Save a constant pyfunc with the champion's signature inputs and class list (``shape``: same | minimal)."""
    import mlflow
    from mlflow.models import ModelSignature

    signature = mlflow.models.get_model_info(model_uri).signature
    classes = [str(c) for c in mlflow.pyfunc.load_model(model_uri).unwrap_python_model().classes]
    minimal = shape == "minimal"
    if minimal:
        from mlflow.types.schema import ColSpec, Schema

        signature = ModelSignature(signature.inputs, Schema([ColSpec("string", "category")]), signature.params)
    code = workdir / f"constant_{shape}.py"
    code.write_text(CONSTANT_MODEL.replace("__CLASSES__", repr(classes)).replace("__MINIMAL__", repr(minimal)))
    path = workdir / f"constant_{shape}"
    mlflow.pyfunc.save_model(str(path), python_model=str(code), signature=signature)
    return path
