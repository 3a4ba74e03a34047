"""Run the project's real entry points as subprocesses against a given tracking URI (no mocks).

Used by tests that need a trained model or a registry command on a specific stack; the child gets
the venv's bin first on PATH and the repository on PYTHONPATH, so it behaves like a user's shell.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.stack.servers import venv_env

ROOT = Path(__file__).resolve().parents[2]
#: (command, seconds) of every child run in this process, for timing reports (see tests/registry).
TIMINGS: list[tuple[str, float]] = []
DEFAULT_SYNTHETIC_ROWS = 600  # ~10 s to train on 2 idle cores; the trainer's default 3000 takes ~40 s


@dataclass
class Result:
    """Exit code and captured output of one command, with the command line for failure messages."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float = 0.0

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.args)}\nexit {self.returncode} after {self.seconds:.1f}s\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    merged = venv_env(env)
    merged["PYTHONPATH"] = f"{ROOT}:{merged['PYTHONPATH']}" if merged.get("PYTHONPATH") else str(ROOT)
    return merged


def run_python(args: list[str], env: Mapping[str, str], cwd: Path, timeout: float = 300) -> Result:
    """``python <args>`` with the venv's interpreter; ``env`` replaces os.environ (see child_env)."""
    cmd = [sys.executable, *args]
    start = time.monotonic()
    proc = subprocess.run(
        cmd, env=child_env(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    result = Result(cmd, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)
    label = " ".join(args[1:3]) if args[:2] == ["-m", "registry_scripts"] else " ".join(args[:2])
    TIMINGS.append((label, result.seconds))
    return result


def registry(args: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 300) -> Result:
    """``python -m registry_scripts <args>``."""
    return run_python(["-m", "registry_scripts", *args], env, cwd, timeout)


def train(
    env: Mapping[str, str], cwd: Path, seed: int = 42, rows: int = DEFAULT_SYNTHETIC_ROWS, extra: Sequence[str] = ()
) -> str:
    """Train on synthetic data with ``python -m training.train``; returns the run id it prints."""
    return train_many(env, cwd, [seed], rows, extra)[0]


def train_many(
    env: Mapping[str, str],
    cwd: Path,
    seeds: Sequence[int],
    rows: int = DEFAULT_SYNTHETIC_ROWS,
    extra: Sequence[str] = (),
) -> list[str]:
    """Several trainings at once (their imports and I/O overlap); run ids in the order of ``seeds``."""
    args = [
        ["-m", "training.train", "--data", "synthetic", "--synthetic-rows", str(rows), "--seed", str(seed), *extra]
        for seed in seeds
    ]
    with ThreadPoolExecutor(max_workers=len(args)) as pool:
        results = list(pool.map(lambda a: run_python(a, env, cwd, timeout=600), args))
    run_ids = []
    for result in results:
        match = re.search(r"^run_id=(\w+)$", result.stdout, re.MULTILINE)
        if result.returncode != 0 or not match:
            raise AssertionError(f"training failed:\n{result.describe()}")
        run_ids.append(match.group(1))
    return run_ids


def ok(result: Result) -> Result:
    """``result`` of a command that succeeded without a FutureWarning (else the assertion shows its output)."""
    assert result.returncode == 0, result.describe()
    assert "FutureWarning" not in result.stderr, result.describe()
    return result


def alias_version(client: Any, name: str, alias: str) -> str:
    """The version number ``name@alias`` points at."""
    return str(client.get_model_version_by_alias(name, alias).version)
