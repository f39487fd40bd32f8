"""What the tasks of the project's Airflow DAG run (``templates/airflow_dag.j2``,
``kedro airflow create``): each node task its Kedro nodes, in a Kedro session
of its own; the DAG's setup and teardown tasks its MLflow run.

Three things make the tasks of one DAG run behave as one ``kedro run``:

- the DAG run's ``conf`` is the session's runtime parameters (what
  ``kedro run --params`` would be): ``{"training.presets.fast.epochs": 3}`` or
  the same nested;
- each task loads the versions of its inputs that its upstream tasks saved in
  this DAG run (handed down as the tasks' return values, Airflow's XComs), not
  the latest ones, which another DAG run may have saved meanwhile;
- all of them log into one MLflow run, tagged with the DAG run: the setup task
  ``start-mlflow-run``, upstream of every node task, starts it (or finds it
  again when it runs anew, as when a task is cleared) and hands its id to every
  task; the teardown task ``finish-mlflow-run``, once every node task is done,
  ends it as FINISHED if each succeeded, else FAILED. kedro-mlflow logs into a
  run that is already active.

Airflow and the project are imported when a task runs, not when Airflow parses
the DAG file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROJECT_PATH_VARIABLE = "MNIST_KEDRO_PROJECT_PATH"
# The task ids of the DAG's setup and teardown tasks (templates/airflow_dag.j2).
START_MLFLOW_RUN_TASK = "start-mlflow-run"
FINISH_MLFLOW_RUN_TASK = "finish-mlflow-run"


def start_mlflow_run(
    *, package_name: str, pipeline_name: str, env: str, conf_source: str
) -> str:
    """The id of the current DAG run's MLflow run, in the project's tracking
    store and experiment (``conf/*/mlflow.yml``): started now, with the
    parameters that the DAG's nodes read, or the one that an earlier try of
    this task started."""
    import mlflow  # noqa: PLC0415
    from airflow.sdk import get_current_context  # noqa: PLC0415
    from kedro.framework.project import pipelines  # noqa: PLC0415

    from mnist_kedro.hooks import log_parameters, parameter_sections  # noqa: PLC0415
    from mnist_kedro.parameters import ProjectParams  # noqa: PLC0415

    dag_run = get_current_context()["dag_run"]
    tags = {"airflow_dag_id": dag_run.dag_id, "airflow_run_id": dag_run.run_id}
    params = runtime_params(dag_run.conf or {})
    with _session(package_name, env, conf_source, params) as session:
        context = session.load_context()
        mlflow_settings = context.config_loader["mlflow"]
        client = mlflow.MlflowClient()
        experiment = client.get_experiment_by_name(
            mlflow_settings["tracking"]["experiment"]["name"]
        )
        started = client.search_runs(
            [experiment.experiment_id],
            " and ".join(f"tags.{name} = '{value}'" for name, value in tags.items()),
        )
        if started:
            return started[0].info.run_id
        run = client.create_run(
            experiment.experiment_id,
            tags=tags,
            run_name=f"{dag_run.dag_id} {dag_run.run_id}",
        )
        log_parameters(
            run.info.run_id,
            ProjectParams.model_validate(context.params),
            parameter_sections(pipelines[pipeline_name].nodes),
        )
        return run.info.run_id


def finish_mlflow_run(
    mlflow_run_id: str, *, package_name: str, env: str, conf_source: str
) -> None:
    """Ends the current DAG run's MLflow run: FINISHED if every node task
    succeeded (each handed on its result), else FAILED."""
    import mlflow  # noqa: PLC0415
    from airflow.sdk import get_current_context  # noqa: PLC0415

    task_instance = get_current_context()["ti"]
    with _session(package_name, env, conf_source) as session:
        session.load_context()  # the tracking store of conf/*/mlflow.yml
        node_tasks = sorted(
            set(task_instance.task.upstream_task_ids) - {START_MLFLOW_RUN_TASK}
        )
        results = task_instance.xcom_pull(task_ids=node_tasks) or []
        succeeded = sum(1 for result in results if result)
        mlflow.MlflowClient().set_terminated(
            mlflow_run_id,
            "FINISHED" if succeeded == len(node_tasks) else "FAILED",
        )


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
    the working directory), logging into the DAG run's MLflow run. Returns
    what its downstream tasks need: the version of each versioned dataset it
    saved."""
    import mlflow  # noqa: PLC0415
    from airflow.sdk import get_current_context  # noqa: PLC0415
    from kedro.framework.project import pipelines  # noqa: PLC0415

    task_context = get_current_context()
    params = runtime_params(task_context["dag_run"].conf or {})
    with _session(package_name, env, conf_source, params) as session:
        nodes = pipelines[pipeline_name].only_nodes(*node_names)
        inputs = nodes.inputs()
        saved_versions = {
            name: version
            for result in _upstream_results(task_context["ti"])
            for name, version in result["versions"].items()
            if name in inputs
        }
        catalog = session.load_context().catalog  # and MLflow set up
        mlflow.start_run(
            run_id=task_context["ti"].xcom_pull(task_ids=START_MLFLOW_RUN_TASK)
        )
        status = "FAILED"
        try:
            session.run(
                pipeline_names=[pipeline_name],
                node_names=node_names,
                load_versions=saved_versions,
            )
            status = "RUNNING"  # the teardown task ends it
        finally:
            # kedro-mlflow reopens the run before each node, which MLflow 3
            # stacks: closed as often, or the next task in this process
            # (`airflow dags test`) would find it open.
            while mlflow.active_run():
                mlflow.end_run(status)
    return {
        "versions": {
            name: session.session_id
            for name in nodes.all_outputs()
            if catalog.config_resolver.resolve_pattern(name).get("versioned")
        },
    }


@contextmanager
def _session(
    package_name: str,
    env: str,
    conf_source: str,
    params: dict[str, Any] | None = None,
) -> Iterator[Any]:
    """A Kedro session of the project, from the project folder (relative paths
    of the configuration, as ``kedro run``), with ``params`` as its runtime
    parameters."""
    from kedro.framework.project import configure_project  # noqa: PLC0415
    from kedro.framework.session import KedroSession  # noqa: PLC0415

    project_path = Path(os.environ.get(PROJECT_PATH_VARIABLE, Path.cwd())).resolve()
    configure_project(package_name)
    working_directory = Path.cwd()
    os.chdir(project_path)
    try:
        with KedroSession.create(
            project_path=project_path,
            env=env or None,
            conf_source=conf_source or None,
            runtime_params=params,
        ) as session:
            yield session
    finally:
        os.chdir(working_directory)


def runtime_params(conf: dict[str, Any]) -> dict[str, Any]:
    """A DAG run's ``conf`` as Kedro's runtime parameters: keys may be dotted
    (``training.presets.fast.epochs``), as in ``kedro run --params``, or nested."""
    from omegaconf import OmegaConf  # noqa: PLC0415

    params = OmegaConf.create()
    for key, value in conf.items():
        OmegaConf.update(params, key, value, merge=True)
    return OmegaConf.to_container(params)


def _upstream_results(task_instance: Any) -> list[dict[str, Any]]:
    """What the task's direct upstream node tasks returned in this DAG run."""
    upstream_ids = sorted(
        set(task_instance.task.upstream_task_ids) - {START_MLFLOW_RUN_TASK}
    )
    if not upstream_ids:
        return []
    results = task_instance.xcom_pull(task_ids=upstream_ids)
    return [result for result in results if result]
