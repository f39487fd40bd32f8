"""TensorFlow's process-wide settings, all in one place. Each lasts as long as
the process, so each is made where a command starts (a Kedro run's hook, the
service's ``main``, a benchmark's driver or worker, the tests' configuration)
or by the training node for its own process; never on import."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

# Read by TensorFlow when it is imported. oneDNN is off by default on CPUs
# without AVX-512; on the AVX2 machines this project is developed on, turning it
# on doubles the training throughput (docs/benchmarks.md).
TENSORFLOW_ENVIRONMENT = {"TF_ENABLE_ONEDNN_OPTS": "1"}


def set_tensorflow_environment() -> None:
    """Sets the variables of ``TENSORFLOW_ENVIRONMENT`` that are not set
    already (an explicit setting wins), before TensorFlow is imported; says so
    if TensorFlow was imported first, when they change nothing any more."""
    unset = {
        name: value
        for name, value in TENSORFLOW_ENVIRONMENT.items()
        if name not in os.environ
    }
    os.environ.update(unset)
    if unset and "tensorflow" in sys.modules:
        logger.warning(
            "TensorFlow was imported before %s could be set, so it runs without: "
            "set it before the process starts.",
            ", ".join(f"{name}={value}" for name, value in unset.items()),
        )


def limit_tensorflow_threads(threads: int = 1) -> None:
    """TensorFlow's thread pools limited to ``threads``, before it first runs.

    One image per call gains nothing from the pools, whose threads only compete
    with the service's event loop (25 % more predictions per second at 32
    clients); trainings side by side each take a core rather than fight over all.
    """
    import tensorflow as tf  # noqa: PLC0415 (this module is read before it)

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError as error:  # TensorFlow has run with other pools
        raise RuntimeError(
            f"TensorFlow cannot take {threads} thread(s) now: it has already run "
            "in this process. Limit its threads in a fresh process, before "
            f"anything else uses it ({error})."
        ) from None


def make_reproducible(seed: int, *, deterministic_ops: bool) -> None:
    """Seeds Python's, NumPy's and TensorFlow's generators with ``seed`` and,
    if asked, makes TensorFlow's ops deterministic: irreversible for the
    process, and cheap on CPU (docs/reliability.md)."""
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    keras.utils.set_random_seed(seed)
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()


# The instruction sets with which a CPU computes bfloat16 products natively;
# without them TensorFlow emulates bfloat16, slower than float32.
NATIVE_BFLOAT16 = ("amx_bf16", "avx512_bf16")


def cpu_info() -> dict[str, str]:
    """The first CPU's fields in Linux's ``/proc/cpuinfo`` ("model name",
    "flags", …); none elsewhere."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return {}
    first = cpuinfo.read_text().split("\n\n", 1)[0]
    return {
        key.strip(): value.strip()
        for key, value in (
            line.split(":", 1) for line in first.splitlines() if ":" in line
        )
    }


def cpu_flags() -> set[str]:
    """The CPU's instruction sets as Linux lists them (none elsewhere)."""
    return set(cpu_info().get("flags", "").split())


def training_precision(asked: str, flags: set[str]) -> str:
    """The Keras dtype policy for ``asked`` ("float32", "bfloat16" or "auto":
    bfloat16 on a CPU of instruction sets ``flags`` that computes it natively,
    see ``NATIVE_BFLOAT16``)."""
    if asked == "auto":
        native = any(flag in flags for flag in NATIVE_BFLOAT16)
        asked = "bfloat16" if native else "float32"
    return "mixed_bfloat16" if asked == "bfloat16" else "float32"
