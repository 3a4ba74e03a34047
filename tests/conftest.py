"""Test-suite wide plugins. Real-service fixtures (PostgreSQL, S3, mlflow server) live in tests/stack/."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tests.stack` must import the same way from every folder
    sys.path.insert(0, str(ROOT))

pytest_plugins = ["tests.stack.fixtures"]
