"""Content-aware reuse of node results: ``kedro run --cache``.

A node's key is a hash of

- its code: its function and, transitively, every definition of the project
  package that it names (functions, classes, constants; a project module that
  it uses as a module, whole). Comments and formatting do not count;
- the values of the parameters that it reads;
- the keys of its inputs: an input made by another node of the run's
  pipelines carries that node's key; any other input (the raw MNIST folder, a
  model that an earlier run saved) the fingerprint of its content (the SHA-256
  of its bytes; size and ETag on object storage);
- the versions of the libraries that decide results (``RESULT_LIBRARIES``).

When a node has saved every output, a record of its key names the run and each
output's version and the fingerprints of its files. A later run with the same
key reuses that run's outputs if every file still has its recorded
fingerprint: the node does not run, and the nodes after it load those
versions. A node whose outputs are not files (MLflow's datasets) or that is
tagged ``no_cache`` always runs. The records lie with the data, in
``<data_root>/09_cache`` (locally or in a bucket), one file per key, each
written atomically, so that runs at once never corrupt them.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import importlib.util
import inspect
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem
from kedro.io import DatasetError, MemoryDataset
from kedro.pipeline import Node, Pipeline

logger = logging.getLogger(__name__)

NO_CACHE_TAG = "no_cache"
# Distributions whose version can change what a node computes.
RESULT_LIBRARIES = (
    "ai-edge-litert",
    "kedro",
    "kedro-datasets",
    "keras",
    "matplotlib",
    "numpy",
    "onnx",
    "onnxruntime",
    "pandas",
    "pillow",
    "scikit-learn",
    "scipy",
    "tensorflow",
    "tensorflow-datasets",
    "tf2onnx",
)


# ------------------------------------------------------------------ the key


def code_fingerprint(function: Callable) -> str:
    """SHA-256 of ``code_sources(function)``."""
    digest = hashlib.sha256()
    for unit, source in sorted(code_sources(function).items()):
        digest.update(f"{unit}\n{source}\n".encode())
    return digest.hexdigest()


def code_sources(function: Callable) -> dict[str, str]:
    """The source of ``function`` and of every definition of its package that
    it names, transitively, by ``module:name``: a top-level function, class or
    constant its own, a module named as a module (``module:``) whole; read
    from the files, without comments and formatting."""
    function = inspect.unwrap(getattr(function, "func", function))  # partials
    package = function.__module__.split(".", maxsplit=1)[0]
    sources: dict[str, str] = {}
    pending = [(function.__module__, function.__qualname__.split(".")[0])]
    while pending:
        module, name = pending.pop()
        index = _module_index(module)
        tree = index.definitions.get(name) if name else None
        if tree is None:  # a module, or a name it does not define at top level
            tree, name = index.tree, None
        unit = f"{module}:{name or ''}"
        if unit in sources:
            continue
        sources[unit] = ast.unparse(tree)
        for used in _used_names(tree):
            if used in index.definitions and name is not None:
                pending.append((module, used))
            elif used in index.imports:
                pending.append(index.imports[used])
        pending.extend(_project_imports(tree, module, index.is_package, package))
    return sources


@dataclass
class _ModuleIndex:
    tree: ast.Module
    is_package: bool
    definitions: dict[str, ast.AST] = field(default_factory=dict)
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)


@functools.cache
def _module_index(module: str) -> _ModuleIndex:
    """The module's syntax tree, its top-level definitions by name and its
    module-level imports from its own package, read from its file (never
    imported)."""
    path = _module_file(module)
    tree = ast.parse(Path(path).read_text(), filename=path)
    index = _ModuleIndex(tree, is_package=path.endswith("__init__.py"))
    package = module.split(".", maxsplit=1)[0]
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            index.definitions[statement.name] = statement
        elif isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = getattr(statement, "targets", None) or [statement.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        index.definitions[name.id] = statement
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            for alias, target in _resolved_imports(
                statement, module, index.is_package, package
            ):
                index.imports[alias] = target
    return index


def _module_file(module: str) -> str:
    """The file of ``module``, found without importing it (or its package)."""
    loaded = sys.modules.get(module)
    if getattr(loaded, "__file__", None):
        return loaded.__file__
    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)
    if not spec.submodule_search_locations:  # a top-level module
        return spec.origin
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*rest)
    if (path / "__init__.py").is_file():
        return str(path / "__init__.py")
    return str(path.with_suffix(".py"))


def _is_module(module: str) -> bool:
    try:
        return Path(_module_file(module)).is_file()
    except (AttributeError, TypeError):  # not an importable package at all
        return False


def _resolved_imports(
    statement: ast.Import | ast.ImportFrom, module: str, is_package: bool, package: str
) -> Iterable[tuple[str, tuple[str, str | None]]]:
    """(local name, (module, name or None)) for each name that ``statement``
    imports from ``package``."""
    if isinstance(statement, ast.Import):
        for alias in statement.names:
            if alias.name.split(".")[0] == package:
                yield (alias.asname or alias.name.split(".")[0]), (alias.name, None)
        return
    base = statement.module or ""
    if statement.level:
        parts = module.split(".")[
            : len(module.split(".")) - statement.level + is_package
        ]
        base = ".".join([*parts, base] if base else parts)
    if base.split(".")[0] != package:
        return
    for alias in statement.names:
        submodule = f"{base}.{alias.name}"
        target = (submodule, None) if _is_module(submodule) else (base, alias.name)
        yield alias.asname or alias.name, target


def _used_names(tree: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _project_imports(
    tree: ast.AST, module: str, is_package: bool, package: str
) -> list[tuple[str, str | None]]:
    """What the imports inside ``tree`` take from the project package: a
    function's own imports, or a whole module's."""
    return [
        target
        for statement in ast.walk(tree)
        if isinstance(statement, ast.Import | ast.ImportFrom)
        for _, target in _resolved_imports(statement, module, is_package, package)
    ]


@functools.cache
def library_versions() -> dict[str, str]:
    versions = {}
    for name in RESULT_LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def parameter_value(params: dict[str, Any], name: str) -> Any:
    """The value of the input ``params:a.b`` (or ``parameters``) in ``params``."""
    if name == "parameters":
        return params
    value = params
    for part in name.removeprefix("params:").split("."):
        value = value[part]
    return value


def files_fingerprint(fs: AbstractFileSystem, paths: Iterable[str]) -> dict[str, str]:
    """Each file at or under ``paths`` (filesystem paths, without protocol),
    by its path from the folder that holds its path (where the data lie does
    not count): the SHA-256 of its bytes locally; its size and ETag on object
    storage (the store's own checksum, no download)."""
    fingerprints = {}
    for path in paths:
        if not fs.exists(path):
            continue
        # Paths as the filesystem names them (absolute, for a relative one).
        start = len(str(PurePosixPath(fs.info(path)["name"]).parent)) + 1
        for file in sorted(fs.find(path)):
            if isinstance(fs, LocalFileSystem):
                with fs.open(file, "rb") as content:
                    digest = hashlib.file_digest(content, "sha256").hexdigest()
            else:
                info = fs.info(file)
                etag = str(info.get("ETag", "")).strip('"')
                digest = f"{info['size']}:{etag}"
            fingerprints[file[start:]] = digest
    return fingerprints


def stored_fingerprint(dataset: Any) -> dict[str, str] | None:
    """The fingerprints of the files that ``dataset`` would load, or ``None``
    if it names none (not a file dataset) or they are not there."""
    stored_files = getattr(dataset, "stored_files", None)
    if stored_files is None:
        return None
    try:
        fs, paths = stored_files()
        fingerprints = files_fingerprint(fs, paths)
    except (DatasetError, OSError):
        return None
    return fingerprints or None


# ---------------------------------------------------------------- the plan

RECORDS_DATASET = "cache_records"  # conf/base/catalog.yml
# The plan of the running `kedro run --cache` (a JSON file), for its hooks in
# every process that runs its nodes: the key of each node to record, and the
# run that each reused node comes from.
PLAN_VARIABLE = "MNIST_KEDRO_CACHE_PLAN"


@dataclass(frozen=True)
class Decision:
    """What a cached run does with a node: ``reuse`` the outputs of the run
    ``reused_from`` (their versions in ``versions``), or ``run`` it, because of
    ``reason``."""

    key: str | None
    reason: str
    reused_from: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    cacheable: bool = True  # whether a run of it is recorded

    @property
    def reuse(self) -> bool:
        return self.reused_from is not None


def plan(
    pipeline: Pipeline,
    selected: Pipeline,
    catalog: Any,
    params: dict[str, Any],
) -> tuple[dict[str, Decision], dict[str, str]]:
    """A decision for each node of ``selected`` (the nodes that the run may
    run, of ``pipeline``, the pipelines that it names): reuse if its key has a
    record whose outputs are all still as saved and no node before it runs.
    A node of ``pipeline`` outside ``selected`` never runs: what it made is
    used as its record has it, or else as it is stored now. Also the version
    to load of each versioned dataset that the run uses as a record has it."""
    records = catalog.get(RECORDS_DATASET)
    try:
        stored_records = records.load()
    except DatasetError:  # no record yet
        stored_records = {}
    producers = {output: node for node in pipeline.nodes for output in node.outputs}
    chosen = {node.name for node in selected.nodes}
    keys: dict[str, str | None] = {}
    decisions: dict[str, Decision] = {}
    for node in pipeline.nodes:  # in topological order
        inputs: dict[str, Any] = {}
        upstream_runs = []
        for name in node.inputs:
            producer = producers.get(name)
            made = producer and decisions.get(producer.name)
            if made and not made.reuse and producer.name in chosen:
                upstream_runs.append(producer.name)
            if made and (made.reuse or producer.name in chosen):
                inputs[name] = keys[producer.name]
            elif name == "parameters" or name.startswith("params:"):
                inputs[name] = parameter_value(params, name)
            else:
                inputs[name] = stored_fingerprint(catalog.get(name))
        key = None if any(v is None for v in inputs.values()) else _key(node, inputs)
        keys[node.name] = key
        decisions[node.name] = _decide(
            node, key, upstream_runs, stored_records, catalog
        )
    used = selected.inputs() | selected.all_outputs()
    load_versions = {
        dataset: version
        for decision in decisions.values()
        if decision.reuse
        for dataset, version in decision.versions.items()
        if dataset in used
    }
    return {node.name: decisions[node.name] for node in selected.nodes}, load_versions


def _key(node: Node, inputs: dict[str, Any]) -> str:
    described = {
        "function": f"{node.func.__module__}.{node.func.__qualname__}",
        "code": code_fingerprint(node.func),
        "inputs": inputs,
        "outputs": node.outputs,
        "libraries": library_versions(),
    }
    return hashlib.sha256(
        json.dumps(described, sort_keys=True, default=str).encode()
    ).hexdigest()


def _decide(  # noqa: PLR0911 - one return for each reason a node runs
    node: Node,
    key: str | None,
    upstream_runs: list[str],
    stored_records: dict[str, Callable[[], Any]],
    catalog: Any,
) -> Decision:
    if NO_CACHE_TAG in node.tags:
        return Decision(key, f"tagged {NO_CACHE_TAG}", cacheable=False)
    if any(isinstance(catalog.get(name), MemoryDataset) for name in node.outputs):
        return Decision(key, "an output is kept in memory only", cacheable=False)
    if key is None:
        return Decision(key, "an input is not stored yet", cacheable=False)
    if upstream_runs:
        return Decision(key, f"{upstream_runs[0]} runs before it")
    load = stored_records.get(f"{node.name}/{key}")
    if load is None:
        return Decision(
            key, "no earlier run with this code, these parameters and inputs"
        )
    try:
        record = load()
        outputs, run_id = record["outputs"], record["run_id"]
    except (DatasetError, KeyError, TypeError) as error:
        logger.warning(
            "%s: its cache record cannot be read (%s); it runs.", node.name, error
        )
        return Decision(key, "its cache record cannot be read")
    versions = {}
    for name in node.outputs:
        saved = outputs.get(name) or {}
        dataset = catalog.get(name)
        try:
            unchanged = name in outputs and (
                not hasattr(dataset, "stored_files")  # MLflow's: nothing to check
                or files_fingerprint(*dataset.stored_files(saved["version"]))
                == saved["files"]
            )
        except (DatasetError, OSError, KeyError):
            unchanged = False
        if not unchanged:
            return Decision(key, f"{name} is no longer as run {run_id} saved it")
        if saved.get("version"):
            versions[name] = saved["version"]
    return Decision(key, "unchanged", reused_from=run_id, versions=versions)


# ----------------------------------------------------------- the records


def record(node: Node, catalog: Any, key: str, run_id: str) -> None:
    """Records that the run ``run_id`` saved every output of ``node`` under
    ``key``: each output's version and its files' fingerprints."""
    outputs = {}
    for name in node.outputs:
        dataset = catalog.get(name)
        if hasattr(dataset, "saved_file"):
            fs, path = dataset.saved_file()
            outputs[name] = {
                "version": dataset.resolve_save_version(),
                "files": files_fingerprint(fs, [path]),
            }
        else:  # logged to MLflow: reused by reference to the run
            outputs[name] = {"version": None, "files": {}}
    catalog.get(RECORDS_DATASET).save(
        {
            f"{node.name}/{key}": {
                "node": node.name,
                "key": key,
                "run_id": run_id,
                "outputs": outputs,
            }
        }
    )


def active_plan() -> dict[str, dict[str, str]] | None:
    """The plan of the ``kedro run --cache`` that this process serves, if any."""
    plan_file = os.environ.get(PLAN_VARIABLE)
    return json.loads(Path(plan_file).read_text()) if plan_file else None
