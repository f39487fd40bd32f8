"""Which members `best` should train, chosen on the validation set only:

    python benchmarks/ensemble_selection.py --project PATH --budget-minutes 55

``PATH``: a copy of the project whose latest ``kedro run --pipelines best``
trained the candidates, any number of members of any presets (its own
``conf/base/parameters_ensemble.yml`` and ``MEMBERS``). Every ensemble of the
first k members of each preset is scored: validation accuracy and log loss,
test accuracy, training minutes (each member's from its history, two at a
time). The one chosen is the most accurate on validation, then the lowest
validation loss, among those that train within ``--budget-minutes`` (issue 21:
8× the reference's training time); the test accuracy is printed beside it,
never used to choose, and so is the validation accuracy's standard error:
compositions closer than that are not told apart by 6,000 images.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from run import PROJECT, in_worker, machine, report

PARALLEL = 2  # members trained at a time: ParallelRunner's workers on 2 cores
SHOWN = 12


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--budget-minutes", type=float, required=True)
    parser.add_argument(
        "--json",
        type=Path,
        default=PROJECT / "data" / "08_reporting" / "ensemble_selection.json",
    )
    args = parser.parse_args()
    project = args.project.resolve()
    if not (project / "data/06_models/ensemble").is_dir():
        parser.error(
            f"{project} has no trained members: run `kedro run --pipelines best` there first"
        )
    report("Machine", {"this run": machine()})
    figures = in_worker(
        "ensemble_selection",
        project=str(project),
        budget_seconds=60 * args.budget_minutes,
        parallel=PARALLEL,
    )
    report(
        f"Ensembles, most accurate on validation first (top {SHOWN})",
        {
            " + ".join(f"{n} {preset}" for preset, n in row["members"].items() if n): {
                key: value for key, value in row.items() if key != "members"
            }
            for row in figures["compositions"][:SHOWN]
        },
    )
    report(
        "Chosen",
        {
            "within the budget": figures["chosen"],
            "validation's resolution": "±{:.2%} (one standard error)".format(
                figures["val_accuracy_standard_error"]
            ),
        },
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))
    print(f"\nAll figures: {args.json}")  # noqa: T201


if __name__ == "__main__":
    main()
