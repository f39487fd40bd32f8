"""What a Kedro run costs before its node does anything, on this machine.

    python benchmarks/start_up.py --idx-dir ../shared/data/mnist

In a copy of the project in a temporary folder, after a tiny run up to the
metrics (1,000 training images, one epoch):

1. ``kedro run --nodes compute_metrics`` (a node that reads CSV files and
   writes JSON, as each evaluation task on Airflow runs it) against a bare
   ``python -c "import tensorflow"``, alternated, each a fresh process: wall
   time and peak RSS, medians of ``--repeats``, and their ratio;
2. the time to the message that MNIST cannot be downloaded (no IDX files and
   no network), the first thing a user without the files sees: through
   ``kedro run`` and through the dataset alone in a fresh Python process;
3. ``kedro mlflow ui`` until its page and the runs answer: seconds, processes
   and their total RSS, with MLflow's defaults (four workers, a job runner)
   against the project's (``hooks.MLFLOW_ENVIRONMENT``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
from run import KEDRO, copy_project, machine, measured, report, script_arguments

from mnist_kedro.hooks import MLFLOW_ENVIRONMENT

NO_NETWORK = {"HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
DATASET_OFFLINE = """
from mnist_kedro.datasets import MnistSourceDataset
from kedro.io import DatasetError
source = MnistSourceDataset(path="no-idx-files", tfds={"path": "no-tfds"})
try:
    source.load()
except DatasetError as error:
    print(error)
"""
MLFLOW_DEFAULTS = {
    "MLFLOW_WORKERS": "4",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true",
}


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--ui-baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also start the UI with MLflow's defaults (half a minute, 3 GB)",
    )
    parser.add_argument(
        "--project",
        type=Path,
        help="a project whose run went past compute_metrics, to measure in "
        "(it gains a version of metrics.json); default: a tiny run in a "
        "temporary copy of this one",
    )
    args = parser.parse_args()
    idx_dir = args.idx_dir.resolve()
    if not args.project and not idx_dir.is_dir():
        sys.exit(f"{idx_dir} is not a folder: pass --idx-dir, the MNIST IDX files")

    results = {"machine": machine()}
    report("Machine", {"this run": results["machine"]})
    with tempfile.TemporaryDirectory(prefix="mnist-kedro-start-up-") as folder:
        project = args.project or tiny_run(Path(folder) / "project", idx_dir)
        ways = {
            "import tensorflow": [sys.executable, "-c", "import tensorflow"],
            "kedro run --nodes compute_metrics": [
                str(KEDRO),
                "run",
                "--nodes",
                "compute_metrics",
            ],
        }
        samples = {name: [] for name in ways}
        for _ in range(args.repeats):
            for name, command in ways.items():
                sample = measured(command, project)
                if sample["exit_code"] != 0:
                    sys.exit(f"{name} failed:\n{sample['output'][-3000:]}")
                samples[name].append(sample)
        offline = measured(
            [
                str(KEDRO),
                "run",
                "--pipelines",
                "ingestion",
                "--params",
                f"ingestion.idx_dir={Path(folder) / 'no-idx-files'}",
            ],
            project,
            NO_NETWORK,
        )
        dataset_offline = measured(
            [sys.executable, "-c", DATASET_OFFLINE], Path(folder), NO_NETWORK
        )
        results["mlflow_ui"] = {"the project's": mlflow_ui(project, {})}
        if args.ui_baseline:
            results["mlflow_ui"]["MLflow's defaults"] = mlflow_ui(
                project, MLFLOW_DEFAULTS
            )
    start_up = {
        name: {
            "median_seconds": round(statistics.median(s["seconds"] for s in runs), 2),
            "median_peak_rss_mb": statistics.median(s["peak_rss_mb"] for s in runs),
            "seconds": [s["seconds"] for s in runs],
        }
        for name, runs in samples.items()
    }
    bare, node = (start_up[name]["median_seconds"] for name in ways)
    start_up["node / import tensorflow"] = round(node / bare, 2)
    results["start_up"] = start_up
    report("A node without TensorFlow against importing it", start_up)
    said_so = "Cannot download mnist" in offline["output"]
    results["offline_failure"] = {
        "kedro run --pipelines ingestion": {
            "seconds": offline["seconds"],
            "says_it_cannot_download": said_so,
        },
        "the dataset alone": {"seconds": dataset_offline["seconds"]},
    }
    report("No IDX files, no network", results["offline_failure"])
    report("kedro mlflow ui", results["mlflow_ui"])
    if offline["exit_code"] == 0 or not said_so:
        sys.exit(
            f"the offline run did not fail as expected:\n{offline['output'][-3000:]}"
        )
    if "Cannot download mnist" not in dataset_offline["output"]:
        sys.exit(
            f"the dataset did not fail as expected:\n{dataset_offline['output'][-3000:]}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def tiny_run(destination: Path, idx_dir: Path) -> Path:
    """A copy of the project whose run went up to the metrics, on 1,000 images."""
    project = copy_project(destination)
    prepared = measured(
        [
            str(KEDRO),
            "run",
            "--to-nodes",
            "compute_metrics",
            "--params",
            f"ingestion.idx_dir={idx_dir},preprocessing.train_limit=1000,"
            "training.presets.fast.epochs=2,training.presets.fast.warmup_epochs=1",
        ],
        project,
    )
    if prepared["exit_code"] != 0:
        sys.exit(f"the preparing run failed:\n{prepared['output'][-3000:]}")
    return project


def mlflow_ui(project: Path, environment: dict[str, str]) -> dict:
    """``kedro mlflow ui`` from its start until the page and the runs'
    search answer, then its processes and their total RSS."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    server = subprocess.Popen(
        [str(KEDRO), "mlflow", "ui", "--port", str(port)],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={
            **{
                name: value
                for name, value in os.environ.items()
                if name not in MLFLOW_ENVIRONMENT  # the project's hook sets them
            },
            # `mlflow ui` of this environment, whichever is on the PATH
            "PATH": f"{KEDRO.parent}{os.pathsep}{os.environ['PATH']}",
            "KEDRO_DISABLE_TELEMETRY": "1",
            **environment,
        },
    )
    try:
        for path in ("/", "/ajax-api/2.0/mlflow/experiments/search?max_results=10"):
            while True:
                try:
                    urllib.request.urlopen(url + path, timeout=10).close()
                    break
                except OSError:
                    if server.poll() is not None or time.perf_counter() > started + 180:
                        sys.exit("kedro mlflow ui did not answer within 180 s")
                    time.sleep(0.2)
        seconds = time.perf_counter() - started
        time.sleep(5)  # every worker started
        group = [
            process
            for process in psutil.process_iter()
            if os.getpgid(process.pid) == server.pid
        ]
        resident = sum(process.memory_info().rss for process in group)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    return {
        "seconds_to_answer": round(seconds, 1),
        "processes": len(group),
        "total_rss_mb": round(resident / 2**20),
    }


if __name__ == "__main__":
    main()
