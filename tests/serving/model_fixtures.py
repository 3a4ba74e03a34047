"""Shared test helpers: one trained champion per session and real `mlflow models serve` processes.

Imported by the conftests of ``tests/serving``, ``tests/spark`` and ``tests/notebook`` as
``tests.serving.model_fixtures`` so that all three folders reuse ONE trained model per session
(a pytest fixture defined in two conftests would train twice; the module-level cache does not).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
MODEL_NAME = "product-classifier"
CHAMPION_URI = f"models:/{MODEL_NAME}@champion"
PRODUCTION_URI = f"models:/{MODEL_NAME}/Production"
INPUT_COLUMNS = ("title", "seller_id", "brand", "subcategory", "price", "rating", "reviews_count")
#: Developer shortcut: a folder holding an already trained mlflow.db (+ mlruns) to reuse instead of training.
REUSE_ENV = "PRODUCT_CLASSIFIER_TEST_MODEL_DIR"
REAL_DATA = ROOT.parent / "shared" / "data" / "amazon_in_products.csv"


@dataclass(frozen=True)
class TrainedModel:
    """Where the session's model lives and the environment every subprocess needs to reach it."""

    workdir: Path
    tracking_uri: str
    name: str
    version: str

    def env(self, *, with_project_on_path: bool = False) -> dict[str, str]:
        """Environment for subprocesses: venv first on PATH (uvicorn), tracking URI, Spark python.

        The project is NOT put on PYTHONPATH by default, so a server that starts proves the
        artifact carries its own code (as it must inside a container).
        """
        env = dict(os.environ)
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        env["MLFLOW_TRACKING_URI"] = self.tracking_uri
        env["PYSPARK_PYTHON"] = sys.executable
        env["PYSPARK_DRIVER_PYTHON"] = sys.executable
        env.pop("PYTHONPATH", None)
        if with_project_on_path:
            env["PYTHONPATH"] = str(ROOT)
        return env


_CACHE: dict[str, TrainedModel] = {}


def train_champion(workdir: Path) -> TrainedModel:
    """Train ONE synthetic model into a fresh SQLite store under ``workdir`` and alias it ``champion``.

    Cached per process: the first caller's ``workdir`` wins and later callers reuse the model.
    """
    if "model" in _CACHE:
        return _CACHE["model"]
    reuse = os.environ.get(REUSE_ENV)
    if reuse and (Path(reuse) / "mlflow.db").exists():
        workdir = Path(reuse)
        _CACHE["model"] = _alias_latest(workdir, f"sqlite:///{workdir / 'mlflow.db'}")
        return _CACHE["model"]
    workdir.mkdir(parents=True, exist_ok=True)
    tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    probe = TrainedModel(workdir, tracking_uri, MODEL_NAME, "")
    # cwd=workdir keeps ./mlruns artifacts out of the repository; PYTHONPATH finds `training`.
    proc = subprocess.run(
        [sys.executable, "-m", "training.train", "--data", "synthetic", "--registered-model-name", MODEL_NAME],
        cwd=workdir,
        env=probe.env(with_project_on_path=True),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"training failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    _CACHE["model"] = _alias_latest(workdir, tracking_uri)
    return _CACHE["model"]


def _alias_latest(workdir: Path, tracking_uri: str) -> TrainedModel:
    """Point the `champion` alias at the newest registered version."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    versions = client.search_model_versions(f"name='{MODEL_NAME}'")
    if not versions:
        raise RuntimeError(f"no registered version of {MODEL_NAME} in {tracking_uri}")
    version = str(max(int(v.version) for v in versions))
    client.set_registered_model_alias(MODEL_NAME, "champion", version)
    return TrainedModel(workdir, tracking_uri, MODEL_NAME, version)


def transition_to_production(model: TrainedModel) -> None:
    """Put the trained version in the (deprecated but still served) Production stage."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=model.tracking_uri, registry_uri=model.tracking_uri)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        client.transition_model_version_stage(model.name, model.version, "Production", archive_existing_versions=True)


def free_port() -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` different free ports: every socket stays bound until all are chosen, so the kernel
    cannot hand out one port twice (a server given the same port for two listeners fails to start)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


@dataclass
class ModelServer:
    """A running `mlflow models serve` process group and where to reach it."""

    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    session: requests.Session = field(default_factory=requests.Session)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def rss_bytes(self) -> int:
        """Resident memory of every process in the server's process group (CLI + uvicorn worker)."""
        return sum(process_group_rss(self.proc.pid).values())

    def worker_rss_bytes(self) -> int:
        """Resident memory of the worker that loaded the model and answers requests (uvicorn)."""
        return max(rss for cmd, rss in process_group_rss(self.proc.pid).items() if "uvicorn" in cmd)

    def invoke(
        self, body: bytes | str, content_type: str = "application/json", timeout: float = 60.0
    ) -> requests.Response:
        data = body.encode() if isinstance(body, str) else body
        return self.session.post(
            f"{self.url}/invocations", data=data, headers={"Content-Type": content_type}, timeout=timeout
        )


def process_group_rss(pgid: int) -> dict[str, int]:
    """VmRSS in bytes of each process whose process group is ``pgid``, keyed by "pid command line"."""
    out: dict[str, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            for line in (stat.parent / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[f"{stat.parent.name} {cmdline}"] = int(line.split()[1]) * 1024
        except (OSError, IndexError, ValueError):
            continue
    return out


@contextmanager
def model_server(
    model_uri: str, env: dict[str, str], workdir: Path, *, workers: int = 1, startup_timeout: float = 120.0
) -> Iterator[ModelServer]:
    """Start `mlflow models serve --env-manager local` on a free port, wait for /ping, stop it after.

    Runs in its own session so the whole group (CLI and uvicorn) is stopped by its group id.
    """
    port = free_port()
    log_path = workdir / f"serve-{port}.log"
    cmd = [
        str(VENV_BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "--workers",
        str(workers),
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = ModelServer(url=f"http://127.0.0.1:{port}", proc=proc, log_path=log_path)
    try:
        _wait_ready(server, startup_timeout)
        yield server
    finally:
        server.session.close()
        _stop(proc)


def _wait_ready(server: ModelServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            if requests.get(f"{server.url}/ping", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"server not ready after {timeout:.0f}s:\n{server.log_tail()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM then SIGKILL the process group this helper started (and only that one)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
    else:
        # The CLI may have exited while uvicorn lingers in the group.
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def drifted_products(n: int, seed: int = 0):  # -> pd.DataFrame
    """``n`` rows far from the test model's synthetic training data, DISTINCT titles: amazon.in
    listings when ../shared/data has them; otherwise synthetic rows made foreign on every field
    (titles of made-up words, sub-categories never seen, prices x25, ratings 1, reviews x100)."""
    if REAL_DATA.exists():
        return sample_products(n, seed, source="real")
    import numpy as np

    frame = sample_products(n, seed, source="synthetic")
    rng = np.random.default_rng(seed)
    letters = np.array(list("bcdfghjklmnpqrstvwxz"))
    words = ["".join(rng.choice(letters, 7)) for _ in range(400)]
    frame["title"] = [" ".join(rng.choice(words, 5)) + f" #{i}" for i in range(n)]
    frame["subcategory"] = [f"Unlisted aisle {k}" for k in rng.integers(0, 40, n)]
    frame["price"] = [f"{p:.2f}" for p in rng.uniform(50_000, 500_000, n)]
    frame["rating"] = 1.0
    frame["reviews_count"] = rng.integers(100_000, 1_000_000, n).astype(float)
    return frame


def sample_products(n: int, seed: int = 0, source: str = "auto"):  # -> pd.DataFrame (pandas imported lazily)
    """``n`` rows with the canonical input columns and DISTINCT titles (so order can be checked).

    ``source="real"``: amazon.in rows (dirty price strings and all) from ../shared/data; ``"synthetic"``:
    rows like the synthetic training data (in distribution for the test model, so the primary answers);
    ``"auto"``: real when the file is present. A few thousand base rows are repeated to reach ``n``.
    """
    import pandas as pd

    if source == "real" or (source == "auto" and REAL_DATA.exists()):
        raw = pd.read_csv(REAL_DATA, dtype=str)
        frame = pd.DataFrame(
            {
                "title": raw["name"],
                "subcategory": raw["sub_category"],
                "price": raw["actual_price"],
                "rating": raw["ratings"],
                "reviews_count": raw["no_of_ratings"],
            }
        ).dropna(subset=["title"])
        frame = frame.drop_duplicates("title").sample(frac=1.0, random_state=seed).reset_index(drop=True)
    else:
        sys.path.insert(0, str(ROOT))
        from training.synthetic import generate_synthetic_products

        frame = generate_synthetic_products(min(max(n, 100), 5000), seed=seed).drop(columns=["category"])
        # Prices as text, as the real file's are: as listings write them ("₹1,299") on every other
        # row, plain numbers on the others; the model must parse both.
        dirty = frame.index % 2 == 0
        prices = zip(frame["price"], dirty, strict=True)
        frame["price"] = [None if pd.isna(p) else f"₹{p:,.0f}" if d else f"{p:.2f}" for p, d in prices]
    reps = -(-n // len(frame))
    out = pd.concat([frame] * reps, ignore_index=True).iloc[:n].copy()
    # A row-number suffix makes every title distinct, so a reordered answer cannot pass.
    out["title"] = [f"{t} #{i}" for i, t in enumerate(out["title"].astype(str))]
    return out.reset_index(drop=True)
