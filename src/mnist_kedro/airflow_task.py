"""What each task of the project's Airflow DAG runs (``airflow/dag_template.j2``,
``kedro airflow create``): its Kedro nodes, in a Kedro session of its own.

Three things make the tasks of one DAG run behave as one ``kedro run``:

- the DAG run's ``conf`` is the session's runtime parameters (what
  ``kedro run --params`` would be): ``{"training.presets.fast.epochs": 3}`` or
  the same nested;
- each task loads the versions of its inputs that its upstream tasks saved in
  this DAG run (handed down as the tasks' return values, Airflow's XComs), not
  the latest ones, which another DAG run may have saved meanwhile;
- all of them log into one MLflow run, started by the first task (its id handed
  down the same way); kedro-mlflow logs into a run that is already active.

Airflow and the project are imported when a task runs, not when Airflow parses
the DAG file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PROJECT_PATH_VARIABLE = "MNIST_KEDRO_PROJECT_PATH"


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
    the working directory). Returns what its downstream tasks need: the MLflow
    run's id and the version of each versioned dataset it saved."""
    import mlflow  # noqa: PLC0415
    from airflow.sdk import get_current_context  # noqa: PLC0415
    from kedro.framework.project import configure_project, pipelines, settings  # noqa: PLC0415

    task_context = get_current_context()
    upstream = _upstream_results(task_context["ti"])
    project_path = Path(os.environ.get(PROJECT_PATH_VARIABLE, Path.cwd())).resolve()
    configure_project(package_name)
    nodes = pipelines[pipeline_name].only_nodes(*node_names)
    saved_versions = {
        name: version
        for result in upstream
        for name, version in result["versions"].items()
        if name in nodes.inputs()
    }
    mlflow_run_ids = {result["mlflow_run_id"] for result in upstream} - {None}

    working_directory = Path.cwd()
    os.chdir(project_path)  # relative paths of the configuration, as `kedro run`
    try:
        with settings.SESSION_CLASS.create(
            project_path=project_path,
            env=env or None,
            conf_source=conf_source or None,
            runtime_params=runtime_params(task_context["dag_run"].conf or {}),
        ) as session:
            catalog = session.load_context().catalog  # and MLflow set up
            mlflow_run = mlflow.start_run(
                run_id=min(mlflow_run_ids) if mlflow_run_ids else None,
                run_name=_mlflow_run_name(task_context["dag_run"]),
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
        "mlflow_run_id": mlflow_run.info.run_id,
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


def _mlflow_run_name(dag_run: Any) -> str:
    return f"{dag_run.dag_id} {dag_run.run_id}"
