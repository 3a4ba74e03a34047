"""A Spark standalone cluster on loopback, started from PySpark's own ``bin/spark-class``.

pip's PySpark ships ``bin/spark-class`` but not ``sbin/start-master.sh``; the master and worker
classes are what those scripts run. Each process runs in its own session so that stopping it
by process group also stops what it started (a worker's executor JVMs and their Python workers).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.serving.model_fixtures import free_ports, process_group_rss


def spark_class() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


@dataclass(frozen=True)
class StandaloneCluster:
    master_url: str
    ui_url: str
    workdirs: tuple[Path, ...]
    procs: tuple[subprocess.Popen[bytes], ...]

    def state(self) -> dict[str, object]:
        """The master's JSON status (workers, applications)."""
        return requests.get(f"{self.ui_url}/json/", timeout=5).json()

    def process_groups(self) -> dict[str, int]:
        """Every live process started for the cluster (master, workers, executors, Python workers)."""
        return {cmd: rss for p in self.procs for cmd, rss in process_group_rss(p.pid).items()}


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as fh:
        return subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM then SIGKILL this process's group (only the group this helper started)."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=15)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=15)


@contextmanager
def standalone_cluster(
    workdir: Path, env: dict[str, str], workers: int = 2, cores: int = 1, memory: str = "1536m", timeout: float = 90.0
) -> Iterator[StandaloneCluster]:
    """A master and ``workers`` workers on 127.0.0.1; yields when every worker is ALIVE, stops all after."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**env, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_NO_DAEMONIZE": "1"}
    port, ui_port, *worker_ui_ports = free_ports(2 + workers)
    master_url, ui_url = f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}"
    procs: list[subprocess.Popen[bytes]] = []
    workdirs: list[Path] = []
    try:
        master = ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port)]
        procs.append(_start([str(spark_class()), *master, "--webui-port", str(ui_port)], env, workdir / "master.log"))
        for i in range(workers):
            work = workdir / f"worker-{i}"
            work.mkdir(parents=True, exist_ok=True)
            workdirs.append(work)
            cmd = [
                str(spark_class()),
                "org.apache.spark.deploy.worker.Worker",
                "--host", "127.0.0.1",
                "--cores", str(cores),
                "--memory", memory,
                "--webui-port", str(worker_ui_ports[i]),
                "--work-dir", str(work),
                master_url,
            ]  # fmt: skip
            procs.append(_start(cmd, env, workdir / f"worker-{i}.log"))
        cluster = StandaloneCluster(master_url, ui_url, tuple(workdirs), tuple(procs))
        deadline = time.monotonic() + timeout
        while True:
            dead = [p.args for p in procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"Spark process exited early: {dead}; logs in {workdir}")
            with suppress(requests.RequestException, ValueError):
                alive = [w for w in cluster.state().get("workers", []) if w.get("state") == "ALIVE"]
                if len(alive) == workers:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{workers} Spark workers not ALIVE after {timeout:.0f}s; logs in {workdir}")
            time.sleep(0.5)
        yield cluster
    finally:
        for proc in reversed(procs):  # workers (and their executors) first, then the master
            _stop(proc)
