"""Project hooks."""

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline
from kedro.validation.exceptions import ParameterValidationError
from pydantic import ValidationError

from mnist_kedro.parameters import ENSEMBLE, ProjectParams
from mnist_kedro.run_output import plain_log_when_piped


class PlainLogWhenPiped:
    """One plain line per log message when the output is no terminal; see
    ``plain_log_when_piped``. Kedro's own start-up messages come before it."""

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        plain_log_when_piped()


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

    @hook_impl
    def before_pipeline_run(self, run_params: dict, pipeline: Pipeline) -> None:
        trainings = {"params:training": self._params.training} | {
            f"params:ensemble.{name}.training": member.training
            for name, member in self._params.ensemble.items()
        }
        trained = {
            trainings[name].model for name in pipeline.inputs() if name in trainings
        }
        if ENSEMBLE in trained:
            raise ParameterValidationError(
                f"training.model={ENSEMBLE} trains the ensemble, which takes the "
                "place of the training pipeline: run the whole DAG (`kedro run "
                f"--params training.model={ENSEMBLE}`) or `kedro run --pipelines "
                "best`; the training pipeline alone trains one preset."
            )
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
