"""Project pipelines."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from mnist_kedro.pipelines import (
    ensemble,
    evaluation,
    export,
    ingestion,
    preprocessing,
    training,
)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Each stage runs alone under its own name. Two whole runs share ingestion,
    preprocessing, evaluation and export: ``__default__`` trains one CNN (the
    ``training`` pipeline), ``best`` an ensemble of several (``ensemble``); both
    save the model as ``mnist_cnn``. Listed here rather than found by
    ``find_pipelines``, which imports only the folders that ``--pipelines``
    names and so cannot compose ``best``.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    stages = {
        name: module.create_pipeline()
        for name, module in {
            "ingestion": ingestion,
            "preprocessing": preprocessing,
            "training": training,
            "ensemble": ensemble,
            "evaluation": evaluation,
            "export": export,
        }.items()
    }
    shared = (
        stages["ingestion"]
        + stages["preprocessing"]
        + stages["evaluation"]
        + stages["export"]
    )
    return {
        **stages,
        "__default__": shared + stages["training"],
        "best": shared + stages["ensemble"],
    }
