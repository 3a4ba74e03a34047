"""Registry tests: shared training runs on the stack, and how long each child command took (~6 min budget)."""

from __future__ import annotations

import pytest

from tests.stack.clients import TIMINGS, train_many
from tests.stack.servers import Stack


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TIMINGS:
        return
    totals: dict[str, list[float]] = {}
    for command, seconds in TIMINGS:
        totals.setdefault(command, []).append(seconds)
    terminalreporter.section("registry child processes (count, total s, max s)")
    for key, values in sorted(totals.items(), key=lambda kv: -sum(kv[1])):
        terminalreporter.write_line(f"{key[-40:]:<40} {len(values):>3} {sum(values):>8.1f} {max(values):>7.1f}")


@pytest.fixture(scope="session")
def stack_runs(mlflow_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Two real training runs logged through the production stack (shared: training is the slow part)."""
    run_a, run_b = train_many(mlflow_stack.env(), tmp_path_factory.mktemp("stack-train"), seeds=[1, 2])
    return run_a, run_b
