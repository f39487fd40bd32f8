"""A real Apache Airflow 3 for the tests, in a temporary ``AIRFLOW_HOME``: its
command line, and a scheduler with the LocalExecutor (with the API server
that its tasks report to and the DAG processor) whose metadata lives in a
PostgreSQL server from Debian's ``postgresql`` package. Every server listens
on 127.0.0.1 only, runs in a process group of its own and is always stopped."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from kedro_project import BIN, free_port, stop_process_group

AIRFLOW = BIN / "airflow"
POSTGRES_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


def require_airflow() -> None:
    """Skips the test without Airflow or PostgreSQL, except in CI, where it must run."""
    missing = [
        name
        for name, present in (
            ('Airflow (pip install -e ".[airflow]")', AIRFLOW.exists()),
            ("PostgreSQL (apt-get install postgresql)", bool(POSTGRES_BINS)),
        )
        if not present
    ]
    if missing:
        message = f"needs {' and '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: .ci/run installs them.")
        pytest.skip(message)


@contextlib.contextmanager
def postgresql() -> Iterator[str]:
    """A PostgreSQL server of its own on a free loopback port, trusting local
    connections (it is reachable from this machine only); yields its URL
    without a database (``postgresql://airflow@127.0.0.1:<port>``)."""
    bin_dir = POSTGRES_BINS[-1]
    # PostgreSQL refuses to run as root: then it runs as Debian's postgres user,
    # in a folder of /tmp that user can reach.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="mnist-kedro-postgres-"))
    try:
        if as_user:
            folder.chmod(0o755)
            shutil.chown(folder, "postgres")
        subprocess.run(
            [*as_user, str(bin_dir / "initdb"), "-D", str(folder / "data")]
            + ["-U", "airflow", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        port = free_port()
        with (folder / "postgres.log").open("w") as log:
            server = subprocess.Popen(
                [*as_user, str(bin_dir / "postgres"), "-D", str(folder / "data")]
                + ["-p", str(port), "-k", str(folder)]
                + ["-c", "listen_addresses=127.0.0.1"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 60
            while (
                subprocess.run(
                    [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                    capture_output=True,
                    check=False,
                ).returncode
                != 0
            ):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "PostgreSQL did not start:\n"
                        + (folder / "postgres.log").read_text()[-3000:]
                    )
                time.sleep(0.5)
            yield f"postgresql://airflow@127.0.0.1:{port}"
        finally:
            # SIGINT: PostgreSQL's fast shutdown, which closes open connections.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGINT)
            stop_process_group(server)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def create_database(server_url: str, name: str) -> str:
    """A new database on the server; its URL."""
    port = server_url.rsplit(":", 1)[1]
    subprocess.run(
        [str(POSTGRES_BINS[-1] / "createdb"), "-h", "127.0.0.1", "-p", port]
        + ["-U", "airflow", name],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return f"{server_url}/{name}"


def airflow_environment(
    home: Path, dags: Path, database_url: str, **extra: str
) -> dict[str, str]:
    """This process's environment, plus an Airflow in ``home`` reading the DAGs
    of ``dags``, its metadata in ``database_url``, tasks run by the
    LocalExecutor, every server on loopback; ``extra`` adds to it."""
    api_port = free_port()
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url.replace(
            "postgresql://", "postgresql+psycopg2://"
        ),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": "tests-only-loopback-secret",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "KEDRO_DISABLE_TELEMETRY": "1",
        **extra,
    }


def airflow(
    env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess:
    """An ``airflow`` command, checked; its output as text."""
    result = subprocess.run(
        [str(AIRFLOW), *args],
        env=env,
        cwd=env["AIRFLOW_HOME"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"airflow {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    )
    return result


def airflow_json(env: dict[str, str], *args: str) -> list[dict]:
    """An ``airflow`` command's ``-o json`` answer (its last line)."""
    output = airflow(env, *args, "-o", "json").stdout.strip().splitlines()
    return json.loads(output[-1]) if output else []


class AirflowApi:
    """Airflow's public REST API (``/api/v2``) on the running API server: what
    the scheduler test asks while tasks run, in milliseconds, where each
    ``airflow`` command takes seconds of a core that the tasks need."""

    def __init__(self, env: dict[str, str]):
        self.url = f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}"
        self.token = None
        # With simple_auth_manager_all_admins, a token needs no credentials.
        self.token = self._request("GET", "/auth/token")["access_token"]

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {self.token}"} if self.token else {}),
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)

    def trigger(self, dag_id: str, run_id: str, logical_date: str) -> None:
        self._request(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            {"dag_run_id": run_id, "logical_date": logical_date},
        )

    def wait_for_dag_runs(
        self, dag_id: str, run_ids: list[str], timeout: float
    ) -> dict[str, str]:
        """Waits until every DAG run of ``run_ids`` has ended (success or
        failed), or the time runs out; their states."""
        deadline = time.monotonic() + timeout
        while True:
            states = {
                run["dag_run_id"]: run["state"]
                for run in self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns")[
                    "dag_runs"
                ]
                if run["dag_run_id"] in run_ids
            }
            ended = all(state in ("success", "failed") for state in states.values())
            if (len(states) == len(run_ids) and ended) or time.monotonic() > deadline:
                return states
            time.sleep(2)

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict]:
        """The DAG run's task instances by task id: state, start_date and
        end_date (datetimes, or None before the task starts or ends)."""
        answer = self._request(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        )
        return {
            task["task_id"]: {
                **task,
                **{
                    key: task[key] and datetime.fromisoformat(task[key])
                    for key in ("start_date", "end_date")
                },
            }
            for task in answer["task_instances"]
        }

    def clear(self, dag_id: str, run_id: str, task_id: str) -> None:
        """Clears the task and its downstream tasks in the DAG run."""
        self._request(
            "POST",
            f"/api/v2/dags/{dag_id}/clearTaskInstances",
            {
                "dry_run": False,
                "dag_run_id": run_id,
                "task_ids": [task_id],
                "include_downstream": True,
                "only_failed": False,
            },
        )


@contextlib.contextmanager
def running_airflow(env: dict[str, str]) -> Iterator[AirflowApi]:
    """Airflow's API server, scheduler and DAG processor until the block ends,
    once the API server reports the scheduler and the DAG processor healthy;
    yields the API server's public REST API."""
    home = Path(env["AIRFLOW_HOME"])
    servers = []
    try:
        for component in ("api-server", "scheduler", "dag-processor"):
            with (home / f"{component}.log").open("w") as log:
                servers.append(
                    subprocess.Popen(
                        [str(AIRFLOW), component],
                        env=env,
                        cwd=home,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        health = f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}/api/v2/monitor/health"
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(health, timeout=10) as answer:
                    status = json.load(answer)
                if all(
                    status[part]["status"] == "healthy"
                    for part in ("metadatabase", "scheduler", "dag_processor")
                ):
                    break
            if time.monotonic() > deadline or any(
                s.poll() is not None for s in servers
            ):
                logs = "\n".join(
                    (home / f"{c}.log").read_text()[-2000:]
                    for c in ("api-server", "scheduler", "dag-processor")
                )
                raise RuntimeError(f"Airflow did not start:\n{logs}")
            time.sleep(2)
        yield AirflowApi(env)
    finally:
        # All told at once, so that their shutdowns overlap.
        for server in servers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
        for server in servers:
            stop_process_group(server)
