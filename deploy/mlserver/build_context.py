"""Write MLServer's build context: ``python deploy/mlserver/build_context.py [--model-uri URI] [--output DIR]``.

The folder holds everything ``mlserver start DIR`` needs (``settings.json``, ``model-settings.json``,
``runtime.py``, the model under ``model/``) plus ``requirements.txt`` and the ``Dockerfile`` that
turns it into the image KServe runs (``kserve-inferenceservice.yaml``). No Docker engine is needed
to write it; the tests start MLServer on the same folder. ``--output`` is replaced on every run.

The model is fetched with the current environment's ``MLFLOW_TRACKING_URI`` (and S3 settings).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL_URI = "models:/product-classifier@champion"
DEFAULT_OUTPUT = HERE / "build"
#: Files of this folder copied as they are; the model goes to ``MODEL_DIR`` (model-settings.json's uri).
CONTEXT_FILES = ("settings.json", "model-settings.json", "runtime.py", "requirements.txt", "Dockerfile")
MODEL_DIR = "model"


def write_context(model_uri: str, output: Path) -> Path:
    """Replace ``output`` with a fresh build context for ``model_uri``; returns ``output``."""
    import mlflow

    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    for name in CONTEXT_FILES:
        shutil.copy2(HERE / name, output / name)
    mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(output / MODEL_DIR))
    if not (output / MODEL_DIR / "MLmodel").is_file():
        raise RuntimeError(f"{model_uri} has no MLmodel file: is it an MLflow model?")
    return output


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", default=DEFAULT_MODEL_URI)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    print(write_context(args.model_uri, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
