"""REST latency of the champion vs two constant-output pyfuncs served the same way, in ONE run.

Why ratios: absolute milliseconds depend on the machine; the ratio to a do-nothing pyfunc behind
the same `mlflow models serve` (same input signature, 1 worker, keep-alive) isolates what our
model adds. Two floors (``bench/workload.py``): ``minimal`` answers one string column (MLflow's
smallest possible cost: the targets are against it) and ``same`` answers our eight columns with
every class in ``probabilities`` (the part of the cost that is our output's JSON). Requests
alternate between the three servers so noise hits all equally.

    MLFLOW_TRACKING_URI=sqlite:///mlflow.db python bench/serve_latency.py [--model-uri URI] [--n 500]

Targets: against the minimal floor, 1-row p50 <= 1.3x, 1-row p99 <= 2x, 100-row p50 <= 2x.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from workload import save_constant_model  # noqa: E402

from tests.serving.model_fixtures import (  # noqa: E402  (server start/stop shared with the tests)
    ModelServer,
    TrainedModel,
    model_server,
    sample_products,
)


def bodies(rows: pd.DataFrame, size: int, count: int) -> list[bytes]:
    """``count`` distinct dataframe_split bodies of ``size`` rows each."""
    out = []
    for i in range(count):
        chunk = rows.iloc[(i * size) % len(rows) :][:size]
        if len(chunk) < size:
            chunk = rows.iloc[:size]
        out.append(json.dumps({"dataframe_split": json.loads(chunk.to_json(orient="split", index=False))}).encode())
    return out


def measure(servers: dict[str, ModelServer], payloads: list[bytes], n: int, warmup: int) -> dict[str, np.ndarray]:
    """Milliseconds per request, requests alternating between servers (the order flips every
    round, so neither server always runs right after the other)."""
    times: dict[str, list[float]] = {name: [] for name in servers}
    items = list(servers.items())
    for i in range(warmup + n):
        body = payloads[i % len(payloads)]
        for name, server in items if i % 2 == 0 else items[::-1]:
            start = time.perf_counter()
            resp = server.invoke(body)
            elapsed = (time.perf_counter() - start) * 1000
            if resp.status_code != 200:
                raise RuntimeError(f"{name}: HTTP {resp.status_code}: {resp.text[:500]}")
            if i >= warmup:
                times[name].append(elapsed)
    return {name: np.asarray(values) for name, values in times.items()}


def print_ratio_table(latency: dict[int, dict[str, np.ndarray]], with_: str, without: str, target: float) -> bool:
    """p50/p90/p99 of ``with_`` against ``without`` per request size; True when the 1-row p50 ratio
    is within ``target``."""
    print(f"{'rows':>5} {'pct':>4} {with_ + ' ms':>14} {without + ' ms':>14} {'ratio':>7} {'target':>8}")
    ok = True
    for size, times in latency.items():
        for pct in (50, 90, 99):
            a, b = np.percentile(times[with_], pct), np.percentile(times[without], pct)
            limit = target if (size, pct) == (1, 50) else None
            ok &= limit is None or a / b <= limit
            shown = f"<= {limit}" if limit else ""
            print(f"{size:>5} {'p' + str(pct):>4} {a:>14.2f} {b:>14.2f} {a / b:>7.3f} {shown:>8}")
    return ok


def main(argv: list[str] | None = None) -> int:
    import mlflow

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", default="models:/product-classifier@champion")
    parser.add_argument("--n", type=int, default=500, help="measured requests per size and server")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument(
        "--source",
        default="auto",
        choices=["auto", "real", "synthetic"],
        help="request rows: real amazon.in rows (auto, when present) or synthetic ones",
    )
    args = parser.parse_args(argv)

    rows = sample_products(5000, seed=123, source=args.source)
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        workdir = Path(tmp)
        floors = {shape: save_constant_model(args.model_uri, workdir, shape) for shape in ("minimal", "same")}
        env = TrainedModel(workdir, mlflow.get_tracking_uri(), "", "").env()
        results: dict[int, dict[str, np.ndarray]] = {}
        with (
            model_server(args.model_uri, env, workdir) as champion,
            model_server(str(floors["minimal"]), env, workdir) as minimal,
            model_server(str(floors["same"]), env, workdir) as same,
        ):
            servers = {"champion": champion, "minimal": minimal, "same": same}
            for size in (1, 100):
                results[size] = measure(servers, bodies(rows, size, 200), args.n, args.warmup)
            rss = {name: server.rss_bytes() / 2**20 for name, server in servers.items()}
            worker_rss = {name: server.worker_rss_bytes() / 2**20 for name, server in servers.items()}

    targets = {(1, 50): 1.3, (1, 99): 2.0, (100, 50): 2.0}
    print(f"\nmodel {args.model_uri}; {args.n} requests per cell after {args.warmup} warm-up, 1 worker, keep-alive")
    print(
        f"{'rows':>5} {'pct':>4} {'champion ms':>12} {'minimal ms':>11} {'same-shape ms':>14} "
        f"{'x minimal':>10} {'x same':>7} {'target':>7}"
    )
    ok = True
    for size, times in results.items():
        for pct in (50, 99):
            ms = {name: float(np.percentile(t, pct)) for name, t in times.items()}
            target = targets.get((size, pct))
            ratio = ms["champion"] / ms["minimal"]
            ok &= target is None or ratio <= target
            print(
                f"{size:>5} {'p' + str(pct):>4} {ms['champion']:>12.2f} {ms['minimal']:>11.2f} {ms['same']:>14.2f} "
                f"{ratio:>10.2f} {ms['champion'] / ms['same']:>7.2f} {'<= ' + str(target) if target else '':>7}"
            )
    print(
        "serving RSS per worker (uvicorn, target <= 300 MiB): "
        + ", ".join(f"{name} {mib:.0f} MiB" for name, mib in worker_rss.items())
    )
    print("serving RSS (process group): " + ", ".join(f"{name} {mib:.0f} MiB" for name, mib in rss.items()))
    print("targets met" if ok else "TARGETS MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
