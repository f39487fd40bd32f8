"""Test accuracy against training time of ensembles of 1 … 4 members, for each
design (preset) of member, on the real MNIST:

    python benchmarks/ensemble_sizes.py --idx-dir ../shared/data/mnist --presets fast deep

For each preset, ``kedro run --pipelines best`` in a copy of the project in a
temporary folder, every member switched to that preset (members two at a
time under ``ParallelRunner``, one TensorFlow thread each, as docs/ensemble.md runs
``best``); or, with ``--project``, the latest ``best`` run already in that
project, whose members trained the one preset given. Then the test accuracy of
the average of the first k members, for k = 1 … 4, against their training
time: each member's from its history, two members at a time.

Writes the figures into ``--json`` (adding to the presets already there) and
draws every preset of that file into ``--plot``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml
from matplotlib.figure import Figure
from run import (
    KEDRO,
    PROJECT,
    copy_project,
    in_worker,
    machine,
    report,
    script_arguments,
    timed,
)

PARALLEL = 2  # members trained at a time: ParallelRunner's workers on 2 cores


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument("--presets", nargs="+", default=["fast", "deep"])
    parser.add_argument(
        "--project", type=Path, help="analyse the latest best run of this project"
    )
    parser.add_argument(
        "--params", default="", help="more --params for the runs (quick checks)"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=PROJECT / "data" / "08_reporting" / "ensemble_sizes.json",
    )
    parser.add_argument(
        "--plot", type=Path, default=PROJECT / "docs" / "ensemble_sizes.png"
    )
    args = parser.parse_args()
    report("Machine", {"this run": machine()})
    if args.project and len(args.presets) != 1:
        parser.error("--project takes the one preset its members trained")

    figures = json.loads(args.json.read_text()) if args.json.exists() else {}
    for preset in args.presets:
        if args.project:
            figures[preset] = {"rows": sizes(args.project.resolve())}
        else:
            figures[preset] = train_and_measure(
                preset, args.idx_dir.resolve(), args.params
            )
        report(
            f"{preset}: members, test accuracy, training minutes",
            {row["members"]: row for row in figures[preset]["rows"]},
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))
    draw(figures, args.plot)
    print(f"\nAll figures: {args.json}; plot: {args.plot}")  # noqa: T201


def train_and_measure(preset: str, idx_dir: Path, extra_params: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="mnist-kedro-ensembles-") as folder:
        project = copy_project(Path(folder) / "project")
        params = [
            f"ingestion.idx_dir={idx_dir}",
            "training.threads=1",
            *(f"ensemble.{member}.changes.model={preset}" for member in member_names()),
            *filter(None, extra_params.split(",")),
        ]
        run = timed(
            [
                str(KEDRO),
                "run",
                "--pipelines",
                "best",
                "--runner",
                "ParallelRunner",
                "--params",
                ",".join(params),
            ],
            project,
        )
        return {"whole_run": run, "rows": sizes(project)}


def sizes(project: Path) -> list[dict]:
    members = in_worker("ensemble_members", project=str(project))
    rows = []
    for count in range(1, len(members["training_seconds"]) + 1):
        seconds = members["training_seconds"][:count]
        # Two at a time: each pair takes as long as its slower member.
        wall = sum(
            max(seconds[start : start + PARALLEL])
            for start in range(0, count, PARALLEL)
        )
        rows.append(
            {
                "members": count,
                "test_accuracy": members["ensemble_test_accuracy"][count - 1],
                "training_minutes": round(wall / 60, 2),
            }
        )
    return rows


def member_names() -> list[str]:
    parameters = (PROJECT / "conf/base/parameters_ensemble.yml").read_text()
    return list(yaml.safe_load(parameters)["ensemble"])


def draw(figures: dict, path: Path) -> None:
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    for preset, measured in figures.items():
        minutes = [row["training_minutes"] for row in measured["rows"]]
        accuracy = [100 * row["test_accuracy"] for row in measured["rows"]]
        axes.plot(minutes, accuracy, "o-", label=preset)
        for row, x, y in zip(measured["rows"], minutes, accuracy):
            axes.annotate(
                str(row["members"]), (x, y), textcoords="offset points", xytext=(4, -10)
            )
    axes.set_xlabel("training wall time (minutes, 2 members at a time, 2 cores)")
    axes.set_ylabel("test accuracy (%)")
    axes.set_title("Ensembles of 1 … 4 members")
    axes.grid(alpha=0.3)
    axes.legend(title="member preset")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
