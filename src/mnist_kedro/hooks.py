"""Project hooks."""

import logging
import os
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

import fsspec
import mlflow
import pandas as pd
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.io import CatalogProtocol, DatasetError
from kedro.pipeline import Node, Pipeline
from kedro.validation.exceptions import ParameterValidationError
from mlflow.entities import Param
from mlflow.exceptions import MlflowException
from pydantic import ValidationError
from rich.logging import RichHandler

from mnist_kedro import cache
from mnist_kedro.datasets.file_dataset import AtomicSaves
from mnist_kedro.model.tensorflow_settings import set_tensorflow_environment
from mnist_kedro.parameters import ENSEMBLE, ProjectParams

logger = logging.getLogger(__name__)

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class PlainLogWhenPiped:
    """Replaces the log's rich console handlers by plain ones, one line per
    message, when their output is no terminal (CI, ``| tee``, a log file), where
    rich would wrap every message at 80 columns; and rich's traceback printer by
    Python's. Terminals and Jupyter keep rich's. Kedro's own start-up messages
    come before it. (Kedro accepts no project handler class in
    ``conf/logging.yml`` unless every user sets
    ``KEDRO_LOGGING_MODULE_ALLOWLIST``, hence a hook.)"""

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if not isinstance(handler, RichHandler):
                continue
            console = handler.console
            if console.is_terminal or console.is_jupyter:
                continue
            plain = logging.StreamHandler(console.file)
            plain.setLevel(handler.level)
            plain.setFormatter(logging.Formatter(PLAIN_FORMAT))
            root.removeHandler(handler)
            root.addHandler(plain)
            if sys.excepthook.__module__.startswith("rich."):
                sys.excepthook = sys.__excepthook__  # rich's wraps tracebacks too


# What MLflow reads from the environment, set by a command of the project
# unless set already. Telemetry: MLflow 3 reports usage to its developers unless
# told not to; like Kedro's (declined in .telemetry), this project contacts
# nobody by itself. The server that `kedro mlflow ui` starts: one worker and no
# job runner (MLflow's four workers and job runners took 16 processes, 3.5 GB
# and 25 s to show two runs).
MLFLOW_ENVIRONMENT = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_WORKERS": "1",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    # A tracking server that stops answering during a run: each call gives up
    # after about 15 s (refused) to 75 s (hanging: 4 tries of 15 s and the
    # backoff between them), not MLflow's 4 minutes of 7 retries
    # (docs/reliability.md).
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}
# What botocore (s3fs) reads from the environment: a transient error of the
# object storage (a refused or dropped connection, a timeout, a 5xx or
# throttling answer) retried with exponential backoff and jitter, 4 attempts a
# request, which s3fs repeats up to 5 times (docs/reliability.md).
AWS_ENVIRONMENT = {"AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "4"}


class CommandEnvironment:
    """What a Kedro command of this project needs in its environment, set as
    its session starts, first of all hooks: TensorFlow's variables, before any
    node imports it (``mnist_kedro.model.tensorflow_settings``), and
    ``MLFLOW_ENVIRONMENT``, before MLflow records anything or ``kedro mlflow
    ui`` starts its server; ``AWS_ENVIRONMENT``, before a dataset reaches the
    object storage. An explicit setting wins."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: KedroContext) -> None:
        set_tensorflow_environment()
        for name, value in (MLFLOW_ENVIRONMENT | AWS_ENVIRONMENT).items():
            os.environ.setdefault(name, value)


# `MNIST_KEDRO_TRACKING=off kedro run …`: a run that logs nothing in MLflow.
TRACKING_SWITCH = "MNIST_KEDRO_TRACKING"
# How long a service may take to answer before a run starts.
PROBE_SECONDS = 5


class ServiceUnavailableError(RuntimeError):
    """A service that the run needs (the tracking server, the object storage)
    does not answer."""


class CheckServices:
    """A service that the run needs and that does not answer stops it within
    seconds, in one line that names it: the tracking server as the session
    starts, before kedro-mlflow's hook contacts it (where MLflow would retry an
    absent server for minutes); the object storage that holds the data before
    a run (not other commands, such as ``kedro airflow create``) reads or
    writes any. ``MNIST_KEDRO_TRACKING=off`` runs without tracking on purpose
    (kedro-mlflow's ``disable_tracking`` for every pipeline, on the project's
    local store, which it still opens)."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: KedroContext) -> None:
        self._data_root = context.config_loader["globals"].get("data_root", "")
        self._storage_options = (
            context.config_loader["credentials"].get("object_storage") or {}
        )
        settings = context.config_loader["mlflow"]
        if os.environ.get(TRACKING_SWITCH, "").lower() == "off":
            settings.setdefault("server", {})["mlflow_tracking_uri"] = (
                "sqlite:///mlflow.db"
            )
            tracking = settings.setdefault("tracking", {})
            tracking.setdefault("disable_tracking", {})["pipelines"] = list(pipelines)
            context.config_loader["mlflow"] = settings
            logger.warning("%s=off: this run logs nothing in MLflow.", TRACKING_SWITCH)
            return
        uri = settings["server"]["mlflow_tracking_uri"]
        if uri.startswith(("http://", "https://")):
            check_tracking_server(uri)

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self) -> None:
        if fsspec.utils.get_protocol(self._data_root) not in {"file", "local"}:
            check_object_storage(self._data_root, self._storage_options)


def check_object_storage(data_root: str, storage_options: dict) -> None:
    """Raises ``ServiceUnavailableError`` unless the bucket of ``data_root``
    (e.g. ``s3://mnist-kedro/data``) can be listed, each request tried once
    for at most ``PROBE_SECONDS`` (the run's own requests retry,
    ``AWS_ENVIRONMENT``)."""
    protocol = fsspec.utils.get_protocol(data_root)
    options = dict(storage_options)
    if protocol in {"s3", "s3a"}:
        options["config_kwargs"] = {
            **options.get("config_kwargs", {}),
            "retries": {"max_attempts": 1},
            "connect_timeout": PROBE_SECONDS,
            "read_timeout": PROBE_SECONDS,
        }
    bucket = fsspec.core.strip_protocol(data_root).split("/")[0]
    try:
        fsspec.filesystem(protocol, skip_instance_cache=True, **options).ls(bucket)
    except FileNotFoundError:
        raise ServiceUnavailableError(
            f"The bucket of {data_root} does not exist: create it, or set "
            "MNIST_KEDRO_DATA_ROOT to one that does."
        ) from None
    except Exception as error:  # noqa: BLE001 - each storage has its own errors
        raise ServiceUnavailableError(
            f"The object storage of {data_root} does not answer ({error}). Start "
            "it, or check its endpoint and credentials (AWS_ENDPOINT_URL_S3, "
            "conf/base/credentials.yml)."
        ) from None


def check_tracking_server(uri: str) -> None:
    """Raises ``ServiceUnavailableError`` unless the MLflow server at ``uri``
    answers its health check within ``PROBE_SECONDS``."""
    try:
        with urllib.request.urlopen(  # noqa: S310 - an http(s) URI, checked above
            f"{uri.rstrip('/')}/health", timeout=PROBE_SECONDS
        ) as response:
            response.read(100)
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise ServiceUnavailableError(
            f"The MLflow tracking server at {uri} does not answer ({reason}). "
            f"Start it, or set MLFLOW_TRACKING_URI to one that runs, or run "
            f"without tracking: {TRACKING_SWITCH}=off kedro run …"
        ) from None


class ValidateParameters:
    """Checks every parameter before a run reads any data.

    Kedro validates each pipeline's typed ``params:`` inputs by itself; this
    also covers the sections no node declares (the ``ingestion`` overrides) and
    misspelt sections, which Kedro would silently ignore, and a ``--params``
    change to a preset that the run does not train.
    """

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        try:
            self._params = ProjectParams.model_validate(context.params)
        except ValidationError as error:
            raise ParameterValidationError(
                f"Invalid parameters (conf/base/parameters*.yml or --params):\n{error}"
            ) from None

    # First, before kedro-mlflow's hook starts an MLflow run for a refused run.
    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict, pipeline: Pipeline) -> None:
        trainings = {"params:training": self._params.training} | {
            f"params:ensemble.{name}.training": member.training
            for name, member in self._params.ensemble.items()
        }
        trained = {
            trainings[name].model for name in pipeline.inputs() if name in trainings
        }
        if trained:
            _refuse_overrides_of_presets_not_trained(
                run_params.get("runtime_params") or {}, trained
            )


def _refuse_overrides_of_presets_not_trained(
    runtime_params: dict, trained: set[str]
) -> None:
    """``--params training.presets.seed.epochs=3`` while only ``fast`` is
    trained would change nothing; say so instead of running."""
    overridden = runtime_params.get("training", {}).get("presets", {})
    others = sorted(name for name in overridden if name not in trained)
    if others:
        names = " and ".join(repr(name) for name in sorted(trained))
        raise ParameterValidationError(
            f"--params changes training.presets.{others[0]}, but this run trains "
            f"{names} only, so the change would have no effect. Add "
            f"training.model={others[0]} to train that preset, or change the "
            "preset that is trained instead."
        )


class RecordCachedNodes:
    """In a ``kedro run --cache``, records each node that ran once it has
    saved every output (``mnist_kedro.cache``), in the process that ran it."""

    @hook_impl
    def before_node_run(
        self, node: Node, catalog: CatalogProtocol, run_id: str
    ) -> None:
        plan = cache.active_plan()
        self._key = plan and plan["record"].get(node.name)
        self._catalog, self._run_id, self._unsaved = catalog, run_id, set(node.outputs)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node: Node) -> None:
        self._unsaved.discard(dataset_name)
        if self._key and not self._unsaved:
            cache.record(node, self._catalog, self._key, self._run_id)


class DescribeMlflowRun:
    """Completes the run's MLflow run (started by kedro-mlflow's hook, which
    runs before this one) with what the nodes that ran did, and nothing of the
    nodes that did not run (outside ``--nodes``, reused by ``--cache``, skipped
    by ``--only-missing-outputs``): a run never claims parameters for a model
    that they did not train.

    Parameters: those that each node that runs reads, flattened
    (``training.presets.fast.epochs``), defaults included; the ``ingestion``
    section with the node that reads the raw data, which it configures.
    kedro-mlflow logs each node's ``params:`` inputs, but flattens dictionaries
    only, and Kedro hands this project's nodes pydantic models; it logs those
    whole (``training``), beside these.

    Tags: what tells runs apart: the preset trained (by a training node that
    ran), the data source (read by a node that ran), the git commit of the
    project, the version of ``mnist_cnn`` that a node that ran saved or
    loaded, and each node reused by ``--cache`` with its run. kedro-mlflow tags
    Kedro's own run parameters (its run id, the pipelines, the command).

    Artifacts: each file saved by a dataset whose metadata holds
    ``mlflow_artifact_path``, in that folder of the run's artifacts.
    (kedro-mlflow's ``MlflowArtifactDataset`` does this for unversioned
    datasets only: a versioned one inside it takes a save version of its own,
    which Kedro 1.7's catalog refuses.)
    """

    def __init__(self) -> None:
        self._logged_sections: set[str] = set()
        self._tracking_failed = False

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._params = ProjectParams.model_validate(context.params)
        self._project_path = context.project_path
        # A run opened by the caller (an orchestrator) stays open, and its
        # parameters are the caller's to log (airflow_task.py).
        self._run_opened_before = mlflow.active_run() is not None
        # A new session in this process (a notebook, the tests) starts afresh.
        self._logged_sections = set()
        self._tracking_failed = False

    def _track(self, what: str, log: Callable[[], object]) -> None:
        """``log()``, unless the tracking server fails: a server that stops
        answering during a run costs what the run would log, never an output
        (saved before it is logged) nor the run. After its first failure (each
        one takes MLflow's bounded retries, ``MLFLOW_ENVIRONMENT``) the rest of
        the run does not try again; each thing not logged is named."""
        if self._tracking_failed:
            logger.warning("MLflow: %s not logged (the server failed before).", what)
            return
        try:
            log()
        except (MlflowException, OSError) as error:  # requests' errors are OSErrors
            self._tracking_failed = True
            logger.warning("MLflow: %s not logged (%s).", what, error)

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict, pipeline: Pipeline) -> None:
        if mlflow.active_run() is None:  # tracking is off for this pipeline
            return
        if not self._run_opened_before:
            name = _run_name(run_params, pipeline, self._params.training.model)
            self._track(
                "the run's name",
                lambda: mlflow.MlflowClient().update_run(
                    mlflow.active_run().info.run_id, name=name
                ),
            )
        tags = {}
        if commit := _git_commit(self._project_path):
            tags["mlflow.source.git.commit"] = commit
        # `kedro run --cache`: each node reused, with the run that it comes from.
        plan = cache.active_plan() or {"reused": {}}
        tags.update({f"reused.{node}": run for node, run in plan["reused"].items()})
        # The model that the run's results come from, where it was named (by
        # --load-versions, or by the cache for the nodes that it reuses) and no
        # node of the run loads or saves it.
        if model_version := (run_params.get("load_versions") or {}).get(MODEL):
            tags["mnist_cnn_version"] = model_version
        if tags:
            self._track(f"the tags {', '.join(tags)}", lambda: mlflow.set_tags(tags))

    # In the process that runs the node (ParallelRunner's workers too), after
    # kedro-mlflow's hook has reopened the run there.
    @hook_impl(trylast=True)
    def before_node_run(self, node: Node, catalog: CatalogProtocol) -> None:
        self._catalog = catalog
        if mlflow.active_run() is None:
            return
        tags = {}
        if "params:training" in node.inputs:
            tags["preset"] = self._params.training.model
        elif any(name.startswith("params:ensemble.") for name in node.inputs):
            tags["preset"] = ENSEMBLE
        if RAW_DATA in node.inputs:
            tags["data_source"] = repr(catalog.get(RAW_DATA))
        if MODEL in node.inputs:
            tags["mnist_cnn_version"] = catalog.get(MODEL).resolve_load_version()
        if tags:
            self._track(f"the tags {', '.join(tags)}", lambda: mlflow.set_tags(tags))
        sections = set(parameter_sections([node])) - self._logged_sections
        if sections and not self._run_opened_before:
            run_id = mlflow.active_run().info.run_id
            self._track(
                f"the parameters of {', '.join(sorted(sections))}",
                lambda: log_parameters(run_id, self._params, sections),
            )
            self._logged_sections |= sections

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        if mlflow.active_run() is None:
            return
        dataset = self._catalog.get(dataset_name)
        if dataset_name == MODEL:
            version = dataset.resolve_save_version()
            self._track(
                "the tag mnist_cnn_version",
                lambda: mlflow.set_tag("mnist_cnn_version", version),
            )
        folder = (getattr(dataset, "metadata", None) or {}).get("mlflow_artifact_path")
        if folder is None:
            return
        if not isinstance(dataset, AtomicSaves):
            raise DatasetError(
                f"{dataset_name}: mlflow_artifact_path needs a dataset that names "
                "the file it saved: one of mnist_kedro.datasets, or of "
                "mnist_kedro.datasets.atomic for kedro-datasets' CSV, JSON and "
                "Matplotlib datasets."
            )
        self._track(
            f"the artifact {folder}/{dataset_name}",
            lambda: _log_artifact(*dataset.saved_file(), folder),
        )

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        """Closes the MLflow run for good. kedro-mlflow reopens it before each
        node, which MLflow 3 now stacks instead of refusing, and closes it once:
        a later session in the same process (a notebook, the tests) would log
        into it."""
        while not self._run_opened_before and mlflow.active_run():
            self._track("the run's end", mlflow.end_run)
            if self._tracking_failed:
                break  # the run stays open in MLflow, where it shows as running


def _log_artifact(fs: AbstractFileSystem, path: str, folder: str) -> None:
    """The file ``path`` of ``fs`` in the ``folder`` of the active run's
    artifacts (MLflow logs local files)."""
    if isinstance(fs, LocalFileSystem):
        mlflow.log_artifact(path, folder)
        return
    with tempfile.TemporaryDirectory() as local:
        copy = f"{local}/{PurePosixPath(path).name}"
        fs.get(path, copy)
        mlflow.log_artifact(copy, folder)


# The raw data, configured by the `ingestion` parameters (conf/base/catalog.yml),
# and the model that the MLflow run's `mnist_cnn_version` tag names.
RAW_DATA, MODEL = "mnist_source", "mnist_cnn"


def parameter_sections(nodes: Iterable[Node]) -> list[str]:
    """The parameters that ``nodes`` read: their ``params:`` inputs
    (``training``, ``ensemble.member_1.training``, ``class_names``), and
    ``ingestion`` for the node that reads the raw data."""
    sections = set()
    for node in nodes:
        sections |= {
            name.removeprefix("params:")
            for name in node.inputs
            if name.startswith("params:")
        }
        if RAW_DATA in node.inputs:
            sections.add("ingestion")
    return sorted(sections)


def log_parameters(run_id: str, params: ProjectParams, sections: Iterable[str]) -> None:
    """The parameters of ``sections`` in the MLflow run ``run_id``, flattened
    (``training.presets.fast.epochs``)."""
    (flattened,) = pd.json_normalize(params.model_dump(mode="json"), sep=".").to_dict(
        orient="records"
    )
    prefixes = tuple(f"{section}." for section in sections)
    batch = [
        Param(name, str(value))
        for name, value in flattened.items()
        if name.startswith(prefixes)
    ]
    client = mlflow.MlflowClient()
    try:
        client.log_batch(run_id, params=batch)
    except MlflowException:
        # Two nodes that read a section, run at once by ParallelRunner, log it
        # at once, and MLflow refuses the second insert of a name. Once the
        # first is in, the same values are found there and nothing is written;
        # a different value is still refused.
        client.log_batch(run_id, params=batch)


def _run_name(run_params: dict, pipeline: Pipeline, preset: str) -> str:
    """What the run did: its pipelines (``default`` for ``__default__``), the
    preset it trains, and the nodes it was limited to, e.g. ``default · fast``,
    ``best``, ``evaluation``, ``default --nodes compute_metrics``, ``default
    --cache`` (the nodes that it runs are the cache's choice)."""
    names = run_params.get("pipeline_names") or ["__default__"]
    name = "+".join("default" if name == "__default__" else name for name in names)
    if "params:training" in pipeline.inputs():
        name += f" · {preset}"
    if cache.active_plan() is not None:
        name += " --cache"
    elif run_params.get("node_names"):
        name += f" --nodes {','.join(run_params['node_names'])}"
    return name


def _git_commit(folder: Path) -> str | None:
    """The commit checked out in ``folder``, if it is a git work tree."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:  # no git on this machine
        return None
    return result.stdout.strip() if result.returncode == 0 else None
