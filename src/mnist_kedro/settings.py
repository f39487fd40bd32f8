"""Project settings: what differs from Kedro's defaults (every setting and its
default: https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

import warnings

from omegaconf import OmegaConf
from omegaconf.resolvers import oc

from mnist_kedro.hooks import (
    CheckServices,
    CommandEnvironment,
    DescribeMlflowRun,
    PlainLogWhenPiped,
    RecordCachedNodes,
    ValidateParameters,
)

# Kedro 1.7 and kedro-mlflow call an OmegaConf API that OmegaConf 2.4
# deprecates, which prints a dozen warning lines as every command starts;
# nothing in this project can act on them. Kedro reads this file as a command
# starts, before it makes its config loader; only their own calls are hidden.
warnings.filterwarnings(
    "ignore", message="register_new_resolver", category=UserWarning, module="kedro"
)

# Hooks run in reverse order: the log is plain before parameters are checked.
# kedro-mlflow's hook registers itself (an installed plugin).
HOOKS = (
    DescribeMlflowRun(),
    RecordCachedNodes(),
    ValidateParameters(),
    CheckServices(),
    CommandEnvironment(),  # registered after, so called before, CheckServices
    PlainLogWhenPiped(),
)

# Keyword arguments to pass to the `CONFIG_LOADER_CLASS` constructor.
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # kedro-mlflow's files, as its hook would add them, read before it runs
    # (hooks.CheckServices).
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"]},
    # `${merge:${a},${b}}`: a's settings with b's on top, resolved after any
    # --params, e.g. each ensemble member's training (parameters_ensemble.yml).
    "custom_resolvers": {
        "merge": OmegaConf.merge,
        # Environment variables in any configuration, e.g. MLFLOW_TRACKING_URI in
        # mlflow.yml (Kedro allows them in credentials only, unless registered).
        "oc.env": oc.env,
    },
}
