"""Generate the serving image's build context: ``python docker/generate_dockerfile.py [--model-uri URI]``.

``--output DIR`` (default ``docker/build``) is replaced on every run.

Runs ``mlflow models generate-dockerfile`` (so the image is exactly what MLflow would build) and adds
what MLflow leaves out: the runtime configuration for a remote tracking server and an S3 artifact
store, documented in the Dockerfile and in ``runtime.env.example`` (for ``docker run --env-file``).
Credentials are never baked into the image. No Docker engine is needed to generate or check it.

The model is fetched with the CURRENT environment's ``MLFLOW_TRACKING_URI`` (and, for S3 artifacts,
``MLFLOW_S3_ENDPOINT_URL`` and AWS credentials), then copied into the context as ``model_dir``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL_URI = "models:/product-classifier@champion"
DEFAULT_OUTPUT = HERE / "build"
MARKER = "# --- product-classifier runtime configuration ---"

#: Runtime variables the container understands: name -> (example value, what it is for).
RUNTIME_ENV: dict[str, tuple[str, str]] = {
    "MLFLOW_TRACKING_URI": ("http://mlflow.internal:5000", "tracking/registry server the model may log traces to"),
    "MLFLOW_S3_ENDPOINT_URL": ("http://minio.internal:9000", "S3-compatible artifact store endpoint (MinIO etc.)"),
    "AWS_ACCESS_KEY_ID": ("<access key id>", "credentials for the artifact store (pass at run time only)"),
    "AWS_SECRET_ACCESS_KEY": ("<secret access key>", "credentials for the artifact store (pass at run time only)"),
    "AWS_DEFAULT_REGION": ("us-east-1", "region for boto3 (any value works for MinIO)"),
    "MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT": ("60", "seconds before /invocations answers 504"),
}


def runtime_block() -> str:
    """Dockerfile lines that declare the runtime variables (comments + non-secret defaults only)."""
    lines = [MARKER, "# Pass at run time, e.g. `docker run --env-file runtime.env -p 8080:8080 product-classifier`:"]
    lines += [f"#   {name:<40} {why}" for name, (_, why) in RUNTIME_ENV.items()]
    lines += [
        "# Secrets (AWS_*) are deliberately NOT set here; an empty MLFLOW_TRACKING_URI would break MLflow,",
        "# so only the two harmless defaults are declared:",
        "ENV AWS_DEFAULT_REGION=us-east-1 MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT=60",
        "EXPOSE 8080",
    ]
    return "\n".join(lines) + "\n\n"


def add_runtime_config(dockerfile: Path) -> None:
    """Insert the runtime block just before ENTRYPOINT (idempotent)."""
    text = dockerfile.read_text()
    if MARKER in text:
        return
    match = re.search(r"^ENTRYPOINT ", text, flags=re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no ENTRYPOINT in {dockerfile}: has `mlflow models generate-dockerfile` changed?")
    dockerfile.write_text(text[: match.start()] + runtime_block() + text[match.start() :])


def write_env_example(output: Path) -> None:
    lines = ["# Copy to runtime.env, fill in, and `docker run --env-file runtime.env ...`. Do not commit secrets."]
    lines += [f"# {why}\n{name}={example}" for name, (example, why) in RUNTIME_ENV.items()]
    (output / "runtime.env.example").write_text("\n".join(lines) + "\n")


def generate(model_uri: str, output: Path) -> Path:
    """Fresh build context in ``output`` (replaced if present); returns the Dockerfile path."""
    if output.exists():
        shutil.rmtree(output)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    mlflow_cli = Path(sys.executable).parent / "mlflow"
    subprocess.run(
        [
            str(mlflow_cli),
            "models",
            "generate-dockerfile",
            "-m",
            model_uri,
            "-d",
            str(output),
            "--env-manager",
            "local",
        ],
        check=True,
        env=env,
    )
    dockerfile = output / "Dockerfile"
    add_runtime_config(dockerfile)
    write_env_example(output)
    return dockerfile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", default=DEFAULT_MODEL_URI)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="build context folder (replaced)")
    args = parser.parse_args(argv)
    dockerfile = generate(args.model_uri, args.output)
    print(f"wrote {dockerfile}; build with: docker build -t product-classifier {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
