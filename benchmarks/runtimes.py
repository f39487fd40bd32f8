"""The prediction service's runtimes side by side, in one run: TensorFlow (the
traced ``tf.function`` of the Keras model), ONNX Runtime and LiteRT (the
export pipeline's files, without TensorFlow).

For each runtime, in fresh processes, alternated, ``--repeats`` times: the
start-up (a new Python process until the model has answered its first image),
the resident memory then, and the latency of one image in process (p50, p99
over ``--calls``); then the service's load test at ``--concurrency`` clients
(``load_test.py``, its throughput and client p99). Medians are printed, and
every figure written to ``--json``.

    python benchmarks/runtimes.py --idx-dir ../shared/data/mnist

after a ``kedro run`` (``--project-path``, default this folder, with the
``export`` extra installed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import machine, report, script_arguments

RUNTIMES = ["tensorflow", "onnx", "litert"]
HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument("--project-path", type=Path, default=Path.cwd())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    # Internal: measure one runtime in this (fresh) process.
    parser.add_argument("--worker", choices=RUNTIMES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    report("Machine", {"this run": machine()})
    project = args.project_path.resolve()
    if args.worker:
        print(json.dumps(in_process(project, args.worker, args.calls)))  # noqa: T201
        return

    rounds = {runtime: [] for runtime in RUNTIMES}
    for _ in range(args.repeats):
        for runtime in RUNTIMES:  # alternated, so a slow phase hits all alike
            rounds[runtime].append(
                one_round(project, runtime, args.calls)
                | load_test(project, runtime, args)
            )
    figures = {
        runtime: {
            name: statistics.median(result[name] for result in results)
            for name in results[0]
        }
        | {"rounds": results}
        for runtime, results in rounds.items()
    }
    report(
        f"Serving runtimes (medians of {args.repeats} alternated rounds)",
        {
            runtime: {k: v for k, v in values.items() if k != "rounds"}
            for runtime, values in figures.items()
        },
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def one_round(project: Path, runtime: str, calls: int) -> dict:
    """Start-up, memory and latency of ``runtime`` in a fresh process."""
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            str(HERE / "runtimes.py"),
            "--worker",
            runtime,
            "--project-path",
            str(project),
            "--calls",
            str(calls),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["process_seconds"] = round(time.perf_counter() - started, 2)
    return figures


def in_process(project: Path, runtime: str, calls: int) -> dict:
    """In this fresh process: the service's model loaded on ``runtime``, then
    ``calls`` predictions of one real test image each."""
    started = time.perf_counter()
    import numpy as np  # noqa: PLC0415 (timed from here)

    from mnist_kedro.model.tensorflow_settings import (  # noqa: PLC0415
        limit_tensorflow_threads,
        set_tensorflow_environment,
    )
    from mnist_kedro.serving.model import load_served_model  # noqa: PLC0415

    set_tensorflow_environment()  # as the service does
    if runtime == "tensorflow":
        limit_tensorflow_threads()
    served = load_served_model(project, runtime=runtime)
    images = np.load(project / "data/05_model_input/x_test.npy")[:100]
    served.predict(images[:1])
    startup = time.perf_counter() - started
    resident_mb = _resident_mb()
    latencies = []
    for call in range(calls):
        image = images[call % len(images)][np.newaxis]
        before = time.perf_counter()
        served.predict(image)
        latencies.append((time.perf_counter() - before) * 1000)
    return {
        "startup_seconds": round(startup, 2),
        "resident_mb": round(resident_mb),
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 4),
        "latency_ms_p99": round(float(np.percentile(latencies, 99)), 4),
        "tensorflow_imported": "tensorflow" in sys.modules,
    }


def _resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def load_test(project: Path, runtime: str, args) -> dict:
    """``load_test.py`` against the service on ``runtime``."""
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "load.json"
        subprocess.run(
            [
                sys.executable,
                str(HERE / "load_test.py"),
                "--idx-dir",
                str(args.idx_dir),
                "--project-path",
                str(project),
                "--runtime",
                runtime,
                "--requests",
                str(args.requests),
                "--concurrency",
                str(args.concurrency),
                "--json",
                str(output),
            ],
            capture_output=True,
            check=True,
        )
        figures = json.loads(output.read_text())
    return {
        "load_predictions_per_second": figures["predictions_per_second"],
        "load_latency_ms_p99": figures["latency_ms_p99"],
        "load_errors": figures["errors"],
    }


if __name__ == "__main__":
    main()
