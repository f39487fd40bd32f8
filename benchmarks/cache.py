"""What ``kedro run --cache`` saves, on this machine.

    python benchmarks/cache.py --idx-dir ../shared/data/mnist

In a copy of the project in a temporary folder (or in ``--project``, a project
whose cached runs are already recorded):

1. the default run with ``--cache``, from nothing: every node runs, and its
   planning (hashing the raw data and the code) is the cost of keying;
2. the same run again, unchanged: nothing runs;
3. a change of one evaluation setting (``evaluation.grid_size``): only the two
   figures that read it run.

Each as wall time, peak RSS and the planning time that the run logs; 2 and 3
also as a ratio of 1 (the issue aims at 10 % and 15 %).
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

from run import KEDRO, copy_project, machine, measured, report, script_arguments

PLANNED = re.compile(
    r"Cache: (\d+) of (\d+) nodes reused, (\d+) to run \(planned in ([\d.]+) s\)"
)


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument(
        "--project", type=Path, help="a project already run with --cache"
    )
    parser.add_argument(
        "--params", default="", help="more runtime parameters, e.g. for a quick run"
    )
    parser.add_argument(
        "--json", type=Path, default=Path("data/08_reporting/cache.json")
    )
    args = parser.parse_args()
    params = ",".join(
        filter(None, [f"ingestion.idx_dir={args.idx_dir.resolve()}", args.params])
    )
    results = {"machine": machine()}
    report("Machine", {"this run": results["machine"]})
    with tempfile.TemporaryDirectory(prefix="mnist-kedro-cache-") as folder:
        project = args.project or copy_project(Path(folder) / "project")
        runs = {}
        if args.project is None:
            runs["first run"] = cached_run(project, params)
        runs["unchanged"] = cached_run(project, params)
        runs["evaluation.grid_size=3"] = cached_run(
            project, f"{params},evaluation.grid_size=3"
        )
    if "first run" in runs:
        for name in ("unchanged", "evaluation.grid_size=3"):
            runs[name]["of_first_run"] = round(
                runs[name]["seconds"] / runs["first run"]["seconds"], 3
            )
    results["cached_runs"] = runs
    report("kedro run --cache", runs)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"\nAll figures: {args.json}")  # noqa: T201


def cached_run(project: Path, params: str) -> dict:
    run = measured([str(KEDRO), "run", "--cache", "--params", params], project)
    planned = PLANNED.search(run["output"])
    if run["exit_code"] != 0 or planned is None:
        sys.exit(
            f"kedro run --cache --params {params} failed:\n{run['output'][-3000:]}"
        )
    reused, nodes, ran, seconds = planned.groups()
    return {
        "seconds": run["seconds"],
        "peak_rss_mb": run["peak_rss_mb"],
        "nodes_run": int(ran),
        "nodes_reused": int(reused),
        "of_nodes": int(nodes),
        "planning_seconds": float(seconds),
    }


if __name__ == "__main__":
    main()
