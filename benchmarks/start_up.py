"""What a Kedro run costs before its node does anything, on this machine.

    python benchmarks/start_up.py --idx-dir ../shared/data/mnist

In a copy of the project in a temporary folder, after a tiny run up to the
metrics (1,000 training images, one epoch):

1. ``kedro run --nodes compute_metrics`` (a node that reads CSV files and
   writes JSON, as each evaluation task on Airflow runs it) against a bare
   ``python -c "import tensorflow"``, alternated, each a fresh process: wall
   time and peak RSS, medians of ``--repeats``, and their ratio;
2. the time to the message that MNIST cannot be downloaded (no IDX files and
   no network), the first thing a user without the files sees.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import KEDRO, copy_project, machine, report, script_arguments

NO_NETWORK = {"HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    idx_dir = args.idx_dir.resolve()
    if not idx_dir.is_dir():
        sys.exit(f"{idx_dir} is not a folder: pass --idx-dir, the MNIST IDX files")

    results = {"machine": machine()}
    report("Machine", {"this run": results["machine"]})
    with tempfile.TemporaryDirectory(prefix="mnist-kedro-start-up-") as folder:
        project = copy_project(Path(folder) / "project")
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
            sys.exit(f"the preparing run failed:\n{prepared['output']}")
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
                    sys.exit(f"{name} failed:\n{sample['output']}")
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
        "seconds": offline["seconds"],
        "says_it_cannot_download": said_so,
    }
    report("No IDX files, no network", results["offline_failure"])
    if offline["exit_code"] == 0 or not said_so:
        sys.exit(f"the offline run did not fail as expected:\n{offline['output']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def measured(command: list[str], cwd: Path, env: dict | None = None) -> dict:
    """Wall time, peak RSS, exit code and output of a command."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", **(env or {})},
    )
    output = process.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "exit_code": os.waitstatus_to_exitcode(status),
        "output": output[-3000:],
    }


if __name__ == "__main__":
    main()
