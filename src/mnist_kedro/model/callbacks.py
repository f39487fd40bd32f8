"""Keras callbacks of the training: each epoch's statistics in its history,
progress within each epoch, the long step of a run, and each epoch's weights
for their mean."""

from __future__ import annotations

import logging
import multiprocessing
import time
from pathlib import Path

import keras
import numpy as np
import rich
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

logger = logging.getLogger(__name__)

TENTHS = 10


class EpochProgress(keras.callbacks.Callback):
    """rich's progress bar of the batches of each epoch on a terminal, with the
    running loss and accuracy; elsewhere (CI, a pipe, a log file), where a bar
    cannot redraw, and in a worker process (``ParallelRunner``), whose bars would
    overwrite each other, a log line at every tenth of the epoch. Use it as a
    context manager, so that the bar also goes when training fails."""

    def __init__(self, console: rich.console.Console | None = None) -> None:
        super().__init__()
        self._console = console or rich.get_console()
        self._bar: Progress | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self._console.is_terminal and multiprocessing.parent_process() is None:
            self._bar = Progress(
                TextColumn("Epoch {task.fields[epoch]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[metrics]}"),
                console=self._console,
                transient=True,  # each epoch's log line stays, not its bar
            )
            self._bar.start()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = f"{epoch + 1}/{self.params['epochs']}"
        self._steps = self.params["steps"]
        self._tenths_reported = 0
        if self._bar is not None:
            self._task = self._bar.add_task(
                "", total=self._steps, epoch=self._epoch, metrics=""
            )

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        done = batch + 1
        if self._bar is not None:  # redrawn by rich ten times a second
            self._bar.update(self._task, completed=done, metrics=_metrics(logs))
            return
        tenths = done * TENTHS // self._steps
        if tenths > self._tenths_reported and done < self._steps:
            self._tenths_reported = tenths
            logger.info(
                "Epoch %s: %d of %d batches, %s",
                self._epoch,
                done,
                self._steps,
                _metrics(logs),
            )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.remove_task(self._task)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> EpochProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.on_train_end()


def _metrics(logs: dict | None) -> str:
    return f"loss {logs['loss']:.4f}, accuracy {logs['accuracy']:.4f}"


class EpochStatistics(keras.callbacks.Callback):
    """Adds each epoch's wall time and final learning rate to its logs, so that
    the history records them."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs["seconds"] = time.perf_counter() - self._started
        logs["learning_rate"] = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )


class EpochWeights(keras.callbacks.Callback):
    """Keeps the model's weights after each epoch (not the optimizer's state)
    in ``folder``, one ``.npz`` file per epoch, for ``mean``."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        np.savez(self._file(epoch + 1), *self.model.get_weights())

    def mean(self, epochs: range) -> list[np.ndarray]:
        """The mean of the weights kept after each of ``epochs`` (from 1)."""
        kept = []
        for epoch in epochs:
            with np.load(self._file(epoch)) as arrays:
                kept.append([arrays[f"arr_{n}"] for n in range(len(arrays.files))])
        return [np.mean(variable, axis=0) for variable in zip(*kept)]

    def _file(self, epoch: int) -> Path:
        return self.folder / f"{epoch:04d}.npz"
