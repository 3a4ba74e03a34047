"""REST latency of the champion vs a constant-output pyfunc served the same way, in ONE run.

Why ratios: absolute milliseconds depend on the machine; the ratio to a do-nothing pyfunc behind
the same `mlflow models serve` (same signature, same output columns with every class in
``probabilities``, 1 worker, keep-alive) isolates what our model adds: the floor pays MLflow's
input parsing, schema enforcement and output JSON, the champion pays those plus the model.
Requests alternate between the two servers so noise hits both equally.

    MLFLOW_TRACKING_URI=sqlite:///mlflow.db python bench/serve_latency.py [--model-uri URI] [--n 500]

Targets (issue 4): 1-row p50 <= 2.0x, 1-row p99 <= 4x, 100-row p50 <= 3x the constant model.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.serving.model_fixtures import (  # noqa: E402  (server start/stop shared with the tests)
    ModelServer,
    TrainedModel,
    model_server,
    sample_products,
)

CONSTANT_MODEL = textwrap.dedent('''
    """Constant-output pyfunc: the latency floor of `mlflow models serve` for our output shape."""
    import mlflow
    import pandas as pd

    CLASSES = __CLASSES__


    class Constant(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            n = len(model_input)
            share = 1.0 / len(CLASSES)
            return pd.DataFrame({
                "category": [CLASSES[0]] * n, "confidence": [share] * n,
                "probabilities": [{c: share for c in CLASSES} for _ in range(n)], "model_used": ["primary"] * n,
                "fallback_reason": [""] * n, "drift_detected": [False] * n, "drift_score": [0.0] * n,
                "ood_reasons": [""] * n,
            })


    mlflow.models.set_model(Constant())
''')


def save_constant_model(model_uri: str, workdir: Path) -> Path:
    """Save the constant pyfunc with the champion's own signature and class list, so schema
    enforcement and the JSON of the output (every class in ``probabilities``) cost the same."""
    import mlflow

    signature = mlflow.models.get_model_info(model_uri).signature
    classes = [str(c) for c in mlflow.pyfunc.load_model(model_uri).unwrap_python_model().classes]
    code = workdir / "constant_model.py"
    code.write_text(CONSTANT_MODEL.replace("__CLASSES__", repr(classes)))
    path = workdir / "constant_model"
    mlflow.pyfunc.save_model(str(path), python_model=str(code), signature=signature)
    return path


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
    """Milliseconds per request, requests alternating between servers."""
    times: dict[str, list[float]] = {name: [] for name in servers}
    for i in range(warmup + n):
        body = payloads[i % len(payloads)]
        for name, server in servers.items():
            start = time.perf_counter()
            resp = server.invoke(body)
            elapsed = (time.perf_counter() - start) * 1000
            if resp.status_code != 200:
                raise RuntimeError(f"{name}: HTTP {resp.status_code}: {resp.text[:500]}")
            if i >= warmup:
                times[name].append(elapsed)
    return {name: np.asarray(values) for name, values in times.items()}


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
        constant = save_constant_model(args.model_uri, workdir)
        env = TrainedModel(workdir, mlflow.get_tracking_uri(), "", "").env()
        results: dict[int, dict[str, np.ndarray]] = {}
        with model_server(args.model_uri, env, workdir) as champion, model_server(str(constant), env, workdir) as const:
            servers = {"champion": champion, "constant": const}
            for size in (1, 100):
                results[size] = measure(servers, bodies(rows, size, 200), args.n, args.warmup)
            rss = {name: server.rss_bytes() / 2**20 for name, server in servers.items()}
            worker_rss = {name: server.worker_rss_bytes() / 2**20 for name, server in servers.items()}

    targets = {(1, 50): 2.0, (1, 99): 4.0, (100, 50): 3.0}
    print(f"\nmodel {args.model_uri}; {args.n} requests per cell after {args.warmup} warm-up, 1 worker, keep-alive")
    print(f"{'rows':>5} {'pct':>4} {'champion ms':>12} {'constant ms':>12} {'ratio':>7} {'target':>7}")
    ok = True
    for size, times in results.items():
        for pct in (50, 99):
            champ, base = np.percentile(times["champion"], pct), np.percentile(times["constant"], pct)
            target = targets.get((size, pct))
            ratio = champ / base
            ok &= target is None or ratio <= target
            print(
                f"{size:>5} {'p' + str(pct):>4} {champ:>12.2f} {base:>12.2f} {ratio:>7.2f} "
                f"{'<= ' + str(target) if target else '':>7}"
            )
    print(
        f"serving RSS per worker (uvicorn, target <= 400 MB): champion {worker_rss['champion']:.0f} MiB, "
        f"constant {worker_rss['constant']:.0f} MiB"
    )
    print(f"serving RSS (process group): champion {rss['champion']:.0f} MiB, constant {rss['constant']:.0f} MiB")
    print("targets met" if ok else "TARGETS MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
