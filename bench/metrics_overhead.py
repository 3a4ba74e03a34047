"""What the Prometheus metrics cost and whether their series stay bounded, through `mlflow models serve`.

1. Overhead: the same model served twice, with and without ``PRODUCT_CLASSIFIER_METRICS_PORT``
   (1 worker each, keep-alive), requests alternating between the two so noise hits both.
2. Soak: 8 rounds x 2,500 requests (single rows and batches, in-distribution and drifted, some
   refused) against the metrics server; the exposition is scraped after each round. Bounded labels
   mean the number of series stops growing after the first round.

    MLFLOW_TRACKING_URI=sqlite:///mlflow.db python bench/metrics_overhead.py [--model-uri URI] [--n 500]

Targets: metrics add <= 5 % to the 1-row p50; no new series after the first minute of the soak.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.serve_latency import bodies, measure, print_ratio_table  # noqa: E402  (same bodies, alternation, table)
from pyfunc_model.observability.metrics import METRICS_ADDR_ENV, METRICS_PORT_ENV, MULTIPROC_ENV  # noqa: E402
from tests.serving.model_fixtures import TrainedModel, free_port, model_server, sample_products  # noqa: E402


def soak_bodies(n: int) -> list[bytes]:
    """A mix that visits every label path: in-distribution and drifted rows, single rows and batches,
    ``on_drift=fallback`` and a refused request (confidence_threshold out of range) now and then."""
    from training.synthetic import generate_synthetic_products

    synthetic = generate_synthetic_products(2000, seed=9).drop(columns=["category"])
    real = sample_products(2000, seed=9, source="real")
    out = []
    for i in range(n):
        frame = real if i % 3 == 0 else synthetic
        size = 50 if i % 25 == 0 else 1
        start = (i * 7) % (len(frame) - size)
        body: dict[str, object] = {
            "dataframe_split": json.loads(frame.iloc[start : start + size].to_json(orient="split", index=False))
        }
        if i % 2:
            body["params"] = {"on_drift": "fallback"}
        if i % 97 == 0:
            body["params"] = {"confidence_threshold": 5.0}
        out.append(json.dumps(body).encode())
    return out


def series(text: str) -> set[str]:
    """Sample names with labels (values stripped): what cardinality is made of."""
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def main(argv: list[str] | None = None) -> int:
    import mlflow

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", default="models:/product-classifier@champion")
    parser.add_argument("--n", type=int, default=500, help="measured requests per size and server")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--per-round", type=int, default=2500)
    args = parser.parse_args(argv)

    rows = sample_products(5000, seed=123, source="synthetic")
    with tempfile.TemporaryDirectory(prefix="metrics-bench-") as tmp:
        workdir = Path(tmp)
        plain_env = TrainedModel(workdir, mlflow.get_tracking_uri(), "", "").env()
        plain_env.pop(METRICS_PORT_ENV, None)
        port = free_port()
        metrics_env = {
            **plain_env,
            METRICS_PORT_ENV: str(port),
            METRICS_ADDR_ENV: "127.0.0.1",
            MULTIPROC_ENV: str(workdir / "prom"),
        }
        with (
            model_server(args.model_uri, metrics_env, workdir) as with_metrics,
            model_server(args.model_uri, plain_env, workdir) as without,
        ):
            servers = {"with metrics": with_metrics, "without": without}
            latency = {size: measure(servers, bodies(rows, size, 200), args.n, args.warmup) for size in (1, 100)}

            payloads = soak_bodies(args.per_round)
            rounds = []
            started = time.monotonic()
            for r in range(args.rounds):
                codes: dict[int, int] = {}
                for body in payloads:
                    status = with_metrics.invoke(body).status_code
                    codes[status] = codes.get(status, 0) + 1
                text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
                rounds.append((r + 1, time.monotonic() - started, len(text), series(text), codes))

    print(f"\nmodel {args.model_uri}; {args.n} requests per cell after {args.warmup} warm-up, 1 worker, keep-alive")
    ok = print_ratio_table(latency, "with metrics", "without", 1.05)

    print(f"\nsoak: {args.rounds} x {len(payloads)} requests, exposition scraped after each round")
    print(f"{'round':>5} {'elapsed s':>10} {'bytes':>7} {'series':>7} {'new series':>11}  HTTP status counts")
    first_minute = None
    for i, (r, elapsed, size, names, codes) in enumerate(rounds):
        new = len(names - rounds[i - 1][3]) if i else len(names)
        print(f"{r:>5} {elapsed:>10.1f} {size:>7} {len(names):>7} {new:>11}  {codes}")
        if first_minute is None and elapsed >= 60:
            first_minute = names
    later = [names for (_, elapsed, _, names, _) in rounds if first_minute is not None and elapsed >= 60]
    grown = set().union(*later) - first_minute if first_minute is not None else set()
    ok &= not grown
    print(f"series added after the first minute: {len(grown)} (target 0)")
    print("targets met" if ok else "TARGETS MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
