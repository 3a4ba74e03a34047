"""Real services on loopback for tests: PostgreSQL 15, a moto S3 server, `mlflow server`, `mlflow models serve`.

Plain classes (no pytest) so any test folder or script can start the production-shaped stack; the
pytest fixtures in :mod:`tests.stack.fixtures` wrap them with session scope. Every process is
started in its own session and stopped by its own process-group id, never by name.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

VENV_BIN = Path(sys.executable).parent
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class ServiceError(RuntimeError):
    """A service did not start or stop; the message carries the tail of its log."""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def venv_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ with the venv's bin first on PATH (mlflow CLIs exec uvicorn/gunicorn from there)."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    if extra:
        env.update(extra)
    return env


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    """Poll ``url`` until it answers (any status below 500); fail early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = _tail(log) if log else ""
            raise ServiceError(f"process exited with {proc.returncode} before {url} answered:\n{tail}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise ServiceError(f"{url} did not answer within {timeout:.0f}s:\n{_tail(log) if log else ''}")


@dataclass
class Process:
    """A child process in its own process group, with its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(
        cls, name: str, cmd: list[str], log: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> Process:
        """Start ``cmd`` detached in a new session so stop() can signal all its workers."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as fh:
            proc = subprocess.Popen(
                cmd,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=dict(env) if env else None,
                cwd=cwd,
                start_new_session=True,
            )
        return cls(name, proc, log)

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the process group we created, SIGKILL it if it lingers."""
        if not self.running:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


class PostgresCluster:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) in a temp dir, trust auth on 127.0.0.1 only.

    initdb refuses to run as root, so as root the binaries run as the ``postgres`` OS user in a
    directory it owns (outside pytest's 0700 tmp tree, which that user cannot enter).
    """

    def __init__(self, port: int | None = None, os_user: str = "postgres") -> None:
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="mlflow-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._as_user = ["runuser", "-u", os_user, "--"] if os.geteuid() == 0 else []
        if self._as_user:
            shutil.chown(self.root, user=os_user)

    def _run(self, *args: str) -> None:
        res = subprocess.run([*self._as_user, *args], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise ServiceError(
                f"{' '.join(args[:2])} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}\n{_tail(self.log)}"
            )

    def start(self) -> PostgresCluster:
        """initdb, then pg_ctl start -w; the socket dir is the cluster dir, not /var/run."""
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "60", "start"
        )
        return self

    def uri(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "mlflow") -> str:
        """A new empty database; returns its SQLAlchemy URI."""
        import psycopg2

        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.uri(name)

    def stop(self) -> None:
        """pg_ctl stop -m fast, then remove the cluster directory."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(ServiceError):
                self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


class S3Server:
    """moto's S3-compatible server as a child process (so it can be stopped to simulate an outage)."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.process: Process | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        cmd = [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)]
        self.process = Process.start("moto-s3", cmd, self.workdir / f"moto-{self.port}.log", env=venv_env())
        wait_http(f"{self.endpoint}/moto-api/", 30, self.process.proc, self.process.log)
        return self

    def create_bucket(self, name: str) -> str:
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            **{k.lower(): v for k, v in S3_CREDENTIALS.items() if k != "AWS_DEFAULT_REGION"},
            region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"],
        )
        s3.create_bucket(Bucket=name)
        return name

    def client_env(self) -> dict[str, str]:
        """What boto3 (inside mlflow) needs to reach this server."""
        return {"MLFLOW_S3_ENDPOINT_URL": self.endpoint, **S3_CREDENTIALS}

    def stop(self) -> None:
        if self.process:
            self.process.stop()


@dataclass
class MlflowServer:
    """`mlflow server` with a given backend store and S3 artifacts.

    ``proxy_artifacts=True`` uses ``--artifacts-destination`` (clients go through the server and
    need no S3 credentials); False uses ``--default-artifact-root`` (clients talk to S3 directly).
    """

    backend_uri: str
    s3: S3Server
    bucket: str
    workdir: Path
    proxy_artifacts: bool = True
    app_name: str | None = None
    admin_password: str = "admin-Passw0rd-1"
    port: int = field(default_factory=free_port)
    process: Process | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def artifact_uri(self) -> str:
        return f"s3://{self.bucket}/artifacts"

    def _auth_config(self) -> Path:
        cfg = configparser.ConfigParser()
        cfg["mlflow"] = {
            "default_permission": "READ",
            "database_uri": f"sqlite:///{self.workdir / f'basic_auth_{self.port}.db'}",
            "admin_username": "admin",
            "admin_password": self.admin_password,
            "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
        }
        path = self.workdir / f"basic_auth_{self.port}.ini"
        with open(path, "w") as fh:
            cfg.write(fh)
        return path

    def server_env(self) -> dict[str, str]:
        # The job executor forks ~7 huey consumers (each importing mlflow); tests need none of them.
        env = venv_env({**self.s3.client_env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        if self.app_name == "basic-auth":
            env["MLFLOW_AUTH_CONFIG_PATH"] = str(self._auth_config())
            env.setdefault("MLFLOW_FLASK_SERVER_SECRET_KEY", uuid.uuid4().hex)
        return env

    def start(self, timeout: float = 90.0) -> MlflowServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(VENV_BIN / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--backend-store-uri",
            self.backend_uri,
            "--workers",
            "1",
        ]
        if self.proxy_artifacts:
            cmd += ["--artifacts-destination", self.artifact_uri]
        else:
            cmd += ["--default-artifact-root", self.artifact_uri, "--no-serve-artifacts"]
        if self.app_name:
            cmd += ["--app-name", self.app_name]
        self.process = Process.start(
            "mlflow-server",
            cmd,
            self.workdir / f"mlflow-server-{self.port}.log",
            env=self.server_env(),
            cwd=self.workdir,
        )
        wait_http(f"{self.uri}/health", timeout, self.process.proc, self.process.log)
        return self

    def client_env(self, username: str | None = None, password: str | None = None) -> dict[str, str]:
        """Environment for a client process (trainer, registry CLI, models serve) using this server."""
        env = venv_env({"MLFLOW_TRACKING_URI": self.uri, "MLFLOW_REGISTRY_URI": self.uri})
        if not self.proxy_artifacts:
            env.update(self.s3.client_env())
        # Fail fast instead of MLflow's default minutes of retry backoff when a test kills a service.
        env.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        env.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        env.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
        for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            env.pop(key, None)
        if username:
            env["MLFLOW_TRACKING_USERNAME"] = username
            env["MLFLOW_TRACKING_PASSWORD"] = password or ""
        return env

    def create_user(self, username: str, password: str, model_name: str, permission: str) -> None:
        """Create a basic-auth user and give it ``permission`` (READ, EDIT, MANAGE) on one registered model."""
        auth = ("admin", self.admin_password)
        base = f"{self.uri}/api/2.0/mlflow"
        user = {"username": username, "password": password}
        resp = requests.post(f"{base}/users/create", json=user, auth=auth, timeout=30)
        if not resp.ok:
            raise ServiceError(f"creating user {username!r} failed: {resp.status_code} {resp.text[:500]}")
        # mlflow 3.17's unified grant API (the 2.x /registered-models/permissions/create route is gone)
        body = {
            "username": username,
            "resource_type": "registered_model",
            "resource_id": model_name,
            "permission": permission,
        }
        resp = requests.post(f"{self.uri}/api/3.0/mlflow/users/permissions/grant", json=body, auth=auth, timeout=30)
        if not resp.ok:
            raise ServiceError(
                f"granting {permission} on {model_name!r} to {username!r} failed: {resp.status_code} {resp.text[:500]}"
            )

    def stop(self) -> None:
        if self.process:
            self.process.stop()


@dataclass
class ModelServer:
    """`mlflow models serve --env-manager local` for one model URI, resolved through a tracking server."""

    model_uri: str
    env: Mapping[str, str]
    workdir: Path
    port: int = field(default_factory=free_port)
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> ModelServer:
        cmd = [
            str(VENV_BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            self.model_uri,
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.process = Process.start(
            "models-serve",
            cmd,
            self.workdir / f"models-serve-{self.port}.log",
            env=venv_env(self.env),
            cwd=self.workdir,
        )
        wait_http(f"{self.url}/ping", timeout, self.process.proc, self.process.log)
        return self

    def invoke(self, records: list[dict[str, object]], timeout: float = 60.0) -> requests.Response:
        return requests.post(f"{self.url}/invocations", json={"dataframe_records": records}, timeout=timeout)

    def stop(self) -> None:
        if self.process:
            self.process.stop()


@dataclass
class Stack:
    """PostgreSQL backend + moto S3 artifacts + mlflow server: what a client needs to use it."""

    pg: PostgresCluster
    s3: S3Server
    server: MlflowServer

    @property
    def tracking_uri(self) -> str:
        return self.server.uri

    def env(self, username: str | None = None, password: str | None = None) -> dict[str, str]:
        return self.server.client_env(username, password)


def start_stack(
    pg: PostgresCluster,
    workdir: Path,
    *,
    s3: S3Server | None = None,
    app_name: str | None = None,
    proxy_artifacts: bool = True,
    share_store_of: Stack | None = None,
) -> Stack:
    """An mlflow server on a new database and bucket (on a new moto server unless ``s3`` is given).

    ``share_store_of`` instead points the new server at another stack's database and bucket: a second
    front end (e.g. with basic-auth) over the same registry, as when auth is added to a deployment.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    if share_store_of is not None:
        s3, bucket, backend = share_store_of.s3, share_store_of.server.bucket, share_store_of.server.backend_uri
    else:
        s3 = s3 or S3Server(workdir).start()
        bucket, backend = s3.create_bucket(f"mlflow-{uuid.uuid4().hex[:8]}"), pg.create_database()
    server = MlflowServer(backend, s3, bucket, workdir, proxy_artifacts=proxy_artifacts, app_name=app_name)
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    return Stack(pg, s3, server)
