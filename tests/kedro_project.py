"""Runs of the Kedro project for the end-to-end tests: in a copy of the project,
so that the user's own ``data/`` is never touched."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from canvas_latency import CHROMIUM
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

BIN = Path(sys.executable).parent
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
EXPERIMENT = "mnist_kedro"  # the MLflow experiment of conf/base/mlflow.yml


def copy_project(project_root: Path, destination: Path) -> Path:
    """The project's configuration and notebooks in ``destination``, with an empty
    ``data/``; the package itself is the installed one."""
    shutil.copytree(
        project_root / "conf",
        destination / "conf",
        ignore=shutil.ignore_patterns("local"),
    )
    (destination / "conf" / "local").mkdir()
    shutil.copytree(project_root / "notebooks", destination / "notebooks")
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(project_root / name, destination / name)
    (destination / "src").mkdir()  # kedro requires it
    return destination


def quick_run_params(mnist_idx_dir: Path) -> dict:
    return {
        "ingestion": {"idx_dir": str(mnist_idx_dir)},
        "preprocessing": {"train_limit": 6000},
        "training": {"model": "fast", "presets": {"fast": {"epochs": 3}}},
    }


def preprocessed_project(
    project_root: Path, destination: Path, mnist_idx_dir: Path, train_limit: int
) -> Path:
    """A copy of the project whose ingestion and preprocessing have run on
    ``train_limit`` real training images, ready for ``--pipelines training``."""
    project = copy_project(project_root, destination)
    prepared = run_kedro(
        project,
        "--pipelines",
        "ingestion,preprocessing",
        "--params",
        f"ingestion.idx_dir={mnist_idx_dir},preprocessing.train_limit={train_limit}",
    )
    assert prepared.returncode == 0, prepared.stdout[-3000:]
    return project


def clone_project(project: Path, destination: Path) -> Path:
    """A copy of a test project with its ``data/``: its own runs touch nothing
    of the original, which other tests share."""
    shutil.copytree(project, destination, symlinks=True)
    return destination


def run_session(project: Path, params: dict, **run_args) -> None:
    """A run through ``KedroSession`` from the project folder, as ``kedro run``
    does (relative paths in parameters are taken from there)."""
    bootstrap_project(project)
    with (
        contextlib.chdir(project),
        KedroSession.create(project_path=project, runtime_params=params) as session,
    ):
        session.run(**run_args)


def run_kedro(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``kedro run`` in a fresh process, as a user types it in the project folder."""
    kedro = BIN / "kedro"
    return subprocess.run(
        [str(kedro), "run", *args],
        check=False,  # the callers assert on the exit code
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200", **env},
    )


def run_benchmark(
    script: str, *args: str, timeout: float
) -> subprocess.CompletedProcess:
    """``benchmarks/<script>`` in a fresh process, as a user runs it."""
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,  # the callers assert on the exit code
    )


def start_kedro(
    project: Path, log_path: Path, *args: str, **env: str
) -> subprocess.Popen:
    """``kedro run`` started in a process group of its own, its output going to
    ``log_path`` (a pipe nobody reads would stall it); ``env`` adds to its
    environment."""
    with log_path.open("w") as log:
        return subprocess.Popen(
            [str(BIN / "kedro"), "run", *args],
            cwd=project,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={
                **os.environ,
                "KEDRO_DISABLE_TELEMETRY": "1",
                "COLUMNS": "200",
                "PYTHONUNBUFFERED": "1",
                **env,
            },
        )


def wait_for_log(
    process: subprocess.Popen, log_path: Path, text: str, timeout: float = 300
) -> None:
    """Waits until ``text`` is in the process's log; fails with the log if the
    process ends or the time runs out first."""
    deadline = time.monotonic() + timeout
    while text not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process_group(process)
            pytest.fail(f"no {text!r} in the log:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)


def fingerprints(data: Path) -> dict[str, tuple[int, str]]:
    return {
        str(path.relative_to(data)): (
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(data.rglob("*"))
        if path.is_file()
    }


def latest_version(path: Path) -> Path:
    """The file of the latest version of the versioned dataset at ``path``
    (Kedro names version folders by UTC timestamp, so they sort by time)."""
    return max(path.iterdir()) / path.name


def dataset_of(file: str) -> str:
    """The dataset path of a file below ``data/``: a versioned file
    ``x.csv/<version>/x.csv`` belongs to ``x.csv``."""
    parts = Path(file).parts
    if len(parts) >= 3 and parts[-1] == parts[-3]:  # noqa: PLR2004
        return str(Path(*parts[:-2]))
    return file


def free_port() -> int:
    """A free loopback port below the ephemeral range: kedro-viz refuses ports
    above 49151, where the system's own choice (``bind(0)``) often lands."""
    for port in random.sample(range(20_000, 32_000), 50):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port between 20000 and 32000")


def stop_process_group(
    process: subprocess.Popen, stop_signal: int = signal.SIGTERM
) -> None:
    """Stops a process and every child it started (the group may be gone already)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, stop_signal)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def running_server(
    command: list[str],
    cwd: Path,
    ready_url: str,
    log_path: Path,
    env: dict[str, str] | None = None,
    stop_signal: int = signal.SIGTERM,
):
    """Runs a server in a process group of its own until the block ends, once
    ``ready_url`` answers; fails with the server's log if it never does.
    ``env`` adds to the environment; ``stop_signal`` stops it."""
    with log_path.open("w") as log:
        server = subprocess.Popen(
            command,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", **(env or {})},
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(ready_url, timeout=10).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{command[0]} did not start:\n{log_path.read_text()[-3000:]}"
                    ) from None
                time.sleep(1)
        yield
    finally:
        stop_process_group(server, stop_signal)


def require_chromium() -> None:
    """Skips the test without Chromium, except in CI, where it must run."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(
                "Chromium is missing: .ci/run installs Debian's chromium package."
            )
        pytest.skip("needs Debian's chromium package (apt-get install chromium)")
