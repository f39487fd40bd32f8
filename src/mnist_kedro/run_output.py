"""What a run prints: Kedro's rich log on a terminal, one plain line per message
elsewhere, and none of TensorFlow's start-up notices that nobody can act on."""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.logging import RichHandler

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def plain_log_when_piped() -> None:
    """Replaces the log's rich console handlers by plain ones, one line per
    message, when their output is no terminal (CI, ``| tee``, a log file), where
    rich would wrap every message at 80 columns; and rich's traceback printer by
    Python's. Terminals and Jupyter keep rich's. (Kedro accepts no project
    handler class in ``conf/logging.yml`` unless every user sets
    ``KEDRO_LOGGING_MODULE_ALLOWLIST``, hence a hook.)"""
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


# TensorFlow prints these through absl before its logging honours
# TF_CPP_MIN_LOG_LEVEL, so the variable cannot hide them: informational lines
# (oneDNN on, no CUDA driver, CPU instructions), once per TensorFlow library.
_INFO_LINE = re.compile(rb"^I\d{4} [\d:.]+ +\d+ \S+\] ")
_PREAMBLES = (
    b"WARNING: All log messages before absl::InitializeLog() is called",
    b"To enable the following instructions:",  # the CPU notice's second line
)
_NO_DRIVER = b"Could not find cuda drivers on your machine"
_CUINIT_FAILED = b"failed call to cuInit"


def without_tensorflow_notices(stderr: bytes) -> bytes:
    """What TensorFlow wrote to stderr while it started, less what says nothing
    a user can act on: its informational lines when ``TF_CPP_MIN_LOG_LEVEL`` is
    1 or more, and, on a machine without a CUDA driver, the failure to
    initialise CUDA. Errors and warnings stay."""
    lines = stderr.splitlines(keepends=True)
    hide_info = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") not in ("", "0")
    no_driver = any(_NO_DRIVER in line for line in lines)
    return b"".join(
        line
        for line in lines
        if not (
            (hide_info and (_INFO_LINE.match(line) or line.startswith(_PREAMBLES)))
            or (no_driver and _CUINIT_FAILED in line)
        )
    )


@contextmanager
def _tensorflow_stderr_filtered() -> Iterator[None]:
    """Collects what is written to file descriptor 2 in the block (C++ code
    writes there directly) and passes on all but TensorFlow's notices."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = without_tensorflow_notices(captured.read())
            if kept:
                os.write(2, kept)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Imports TensorFlow, whoever imports it first, with its start-up notices
    filtered; it also finds the devices then, when CUDA's notices come."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once is enough; also avoids recursion
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_quietly(module: Any) -> None:
            with _tensorflow_stderr_filtered():
                exec_module(module)
                module.config.list_physical_devices()

        spec.loader.exec_module = exec_quietly
        return spec


def quiet_tensorflow_start_up() -> None:
    """Filters TensorFlow's start-up notices from the first import on (see
    ``without_tensorflow_notices``); does nothing once it is imported."""
    if "tensorflow" not in sys.modules and not any(
        isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path
    ):
        sys.meta_path.insert(0, _QuietTensorFlowImport())
