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
            ProjectParams.model_validate(context.params)
        except ValidationError as error:
            raise ParameterValidationError(
                f"Invalid parameters (conf/base/parameters*.yml or --params):\n{error}"
            ) from None
