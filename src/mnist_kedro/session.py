"""The project's Kedro session: ``--params training.model=best`` runs the
ensemble."""

from __future__ import annotations

from typing import Any

from kedro.framework.session import KedroSession

from mnist_kedro.parameters import ENSEMBLE, TrainingParams


class ProjectSession(KedroSession):
    """Kedro's session, with the whole DAG chosen by ``training.model``.

    Kedro fixes a pipeline's nodes before it reads parameters, so no parameter
    can turn the ``training`` node into the ensemble's members. The whole run
    (no ``--pipelines``, or ``__default__``) is therefore the ``best`` pipeline
    when ``training.model`` is ``best`` (in ``--params`` or the configuration),
    else ``__default__``; named pipelines run as named.
    """

    def run(self, *args: Any, pipeline_names: list[str] | None = None, **kwargs: Any):
        # Only a whole run reads the parameters here, before Kedro does. Kedro
        # hands over parameters that nodes type as pydantic models as such;
        # validating again takes either form.
        if pipeline_names in (None, [], ["__default__"]) and (
            TrainingParams.model_validate(self.load_context().params["training"]).model
            == ENSEMBLE
        ):
            pipeline_names = ["best"]
        return super().run(*args, pipeline_names=pipeline_names, **kwargs)
