"""Prometheus metrics of the served model, correct across ``mlflow models serve --workers N``.

uvicorn's workers are separate processes, so the numbers go through prometheus_client's
multiprocess mode: every worker writes its values to memory-mapped files in one directory and
whichever worker holds the metrics port merges all files on each scrape. The other workers find
the port taken, keep writing, and retry the port now and then, so a restarted worker can take
over if the one serving the port dies.

The directory is per server start (keyed by the process group and its leader's start time), so
files of a previous run are never counted; directories of process groups that are gone are
removed. Gauges of dead workers are dropped (``live*`` modes); their counters and histograms
stay, as Prometheus counters must not go backwards.

Only prometheus_client's documented multiprocess API is used: ``PROMETHEUS_MULTIPROC_DIR`` is set
in this process before its first ``import prometheus_client`` (the library chooses its file-backed
values at import; the scoring server itself never imports it), ``MultiProcessCollector`` merges the
files on a scrape and ``mark_process_dead`` drops a worker's live gauges: at its exit (``atexit``),
or at the next scrape when it died without exiting (each worker registers its pid in ``pids/``,
because uvicorn has no hook like gunicorn's ``child_exit``). If the host imported prometheus_client
before, without that variable, its values live in process memory where no scrape can merge them:
metrics are then disabled with an error record that says how to start the server instead.
"""

from __future__ import annotations

import atexit
import errno
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pyfunc_model.observability import labels
from pyfunc_model.observability.logs import log_event

METRICS_PORT_ENV = "PRODUCT_CLASSIFIER_METRICS_PORT"
#: Address the metrics port binds; default all interfaces, as Prometheus scrapes from another host.
METRICS_ADDR_ENV = "PRODUCT_CLASSIFIER_METRICS_ADDR"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DIR_PREFIX = "product-classifier-metrics-"
#: Sub-folder of the metrics folder with one empty file per worker pid (not a ``*.db``: never merged).
PIDS_DIR = "pids"
#: Seconds between two attempts of a worker that found the metrics port taken.
BIND_RETRY_S = 10.0
PREFIX = "product_classifier_"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000)
INFO_LABELS = ("registered_model_name", "version", "run_id", "model_id")
#: Why captured rows were not written (pyfunc_model/capture): buffer full, or every write attempt failed.
CAPTURE_DROP_REASONS = ("buffer_full", "write_failed")

_lock = threading.Lock()
_instance: ServingMetrics | None = None


def _start_ticks(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (/proc/<pid>/stat field 22); None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def server_start_key() -> str:
    """Same for every worker of one ``mlflow models serve`` start, different for the next start.

    The process group is shared by the CLI, uvicorn and its workers; the leader's start time
    guards against a reused group id.
    """
    pgid = os.getpgrp()
    return f"{pgid}-{_start_ticks(pgid) or 0}"


def _key_alive(key: str) -> bool:
    pgid, _, ticks = key.rpartition("-")
    if not pgid.isdigit():
        return False
    if ticks == "0":  # the group's leader had already exited (e.g. a shell that started the server)
        return _group_alive(int(pgid))
    return _start_ticks(int(pgid)) == ticks


def _group_alive(pgid: int) -> bool:
    """Whether any process is left in process group ``pgid``."""
    return _reachable(os.killpg, pgid)


def prepare_multiproc_dir(base: Path, key: str) -> Path:
    """``base/product-classifier-metrics-<key>``, created; sibling directories of server starts
    whose process group is gone are removed (their files would otherwise be counted again)."""
    base.mkdir(parents=True, exist_ok=True)
    for old in base.glob(f"{DIR_PREFIX}*"):
        old_key = old.name.removeprefix(DIR_PREFIX)
        if old_key != key and old.is_dir() and not _key_alive(old_key):
            shutil.rmtree(old, ignore_errors=True)
    directory = base / f"{DIR_PREFIX}{key}"
    directory.mkdir(exist_ok=True)
    return directory


def _pid_alive(pid: int) -> bool:
    return _reachable(os.kill, pid)


def _reachable(kill: Callable[[int, int], None], target: int) -> bool:
    """Whether signal 0 reaches ``target`` (a pid for ``os.kill``, a group for ``os.killpg``)."""
    try:
        kill(target, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


class _LiveWorkersCollector:
    """MultiProcessCollector that first drops the live gauges of registered workers that died."""

    def __init__(self, directory: Path) -> None:
        from prometheus_client.multiprocess import MultiProcessCollector

        self.directory = directory
        self.inner = MultiProcessCollector(None, path=str(directory))

    def collect(self) -> Iterable[Any]:
        for path in (self.directory / PIDS_DIR).glob("*"):
            if path.name.isdigit() and not _pid_alive(int(path.name)):
                _worker_exited(self.directory, int(path.name))
        return self.inner.collect()


def _register_worker(directory: Path) -> None:
    """Record this pid, and drop its live gauges when it exits (``mark_process_dead``)."""
    pids = directory / PIDS_DIR
    pids.mkdir(exist_ok=True)
    (pids / str(os.getpid())).touch()
    atexit.register(_worker_exited, directory, os.getpid())


def _worker_exited(directory: Path, pid: int) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(directory))
    (directory / PIDS_DIR / str(pid)).unlink(missing_ok=True)


def multiprocess_values_ready() -> bool:
    """False when prometheus_client was imported before ``PROMETHEUS_MULTIPROC_DIR`` was set: its
    values are then kept in process memory (the library decides once, at import)."""
    return "prometheus_client" not in sys.modules or bool(os.environ.get(MULTIPROC_ENV))


class ServingMetrics:
    """The metric objects of this process (one instance per process: see :func:`serving_metrics`)."""

    def __init__(self, directory: Path, port: int, addr: str) -> None:
        if not multiprocess_values_ready():
            raise RuntimeError(
                f"prometheus_client was imported before {MULTIPROC_ENV} was set, so its values cannot be "
                f"merged across workers: set {MULTIPROC_ENV} (a writable folder) in the server's environment"
            )
        # Read by each value when it is created: the per-start folder, also for a host-set parent.
        os.environ[MULTIPROC_ENV] = str(directory)
        from prometheus_client import Counter, Gauge, Histogram

        _register_worker(directory)
        self.directory, self.port, self.addr = directory, port, addr
        self.serving_port = False
        rows = Counter(
            f"{PREFIX}rows_scored", "Rows answered, by the model that answered them.", ["model_used"], registry=None
        )
        rerouted = Counter(
            f"{PREFIX}rows_rerouted",
            "Rows that did not get the primary's answer, by reason.",
            ["reason"],
            registry=None,
        )
        requests = Counter(
            f"{PREFIX}requests",
            "predict calls by outcome: answered, refused (HTTP 4xx) or error.",
            ["outcome"],
            registry=None,
        )
        failures = Counter(
            f"{PREFIX}component_failures",
            "predict calls in which a component raised (its rows moved down the chain).",
            ["component"],
            registry=None,
        )
        captured = Counter(
            f"{PREFIX}capture_rows_written", "Captured rows written to the capture store.", registry=None
        )
        dropped = Counter(
            f"{PREFIX}capture_rows_dropped",
            "Captured rows not written, by reason (buffer_full: more held than the buffer setting).",
            ["reason"],
            registry=None,
        )
        self.captured = captured
        self.capture_drops = {v: dropped.labels(v) for v in CAPTURE_DROP_REASONS}
        self.rows = {v: rows.labels(v) for v in labels.MODEL_USED}
        self.rerouted = {v: rerouted.labels(v) for v in labels.REASONS}
        self.requests = {v: requests.labels(v) for v in labels.OUTCOMES}
        self.failures = {v: failures.labels(v) for v in (*labels.COMPONENTS, labels.OTHER)}
        self.latency = Histogram(
            f"{PREFIX}predict_latency_seconds",
            "Time inside predict (input checks, features, models, drift), per call.",
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.batch_rows = Histogram(
            f"{PREFIX}batch_rows", "Rows per predict call.", buckets=BATCH_BUCKETS, registry=None
        )
        # Drift gauges: each worker tests its own traffic; the exposed value is the max over live
        # workers (an alarm when any worker sees drift) ...
        drift = Gauge(
            f"{PREFIX}drift_detected",
            "Latest drift verdict (1 = drifted), by scope.",
            ["scope"],
            multiprocess_mode="livemax",
            registry=None,
        )
        score = Gauge(
            f"{PREFIX}drift_score",
            "Latest drift score (>= 0.5 means drifted), by scope.",
            ["scope"],
            multiprocess_mode="livemax",
            registry=None,
        )
        inputs = Gauge(
            f"{PREFIX}drift_input_drifted",
            "1 when the latest check of this scope flagged this input field.",
            ["scope", "input"],
            multiprocess_mode="livemax",
            registry=None,
        )
        concept = Gauge(
            f"{PREFIX}concept_drift_detected",
            "1 when the latest check saw the primary's confidence drop.",
            multiprocess_mode="livemax",
            registry=None,
        )
        # ... while the figures of the latest check are taken from whichever live worker checked last.
        self.estimated_accuracy = Gauge(
            f"{PREFIX}estimated_accuracy",
            "Confidence-based accuracy estimate of the latest drift check.",
            multiprocess_mode="livemostrecent",
            registry=None,
        )
        self.mean_confidence = Gauge(
            f"{PREFIX}mean_confidence",
            "Mean primary confidence of the rows of the latest drift check.",
            multiprocess_mode="livemostrecent",
            registry=None,
        )
        sent = Gauge(
            f"{PREFIX}input_sent_share",
            "Share of the rows of the latest drift check that sent this optional input.",
            ["input"],
            multiprocess_mode="livemostrecent",
            registry=None,
        )
        low = Gauge(
            f"{PREFIX}input_completeness_low",
            "1 when the latest check saw this input sent less often than the reference allows.",
            ["input"],
            multiprocess_mode="livemax",
            registry=None,
        )
        self.sent_share = {i: sent.labels(i) for i in labels.OPTIONAL_INPUTS}
        self.completeness_low = {i: low.labels(i) for i in labels.OPTIONAL_INPUTS}
        for gauge in self.completeness_low.values():
            gauge.set(0)
        self.info = Gauge(
            f"{PREFIX}model_info",
            "The model this worker serves (value 1).",
            list(INFO_LABELS),
            multiprocess_mode="livemax",
            registry=None,
        )
        self.drift = {s: drift.labels(s) for s in labels.SCOPES}
        self.score = {s: score.labels(s) for s in labels.SCOPES}
        self.inputs = {(s, i): inputs.labels(s, i) for s in labels.SCOPES for i in labels.MONITORED_INPUTS}
        self.concept = concept
        for gauge in (*self.drift.values(), *self.score.values(), *self.inputs.values(), concept):
            gauge.set(0)
        self._last: dict[str, float] = {}
        self._set_lock = threading.Lock()  # predict runs in threads: cache and gauge must not disagree

    # ---- exposition ---------------------------------------------------------------------
    def start_exposition(self) -> None:
        """Serve the merged metrics on the port, or retry in the background if a sibling holds it."""
        if self._try_bind() is False:
            thread = threading.Thread(target=self._retry_bind, name="product-classifier-metrics-bind", daemon=True)
            thread.start()

    def _try_bind(self) -> bool | None:
        """True: serving; False: a sibling worker holds the port; None: cannot bind at all (logged)."""
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry()
        registry.register(_LiveWorkersCollector(self.directory))
        try:
            start_http_server(self.port, addr=self.addr, registry=registry)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            log_event(
                logging.ERROR,
                "metrics_port_failed",
                f"cannot serve metrics on {self.addr}:{self.port}: {exc}",
                port=self.port,
                addr=self.addr,
            )
            return None
        self.serving_port = True
        log_event(
            logging.INFO,
            "metrics_serving",
            f"metrics on http://{self.addr}:{self.port}/metrics",
            port=self.port,
            addr=self.addr,
            multiprocess_dir=str(self.directory),
        )
        return True

    def _retry_bind(self) -> None:
        stop = threading.Event()
        while not stop.wait(BIND_RETRY_S):
            if self._try_bind() is not False:
                return

    # ---- recording ----------------------------------------------------------------------
    def _set(self, key: str, gauge: Any, value: float) -> None:
        """Skip unchanged values: most calls repeat the previous verdict."""
        with self._set_lock:
            if self._last.get(key) != value:
                gauge.set(value)
                self._last[key] = value

    def request(self, outcome: str, seconds: float, n_rows: int) -> None:
        self.requests[outcome].inc()
        self.latency.observe(seconds)
        self.batch_rows.observe(n_rows)

    def rows_scored(self, by_route: Mapping[str, int], by_reason: Mapping[str, int]) -> None:
        for route, count in by_route.items():
            self.rows[labels.route_label(route)].inc(count)
        for reason, count in by_reason.items():
            self.rerouted[labels.reason_label(reason)].inc(count)

    def drift_checked(
        self,
        scope: str,
        drifted: bool,
        score: float,
        inputs: Iterable[str],
        concept: bool,
        estimated_accuracy: float,
        mean_confidence: float,
        sent_share: Mapping[str, float] | None = None,
        completeness_low: Iterable[str] = (),
    ) -> None:
        if scope in self.drift:
            self._set(f"drift:{scope}", self.drift[scope], float(drifted))
            self._set(f"score:{scope}", self.score[scope], float(score))
            flagged = set(inputs)
            for name in labels.MONITORED_INPUTS:
                self._set(f"input:{scope}:{name}", self.inputs[(scope, name)], float(name in flagged))
        self._set("concept", self.concept, float(concept))
        if estimated_accuracy == estimated_accuracy:  # NaN while the window warms up: keep the last
            self.estimated_accuracy.set(estimated_accuracy)
        if mean_confidence == mean_confidence:
            self.mean_confidence.set(mean_confidence)
        for name, share in (sent_share or {}).items():
            if name in self.sent_share:
                self.sent_share[name].set(share)
        low = set(completeness_low)
        for name, gauge in self.completeness_low.items():
            self._set(f"completeness:{name}", gauge, float(name in low))

    def capture_written(self, n_rows: int) -> None:
        self.captured.inc(n_rows)

    def capture_dropped(self, reason: str, n_rows: int) -> None:
        self.capture_drops[reason].inc(n_rows)

    def component_failed(self, component: str) -> None:
        self.failures[labels.component_label(component)].inc()

    def model_info(self, identity: Mapping[str, str]) -> None:
        self.info.labels(*(identity.get(k) or "unknown" for k in INFO_LABELS)).set(1)


def metrics_port() -> int | None:
    """The port from ``PRODUCT_CLASSIFIER_METRICS_PORT``; None when unset; ValueError when not a port."""
    raw = os.environ.get(METRICS_PORT_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{METRICS_PORT_ENV} must be a TCP port number (1-65535), got {raw!r}")
    return int(raw)


def serving_metrics() -> ServingMetrics | None:
    """This process's metrics, started on first call when ``PRODUCT_CLASSIFIER_METRICS_PORT`` is set.

    A bad value disables metrics with an error record instead of failing the model load: serving
    matters more than its metrics.
    """
    global _instance
    with _lock:
        if _instance is not None:
            return _instance
        try:
            port = metrics_port()
        except ValueError as exc:
            log_event(logging.ERROR, "metrics_disabled", str(exc))
            return None
        if port is None:
            return None
        base = Path(os.environ.get(MULTIPROC_ENV) or tempfile.gettempdir())
        directory = prepare_multiproc_dir(base, server_start_key())
        try:
            _instance = ServingMetrics(directory, port, os.environ.get(METRICS_ADDR_ENV) or "0.0.0.0")
        except RuntimeError as exc:
            log_event(logging.ERROR, "metrics_disabled", str(exc))
            return None
        _instance.start_exposition()
        return _instance
