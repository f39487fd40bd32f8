"""What each task of the project's Airflow DAG runs (``templates/airflow_dag.j2``,
``kedro airflow create``): its Kedro nodes, in a Kedro session of its own.

Three things make the tasks of one DAG run behave as one ``kedro run``:

- the DAG run's ``conf`` is the session's runtime parameters (what
  ``kedro run --params`` would be): ``{"training.presets.fast.epochs": 3}`` or
  the same nested;
- each task loads the versions of its inputs that its upstream tasks saved in
  this DAG run (handed down as the tasks' return values, Airflow's XComs), not
  the latest ones, which another DAG run may have saved meanwhile;
- all of them log into one MLflow run, tagged with the DAG run: the DAG's
  first root task (by task id) starts it, every other task finds it by its tags,
  waiting for it if need be (two roots starting together would otherwise start
  two); kedro-mlflow logs into a run that is already active.

Airflow and the project are imported when a task runs, not when Airflow parses
the DAG file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

PROJECT_PATH_VARIABLE = "MNIST_KEDRO_PROJECT_PATH"
# How long a task waits for the first root task to start the MLflow run before
# starting one of its own (that task would be stuck or gone).
MLFLOW_RUN_WAIT_SECONDS = 600


def run_nodes(
    *,
    package_name: str,
    pipeline_name: str,
    env: str,
    conf_source: str,
    node_names: list[str],
) -> dict[str, Any]:
    """Runs ``node_names`` of the pipeline ``pipeline_name`` for the current
    Airflow task, from the project folder (``MNIST_KEDRO_PROJECT_PATH``, else
    the working directory). Returns what its downstream tasks need: the
    version of each versioned dataset it saved."""
    import mlflow  # noqa: PLC0415
    from airflow.sdk import get_current_context  # noqa: PLC0415
    from kedro.framework.project import configure_project, pipelines  # noqa: PLC0415
    from kedro.framework.session import KedroSession  # noqa: PLC0415

    task_context = get_current_context()
    upstream = _upstream_results(task_context["ti"])
    project_path = Path(os.environ.get(PROJECT_PATH_VARIABLE, Path.cwd())).resolve()
    configure_project(package_name)
    nodes = pipelines[pipeline_name].only_nodes(*node_names)
    inputs = nodes.inputs()
    saved_versions = {
        name: version
        for result in upstream
        for name, version in result["versions"].items()
        if name in inputs
    }

    working_directory = Path.cwd()
    os.chdir(project_path)  # relative paths of the configuration, as `kedro run`
    try:
        with KedroSession.create(
            project_path=project_path,
            env=env or None,
            conf_source=conf_source or None,
            runtime_params=runtime_params(task_context["dag_run"].conf or {}),
        ) as session:
            catalog = session.load_context().catalog  # and MLflow set up
            dag_run = task_context["dag_run"]
            tags = {"airflow_dag_id": dag_run.dag_id, "airflow_run_id": dag_run.run_id}
            mlflow.start_run(
                run_id=_mlflow_run_of(
                    tags, starts_it=_is_first_root(task_context["ti"])
                ),
                run_name=f"{dag_run.dag_id} {dag_run.run_id}",
                tags=tags,
            )
            status = "FAILED"
            try:
                session.run(
                    pipeline_names=[pipeline_name],
                    node_names=node_names,
                    load_versions=saved_versions,
                )
                status = "FINISHED"
            finally:
                # kedro-mlflow reopens the run before each node, which MLflow 3
                # stacks: closed as often, or the next task in this process
                # (`airflow dags test`) would find it open.
                while mlflow.active_run():
                    mlflow.end_run(status)
    finally:
        os.chdir(working_directory)
    return {
        "versions": {
            name: session.session_id
            for name in nodes.all_outputs()
            if catalog.config_resolver.resolve_pattern(name).get("versioned")
        },
    }


def runtime_params(conf: dict[str, Any]) -> dict[str, Any]:
    """A DAG run's ``conf`` as Kedro's runtime parameters: keys may be dotted
    (``training.presets.fast.epochs``), as in ``kedro run --params``, or nested."""
    from omegaconf import OmegaConf  # noqa: PLC0415

    params = OmegaConf.create()
    for key, value in conf.items():
        OmegaConf.update(params, key, value, merge=True)
    return OmegaConf.to_container(params)


def _upstream_results(task_instance: Any) -> list[dict[str, Any]]:
    """What the task's direct upstream tasks returned in this DAG run."""
    upstream_ids = sorted(task_instance.task.upstream_task_ids)
    if not upstream_ids:
        return []
    results = task_instance.xcom_pull(task_ids=upstream_ids)
    return [result for result in results if result]


def _is_first_root(task_instance: Any) -> bool:
    """Whether the task is the DAG's first task without upstream (by task id)."""
    return task_instance.task_id == min(
        task.task_id for task in task_instance.task.dag.roots
    )


def _mlflow_run_of(tags: dict[str, str], *, starts_it: bool) -> str | None:
    """The id of the MLflow run carrying ``tags`` in the active experiment;
    ``None`` (start one) if there is none and this task ``starts_it``, else
    once ``MLFLOW_RUN_WAIT_SECONDS`` have passed without one."""
    import mlflow  # noqa: PLC0415

    query = " and ".join(f"tags.{name} = '{value}'" for name, value in tags.items())
    deadline = time.monotonic() + MLFLOW_RUN_WAIT_SECONDS
    while True:
        runs = mlflow.search_runs(
            filter_string=query,
            order_by=["attributes.start_time ASC"],
            output_format="list",
        )
        if runs:
            return runs[0].info.run_id
        if starts_it or time.monotonic() > deadline:
            return None
        time.sleep(2)
