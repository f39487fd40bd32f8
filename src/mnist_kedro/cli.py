"""The project's own ``kedro run``: Kedro's, with ``--cache``
(``mnist_kedro.cache``). Kedro takes a project's ``cli.py`` commands before
its own."""

from __future__ import annotations

import inspect
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import click
from kedro.config import MissingConfigException
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.project import pipelines, settings
from kedro.pipeline import Pipeline

from mnist_kedro import cache
from mnist_kedro.hooks import ServiceUnavailableError

logger = logging.getLogger(__name__)

CACHE_HELP = (
    "Reuse the outputs of every node whose code, parameters, inputs and "
    "libraries are unchanged since a run that saved them, instead of running "
    "it (docs/caching.md)."
)


@click.group(name="mnist_kedro")
def cli() -> None:
    """Commands of the mnist-kedro project."""


@cli.command(
    name="run",
    params=[
        *kedro_run.params,
        click.Option(["--cache", "use_cache"], is_flag=True, help=CACHE_HELP),
    ],
    help=kedro_run.help,
)
@click.pass_context
def run(ctx: click.Context, use_cache: bool, **options: Any) -> Any:  # noqa: FBT001
    asynchronous = options["is_async"] or (options["runner_params"] or {}).get(
        "is_async"
    )
    if asynchronous:
        _refuse_generator_nodes(_selected(options))
    try:
        return _run(ctx, use_cache, options)
    except ServiceUnavailableError as error:
        raise click.ClickException(str(error)) from None  # one line, no traceback


def _run(
    ctx: click.Context,
    use_cache: bool,  # noqa: FBT001
    options: dict[str, Any],
) -> Any:
    if not use_cache:
        return ctx.invoke(kedro_run, **options)
    if options["only_missing_outputs"]:
        raise click.UsageError(
            "--cache already skips what need not run; drop --only-missing-outputs."
        )
    started = time.perf_counter()
    decisions, reused_versions = _plan(options)
    planned = time.perf_counter() - started
    for name, decision in decisions.items():
        if decision.reuse:
            logger.info("%s: reused from run %s.", name, decision.reused_from)
        else:
            logger.info("%s: runs (%s).", name, decision.reason)
    to_run = [name for name, decision in decisions.items() if not decision.reuse]
    logger.info(
        "Cache: %d of %d nodes reused, %d to run (planned in %.1f s).",
        len(decisions) - len(to_run),
        len(decisions),
        len(to_run),
        planned,
    )
    if not to_run:
        logger.info("Every node's outputs are reused: nothing runs.")
        return {}
    with tempfile.TemporaryDirectory(prefix="mnist-kedro-cache-") as folder:
        plan_file = Path(folder) / "plan.json"
        plan_file.write_text(
            json.dumps(
                {
                    "record": {
                        name: decisions[name].key
                        for name in to_run
                        if decisions[name].cacheable
                    },
                    "reused": {
                        name: decision.reused_from
                        for name, decision in decisions.items()
                        if decision.reuse
                    },
                }
            )
        )
        # Read by the hooks, in this process and in ParallelRunner's workers.
        os.environ[cache.PLAN_VARIABLE] = str(plan_file)
        try:
            return ctx.invoke(
                kedro_run,
                **{
                    **options,
                    "node_names": tuple(to_run),
                    "load_versions": {
                        **reused_versions,
                        **(options["load_versions"] or {}),
                    },
                },
            )
        finally:
            del os.environ[cache.PLAN_VARIABLE]


def _refuse_generator_nodes(selected: Pipeline) -> None:
    """Kedro saves what a generator node yields only in a synchronous run; in
    an asynchronous one it would try to save the generator itself."""
    yielding = sorted(
        node.name for node in selected.nodes if inspect.isgeneratorfunction(node.func)
    )
    if yielding:
        raise click.UsageError(
            f"--async cannot save the outputs of {', '.join(yielding)} (a "
            "generator node: Kedro saves what it yields in synchronous runs "
            "only); run without --async, or select other nodes."
        )


def _named(options: dict[str, Any]) -> Pipeline:
    """The pipelines that the options of ``kedro run`` name, as one."""
    names = options["pipelines"] or [options["pipeline"] or "__default__"]
    return sum((pipelines[name] for name in names), Pipeline([]))


def _selected(options: dict[str, Any]) -> Pipeline:
    """The nodes that the options of ``kedro run`` select."""
    return _named(options).filter(
        tags=options["tags"],
        from_nodes=options["from_nodes"],
        to_nodes=options["to_nodes"],
        node_names=options["node_names"],
        from_inputs=options["from_inputs"],
        to_outputs=options["to_outputs"],
        node_namespaces=options["namespaces"],
    )


def _plan(
    options: dict[str, Any],
) -> tuple[dict[str, cache.Decision], dict[str, str]]:
    """The cache's plan (``cache.plan``) for the nodes that the options of
    ``kedro run`` select, made in a session of its own that runs nothing."""
    with settings.SESSION_CLASS.create(
        env=options["env"],
        conf_source=options["conf_source"],
        runtime_params=options["params"],
    ) as session:
        context = session.load_context()
        pipeline, selected = _named(options), _selected(options)
        try:
            credentials = context.config_loader["credentials"]
        except MissingConfigException:
            credentials = {}
        catalog = settings.DATA_CATALOG_CLASS.from_config(
            context.config_loader["catalog"],
            credentials,
            load_versions=options["load_versions"] or {},
        )
        return cache.plan(pipeline, selected, catalog, context.params)
