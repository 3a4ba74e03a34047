"""MLServer's own venv, built once per pinned requirements file and shared by test runs.

MLServer pins fastapi and uvloop differently from the project, so it lives apart, as it would in
its container. The venv sits in ``~/.cache/product-classifier/mlserver-<hash>`` (the hash of
``deploy/mlserver/requirements.txt``: a changed pin builds a new one); a file lock keeps two
test processes from building it at once, and ``.installed`` is written only after pip succeeded.
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "deploy" / "mlserver" / "requirements.txt"
CACHE = Path.home() / ".cache" / "product-classifier"
MARKER = ".installed"


def venv_dir(requirements: Path = REQUIREMENTS) -> Path:
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    return CACHE / f"mlserver-{digest}"


def ensure_mlserver_venv(requirements: Path = REQUIREMENTS, timeout: float = 1800.0) -> Path:
    """The venv's folder, with MLServer installed from ``requirements`` (built now if missing)."""
    venv = venv_dir(requirements)
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / MARKER).exists():
            return venv
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=120)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(requirements)], check=True, timeout=timeout)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "check"], check=True, timeout=120)
        seconds = time.monotonic() - started
        (venv / MARKER).write_text(f"installed from {requirements} in {seconds:.0f}s\n")
    return venv


if __name__ == "__main__":
    print(ensure_mlserver_venv())
