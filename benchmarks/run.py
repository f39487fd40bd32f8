"""Benchmarks of mnist-kedro on the real MNIST, each figure measured in this run.

    python benchmarks/run.py --idx-dir ../shared/data/mnist

In a copy of the project in a temporary folder (your ``data/`` is untouched):

0. today's default against the reference of ``reference_training.yml`` (the
   default of 2026-12-01): full ``kedro run``s from nothing of each, alternated
   ``--whole-runs`` times: wall time and peak RSS (medians), test accuracy;
   then each one's test accuracy after every epoch (time to 99.0 % and
   99.5 %); the ratios;
1. a full default ``kedro run`` and each stage alone: wall time and peak RSS;
   each stage's no-op run (every output present) as Kedro's start-up for it;
   then ``best``'s training (the ``ensemble`` pipeline under ``ParallelRunner``)
   against the default's and the reference's (issue 21 gives it 8× the
   reference's), and the ensemble's test accuracy and its members';
2. training throughput of the project's training node against a plain Keras
   ``model.fit`` of the same model on the same NumPy arrays (fresh processes,
   alternated, median of ``--repeats``);
3. for each model preset, test accuracy after every epoch, hence the training
   time to reach 99.0 % and 99.5 %;
4. single-image latency and batch throughput of the way the service predicts
   (one traced ``tf.function``, TensorFlow on one thread) against ``model.predict``;
5. with ``--sections experiments``: training throughput of the default preset fed by
   NumPy or ``tf.data``, with and without XLA, at other batch sizes and thread
   counts, and with oneDNN off.

Prints a table per section and writes every figure to ``--json``. Whatever
needs TensorFlow runs in ``workers.py``, each measurement in a fresh process.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import yaml

from mnist_kedro.model.tensorflow_settings import (
    TENSORFLOW_ENVIRONMENT,
    cpu_info,
    set_tensorflow_environment,
)

PROJECT = Path(__file__).resolve().parents[1]
KEDRO = Path(sys.executable).parent / "kedro"
STAGES = ["ingestion", "preprocessing", "training", "evaluation"]
SECTIONS = [
    "reference",
    "kedro_runs",
    "best",
    "throughput",
    "time_to_accuracy",
    "inference",
    "experiments",
]
# The training that today's default is measured against (section 0).
REFERENCE_TRAINING = Path(__file__).with_name("reference_training.yml")
TARGETS = (0.99, 0.995)


# ---------------------------------------------------------------- the driver


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument(
        "--presets", nargs="+", help="presets to time to accuracy (default: all)"
    )
    parser.add_argument(
        "--stages",
        nargs="+",
        choices=STAGES,
        default=STAGES,
        help="the stages timed alone after the full run (default: all)",
    )
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        default=[section for section in SECTIONS if section != "experiments"],
        help="what to measure (default: all but experiments)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--whole-runs",
        type=int,
        default=3,
        help="whole runs of the default and of the reference, alternated (medians)",
    )
    parser.add_argument("--throughput-epochs", type=int, default=2)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes: checks that every benchmark runs, measures nothing useful",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=PROJECT / "data" / "08_reporting" / "benchmarks.json",
    )
    args = parser.parse_args()
    set_tensorflow_environment()  # for every process that it starts

    idx_dir = args.idx_dir.resolve()
    if not idx_dir.is_dir():
        sys.exit(f"{idx_dir} is not a folder: pass --idx-dir, the MNIST IDX files")
    presets = args.presets or list(configured_training()["presets"])
    results = {"machine": machine()}
    report("Machine", {"this run": results["machine"]})
    sections = set(args.sections)
    with tempfile.TemporaryDirectory(prefix="mnist-kedro-bench-") as folder:
        quick = smoke_params() if args.smoke else {}
        if "reference" in sections:
            results["reference"] = against_reference(
                Path(folder), idx_dir, quick, args.smoke, args.whole_runs
            )
            report("Today's default against the reference", results["reference"])
        if sections - {"reference"}:  # the others need the default run's arrays
            project = copy_project(Path(folder) / "project")
            results["kedro_runs"] = kedro_runs(project, idx_dir, quick, args.stages)
            report("Kedro runs", results["kedro_runs"])
            arrays = project / "data" / "05_model_input"
        if "best" in sections:
            results["best"] = best_ensemble(
                project,
                results["kedro_runs"]["training"]["seconds"],
                reference_training_seconds(project, Path(folder), idx_dir, quick),
                args.smoke,
            )
            report(
                "best: the ensemble against the default and the reference",
                results["best"],
            )
        if "throughput" in sections:
            results["training_throughput"] = training_throughput(
                arrays, args.repeats, args.throughput_epochs
            )
            report("Training throughput (images/s)", results["training_throughput"])
        if "time_to_accuracy" in sections:
            results["time_to_accuracy"] = {
                preset: time_to_accuracy(arrays, preset, args.smoke)
                for preset in presets
            }
            report(
                "Time to accuracy (test set after every epoch)",
                results["time_to_accuracy"],
            )
        if "inference" in sections:
            # The first model, the default preset's, a plain CNN as served.
            model = min((project / "data/06_models/mnist_cnn.keras").iterdir())
            results["inference"] = inference(
                model / "mnist_cnn.keras", arrays, args.smoke
            )
            report("Inference", results["inference"])
        if "experiments" in sections:
            results["experiments"] = experiments(arrays, args.repeats)
            report("Training experiments (images/s)", results["experiments"])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"\nAll figures: {args.json}")  # noqa: T201


def script_arguments(description: str) -> argparse.ArgumentParser:
    """The command line of a benchmark script, with the ``--idx-dir`` they share."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--idx-dir",
        type=Path,
        default=Path(os.environ.get("MNIST_IDX_DIR", "data/01_raw/mnist")),
        help="the folder of the four MNIST IDX files (default: $MNIST_IDX_DIR)",
    )
    return parser


def configured_training() -> dict:
    return yaml.safe_load((PROJECT / "conf/base/parameters_training.yml").read_text())[
        "training"
    ]


# The instruction sets that decide how fast TensorFlow's CPU kernels run.
INSTRUCTION_SETS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
)


def machine() -> dict:
    """The machine the figures come from: a speed is only comparable with one
    measured on the same CPU."""
    fields = cpu_info()
    flags = set(fields.get("flags", "").split())
    return {
        "cpu": fields.get("model name", platform.processor() or platform.machine()),
        "cpus": os.cpu_count(),
        "instruction_sets": " ".join(f for f in INSTRUCTION_SETS if f in flags)
        or "none of " + ", ".join(INSTRUCTION_SETS),
        "tensorflow": version("tensorflow"),
        # What the project's commands set, unless the environment says otherwise.
        "onednn": os.environ.get(
            "TF_ENABLE_ONEDNN_OPTS", TENSORFLOW_ENVIRONMENT["TF_ENABLE_ONEDNN_OPTS"]
        ),
    }


def copy_project(destination: Path, training: Path | None = None) -> Path:
    """The project's configuration with an empty ``data/``; the code is the
    installed package. ``training``: a file that replaces the copy's
    ``conf/base/parameters_training.yml`` (not one in ``conf/local/``: Kedro
    merges ``--params`` into each environment's parameters before it merges
    them, so there a ``--params`` of another section would replace that
    section of ``base``)."""
    shutil.copytree(PROJECT / "conf", destination / "conf")
    if training is not None:
        shutil.copy(training, destination / "conf/base/parameters_training.yml")
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(PROJECT / name, destination / name)
    (destination / "src").mkdir()
    (destination / "data").mkdir()
    return destination


def smoke_params() -> dict:
    """Runtime parameters of a tiny run, for ``--smoke``."""
    model = configured_training()["model"]
    return {
        "preprocessing.train_limit": 2000,
        f"training.presets.{model}.epochs": 2,
    }


def report(title: str, section: dict) -> None:
    print(f"\n{title}")  # noqa: T201
    for name, figures in section.items():
        shown = (
            figures
            if not isinstance(figures, dict)
            else ", ".join(
                f"{key} {value}" for key, value in figures.items() if key != "curve"
            )
        )
        print(f"  {name:<28} {shown}")  # noqa: T201


# ------------------------------------------- 0. the default against the reference


def against_reference(
    folder: Path, idx_dir: Path, quick: dict, smoke: bool, runs: int
) -> dict:
    """Today's default and the reference (``reference_training.yml``), each a
    whole ``kedro run`` from nothing in a copy of the project of its own,
    alternated ``runs`` times (medians), then each one's test accuracy after
    every epoch; the default's figures as ratios of the reference's."""
    trainings = {"reference": REFERENCE_TRAINING, "default": None}
    whole_runs = {name: [] for name in trainings}
    for repeat in range(runs):
        for name, parameters in trainings.items():
            copy = copy_project(folder / f"{name}_{repeat}", parameters)
            whole_runs[name].append(full_run(copy, idx_dir, quick))
            if repeat:  # the first copy's arrays serve the curves below
                shutil.rmtree(copy)
    curves = {}
    for name, parameters in trainings.items():
        training = (
            yaml.safe_load(parameters.read_text())["training"] if parameters else None
        )
        curves[name] = time_to_accuracy(
            folder / f"{name}_0" / "data/05_model_input", None, smoke, training
        )
    results = {
        name: {
            "wall_seconds": statistics.median(
                run["seconds"] for run in whole_runs[name]
            ),
            "wall_seconds_each": [run["seconds"] for run in whole_runs[name]],
            "peak_rss_mb": statistics.median(
                run["peak_rss_mb"] for run in whole_runs[name]
            ),
            # The same on one machine, run after run (deterministic training).
            "test_accuracy": whole_runs[name][0]["test_accuracy"],
            "test_accuracy_each": [run["test_accuracy"] for run in whole_runs[name]],
            **{key: curves[name][key] for key in ("epochs", "to_99.0%", "to_99.5%")},
            "curve": curves[name]["curve"],
        }
        for name in trainings
    }
    reference, default = results["reference"], results["default"]
    results["default / reference"] = {
        "wall_time": round(default["wall_seconds"] / reference["wall_seconds"], 3),
        "test_accuracy_points": round(
            100 * (default["test_accuracy"] - reference["test_accuracy"]), 3
        ),
        "peak_rss": round(default["peak_rss_mb"] / reference["peak_rss_mb"], 3),
        **{
            f"time_{target}": round(default[target] / reference[target], 3)
            if all(isinstance(run[target], float) for run in (default, reference))
            else "not reached"
            for target in ("to_99.0%", "to_99.5%")
        },
    }
    return results


# ------------------------------------------------------------ 1. Kedro runs


def kedro_runs(project: Path, idx_dir: Path, quick: dict, stages: list[str]) -> dict:
    """The full run, then each stage alone, and each stage again with every
    output present (``--only-missing-outputs``): a no-op run, Kedro's start-up
    for that stage, which the stage's own work is compared with."""
    run = kedro_run(idx_dir, quick)
    runs = {"full run": full_run(project, idx_dir, quick)}
    for stage in stages:
        alone = timed([*run, "--pipelines", stage], project)
        no_op = timed([*run, "--pipelines", stage, "--only-missing-outputs"], project)
        runs[stage] = {
            **alone,
            "no_op_seconds": no_op["seconds"],
            "own_work_seconds": round(alone["seconds"] - no_op["seconds"], 1),
            "start_up_share": round(no_op["seconds"] / alone["seconds"], 3),
        }
    return runs


def kedro_run(idx_dir: Path, quick: dict) -> list[str]:
    """``kedro run`` on the IDX files of ``idx_dir``, with the ``quick`` parameters."""
    params = {"ingestion.idx_dir": idx_dir, **quick}
    return [
        str(KEDRO),
        "run",
        "--params",
        ",".join(f"{key}={value}" for key, value in params.items()),
    ]


def full_run(project: Path, idx_dir: Path, quick: dict) -> dict:
    """Wall time, peak RSS and test accuracy of a whole ``kedro run``."""
    run = timed(kedro_run(idx_dir, quick), project)
    metrics = latest(project / "data/08_reporting/metrics.json")
    return {**run, "test_accuracy": json.loads(metrics.read_text())["test_accuracy"]}


def timed(command: list[str], cwd: Path, env: dict | None = None) -> dict:
    """Wall time and peak RSS of a command, which must succeed."""
    run = measured(command, cwd, env)
    if run["exit_code"] != 0:
        sys.exit(f"{' '.join(command)} failed:\n{run['output'][-3000:]}")
    return {"seconds": round(run["seconds"], 1), "peak_rss_mb": run["peak_rss_mb"]}


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
        "output": output,
    }


def in_worker(task: str, env: dict | None = None, **task_args) -> dict:
    """``task`` in a fresh Python process."""
    result = subprocess.run(
        [
            sys.executable,
            Path(__file__).with_name("workers.py"),
            task,
            json.dumps(task_args),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        sys.exit(f"the {task} benchmark failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def reference_training_seconds(
    project: Path, folder: Path, idx_dir: Path, quick: dict
) -> float:
    """The reference's training (``reference_training.yml``, the ``training``
    pipeline alone, as the default's is timed above) on the arrays of
    ``project``: issue 21 gives ``best`` 8× it."""
    reference = copy_project(folder / "reference_training", REFERENCE_TRAINING)
    arrays = "data/05_model_input"  # all that the training pipeline reads
    shutil.copytree(project / arrays, reference / arrays)
    run = timed([*kedro_run(idx_dir, quick), "--pipelines", "training"], reference)
    shutil.rmtree(reference)
    return run["seconds"]


def best_ensemble(
    project: Path,
    default_training_seconds: float,
    reference_seconds: float,
    smoke: bool,
) -> dict:
    """``best``'s training (the ``ensemble`` pipeline alone: its members two at
    a time under ``ParallelRunner``, one TensorFlow thread each, then their
    combination) against the default preset's (the ``training`` pipeline alone,
    timed above) and the reference's, then the evaluation of the ensemble."""
    params = "training.threads=1"
    if smoke:
        params += (
            ",training.presets.deep.epochs=1,training.presets.deep.warmup_epochs=0"
        )
    run = [str(KEDRO), "run", "--params", params]
    training = timed(
        [*run, "--pipelines", "ensemble", "--runner", "ParallelRunner"], project
    )
    timed([*run, "--pipelines", "evaluation"], project)
    reports = project / "data/08_reporting"
    metrics = json.loads(latest(reports / "metrics.json").read_text())
    with latest(reports / "ensemble/member_accuracies.csv").open() as table:
        members = {
            row["model"]: round(float(row["test_accuracy"]), 4)
            for row in csv.DictReader(table)
        }
    return {
        "training": {
            **training,
            "vs_default_training": round(
                training["seconds"] / default_training_seconds, 2
            ),
            "reference_training_seconds": reference_seconds,
            "vs_reference_training": round(training["seconds"] / reference_seconds, 2),
        },
        "test_accuracy": {**members, "evaluation": metrics["test_accuracy"]},
    }


def latest(dataset: Path) -> Path:
    """The latest version's file of a versioned dataset (versions sort by time)."""
    return max(dataset.iterdir()) / dataset.name


# --------------------------------------------------- 2. training throughput


def training_throughput(arrays: Path, repeats: int, epochs: int) -> dict:
    """The node, as configured and without op determinism, against plain
    ``model.fit``, alternated so that all see the same drift of a noisy
    machine; each ratio is the median of the rounds' ratios."""
    ways = {
        "node": {"feed": "node"},
        "node, op determinism off": {"feed": "node", "deterministic": False},
        "plain model.fit": {"feed": "numpy"},
    }
    speeds = {way: [] for way in ways}
    for _ in range(repeats):
        for way, variant in ways.items():
            figures = in_worker(
                "throughput",
                arrays=str(arrays),
                epochs=epochs,
                preset="seed",
                **variant,
            )
            speeds[way].append(figures["images_per_second"])
    results = {
        way: {"median": round(statistics.median(runs)), "runs": runs}
        for way, runs in speeds.items()
    }
    for way in ("node", "node, op determinism off"):
        ratios = [a / b for a, b in zip(speeds[way], speeds["plain model.fit"])]
        results[f"{way} / plain"] = {"ratio": round(statistics.median(ratios), 3)}
    return results


# ------------------------------------------------------ 3. time to accuracy


def time_to_accuracy(
    arrays: Path, preset: str | None, smoke: bool, training: dict | None = None
) -> dict:
    """``preset`` (default: the configured model) of ``training`` (default: the
    project's) trained on ``arrays`` with the test set evaluated after every epoch."""
    epochs = 2 if smoke else None
    curve = in_worker(
        "accuracy_curve",
        arrays=str(arrays),
        preset=preset,
        epochs=epochs,
        training=training,
    )
    reached = {
        f"to_{target:.1%}": next(
            (point["minutes"] for point in curve if point["test_accuracy"] >= target),
            "not reached",
        )
        for target in TARGETS
    }
    return {
        "epochs": len(curve),
        "minutes": curve[-1]["minutes"],
        "final_test_accuracy": curve[-1]["test_accuracy"],
        "best_test_accuracy": max(point["test_accuracy"] for point in curve),
        **reached,
        "curve": curve,
    }


# ---------------------------------------------------------------- 4. inference


def inference(model_file: Path, arrays: Path, smoke: bool) -> dict:
    calls = 50 if smoke else 1000
    return {
        "service (tf.function, 1 thread)": in_worker(
            "inference",
            model_file=str(model_file),
            arrays=str(arrays),
            way="service",
            calls=calls,
        ),
        "model.predict": in_worker(
            "inference",
            model_file=str(model_file),
            arrays=str(arrays),
            way="predict",
            calls=calls // 10,
        ),
    }


# -------------------------------------------------------------- 5. experiments


def experiments(arrays: Path, repeats: int) -> dict:
    """Throughput of plain ``model.fit`` variants of the default preset's model,
    2 epochs each; the baseline (NumPy feed, Keras's defaults) runs beside each
    variant."""
    default = {
        "arrays": str(arrays),
        "epochs": 2,
        "preset": configured_training()["model"],
    }
    variants = {
        "tf.data batches": {"feed": "tf.data"},
        "XLA (jit_compile)": {"feed": "numpy", "jit_compile": True},
        "batch size 64": {"feed": "numpy", "batch_size": 64},
        "batch size 256": {"feed": "numpy", "batch_size": 256},
        "1 TensorFlow thread": {"feed": "numpy", "threads": 1},
        "oneDNN off": {"feed": "numpy", "env": {"TF_ENABLE_ONEDNN_OPTS": "0"}},
    }
    results = {}
    for name, variant in variants.items():
        env = variant.pop("env", None)
        ratios, speeds = [], []
        for _ in range(max(1, repeats // 2)):
            base = in_worker("throughput", feed="numpy", **default)
            speed = in_worker("throughput", env=env, **default, **variant)
            speeds.append(speed["images_per_second"])
            ratios.append(speed["images_per_second"] / base["images_per_second"])
        results[name] = {
            "median": round(statistics.median(speeds)),
            "vs_baseline": round(statistics.median(ratios), 3),
        }
    return results


if __name__ == "__main__":
    main()
