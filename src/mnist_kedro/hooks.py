"""Project hooks."""

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.validation.exceptions import ParameterValidationError
from pydantic import ValidationError

from mnist_kedro.parameters import ProjectParams
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
    misspelt sections, which Kedro would silently ignore.
    """

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        try:
            params = ProjectParams.model_validate(context.params)
        except ValidationError as error:
            raise ParameterValidationError(
                f"Invalid parameters (conf/base/parameters*.yml or --params):\n{error}"
            ) from None
        _refuse_overrides_of_presets_not_trained(
            context.config_loader.runtime_params or {}, params.training.model
        )


def _refuse_overrides_of_presets_not_trained(runtime_params: dict, model: str) -> None:
    """``--params training.presets.best.epochs=3`` while ``fast`` is trained
    would change nothing; say so instead of running."""
    overridden = runtime_params.get("training", {}).get("presets", {})
    others = sorted(name for name in overridden if name != model)
    if others:
        raise ParameterValidationError(
            f"--params changes training.presets.{others[0]}, but this run trains "
            f"the preset {model!r} (training.model), so the change would have no "
            f"effect. Add training.model={others[0]} to train that preset, or "
            f"change training.presets.{model} instead."
        )
